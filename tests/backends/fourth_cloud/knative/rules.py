"""The skeleton Knative rules: every Service carries the model version."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from svai.backends.base import Finding, RecordedResource, Rule
from svai.backends.rules import fail
from svai.ir import DeploymentPlan

__all__ = ["RULES"]


def _versioned(resources: Sequence[RecordedResource], plan: DeploymentPlan) -> Iterator[Finding]:
    for resource in resources:
        labels = resource.inputs.get("metadata", {}).get("labels", {})
        if labels.get("svai.dev/model-version") != plan.model_version:
            yield fail("the Service does not carry the model version", resource.name)


RULES: tuple[Rule, ...] = (
    Rule("SVAI_KN_001", "medium", "Services carry the model version label", _versioned),
)
