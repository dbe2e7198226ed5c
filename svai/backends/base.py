"""What every cloud backend provides, and the data the offline preview and the rules share.

A backend is an explicit object (no self-registration): ``svai.backends.registry`` maps a cloud
name to ``module:Class`` and imports it only when that cloud is planned, so a one-cloud spec never
imports another cloud's SDK.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from svai.ir import DeploymentPlan, Finding, RecordedResource, Severity

__all__ = ["Backend", "Finding", "RecordedResource", "Rule", "Severity"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A check over the recorded resources of one deployment.

    Attributes:
        id: Stable id, e.g. ``SVAI_AWS_001``; ``checkov`` names the closest Checkov id, if any.
        severity: How bad a failure is.
        title: What the rule requires, as one line.
        check: Returns the findings (an empty iterable when the rule passes).
    """

    id: str
    severity: Severity
    title: str
    check: Callable[[Sequence[RecordedResource], DeploymentPlan], Iterable[Finding]]
    checkov: str | None = None
    hint: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


class Backend(Protocol):
    """One cloud's compiler from a :class:`DeploymentPlan` to Pulumi resources."""

    cloud: str

    def program(self, plan: DeploymentPlan) -> None:
        """Create the deployment's resources; runs inside a Pulumi program (real or mocked)."""
        ...

    def rules(self) -> Sequence[Rule]:
        """Return this cloud's infrastructure rules."""
        ...

    # Steps Pulumi cannot express are the cloud object's ``after_up`` hook
    # (svai.backends.cloud.Cloud), which the Automation API driver runs once ``pulumi up`` succeeded.
