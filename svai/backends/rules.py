"""The rule engine that checks what a backend program recorded.

IaC scanners do not read Pulumi programs, so svai checks its own output: each cloud backend
supplies :class:`~svai.backends.base.Rule` objects whose ``check`` looks at the recorded resources
(and the plan they came from) and returns findings; :func:`evaluate` runs them and sorts the
findings deterministically.

Rule ids follow one convention: ``SVAI_<prefix>_###``, the prefix being the cloud's
``rule_prefix`` (``AWS``, ``GCP``, ``AZ``), numbered from 001 within each cloud and never
reused; ``Rule.checkov`` names the closest Checkov id where one exists (e.g. ``CKV_AWS_27`` for
an unencrypted SQS queue).

A ``check`` may build its findings with :func:`fail`; :func:`evaluate` fills in the rule id,
severity, hint and cloud from the rule, so a check only says what is wrong and where.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from svai.backends import registry
from svai.backends.base import Finding, RecordedResource, Rule, Severity
from svai.ir import DeploymentPlan
from svai.spec.clouds import CLOUDS

__all__ = [
    "RULE_ID",
    "SEVERITY_ORDER",
    "by_type",
    "cloud_of",
    "egress_not_built",
    "evaluate",
    "fail",
    "first",
    "get_path",
    "high_findings",
    "iter_statements",
    "oversized_jobs",
]

RULE_ID = re.compile(r"^SVAI_([A-Z]+)_\d{3}$")
"""Every rule id matches this pattern."""

SEVERITY_ORDER: dict[Severity, int] = {"high": 0, "medium": 1, "low": 2}
"""Findings sort by this rank first (most severe first)."""


def cloud_of(rule_id: str) -> str:
    """Return the cloud a rule id belongs to (``SVAI_AZ_003`` -> ``azure``).

    Raises:
        ValueError: ``rule_id`` does not follow the convention.
    """
    match = RULE_ID.match(rule_id)
    found = next(
        (c for c in map(registry.cloud, CLOUDS) if match and c.rule_prefix == match.group(1)), None
    )
    if found is None:
        raise ValueError(f"rule id {rule_id!r} does not match SVAI_<cloud prefix>_###")
    return found.name


def fail(message: str, resource: str | None = None, hint: str = "") -> Finding:
    """Build a finding from inside a rule's ``check``; :func:`evaluate` fills in the rest."""
    return Finding(rule="", severity="low", message=message, resource=resource, hint=hint)


def egress_not_built(plan: DeploymentPlan, built: bool, missing: str) -> Iterator[Finding]:
    """Refuse a ``security.network.egress`` the cloud's resources do not build.

    Args:
        plan: The deployment plan (its ``egress`` is the spec's value).
        built: Whether the resources restrict outbound traffic as ``egress`` asks.
        missing: What the backend would have to add, for the message.
    """
    if plan.egress != "all" and not built:
        yield fail(
            f"security.network.egress is {plan.egress}, but {missing}: outbound traffic from "
            "the services is not restricted"
        )


def oversized_jobs(plan: DeploymentPlan, limit_bytes: int, queue: str) -> Iterator[Finding]:
    """Refuse async jobs whose payloads the queue cannot carry and nothing claim-checks.

    Args:
        plan: The deployment plan.
        limit_bytes: The largest message the queue takes.
        queue: The queue's name, for the message.
    """
    payload = plan.entry.max_payload_bytes
    if plan.queue is not None and payload > limit_bytes:
        yield fail(
            f"api.max_payload is {payload} bytes but a {queue} message holds at most "
            f"{limit_bytes}, and this backend does not store larger payloads in the bucket "
            "(claim check) yet: bigger jobs would be refused by the queue"
        )


def evaluate(
    rules: Sequence[Rule], resources: Sequence[RecordedResource], plan: DeploymentPlan
) -> list[Finding]:
    """Run every rule over the recorded resources and return all findings, sorted.

    Args:
        rules: The rules to run (usually ``backend.rules()``).
        resources: What :func:`svai.backends.preview.record` returned for ``plan``.
        plan: The plan the resources were built from.

    Returns:
        Findings with the rule's id, severity, cloud and (unless the check gave one) hint,
        sorted by severity, rule id, resource and message.

    Raises:
        ValueError: Two rules share an id, or an id breaks the convention.
    """
    own = f"SVAI_{registry.cloud(plan.cloud).rule_prefix}_"
    seen: set[str] = set()
    findings: list[Finding] = []
    for rule in rules:
        if rule.id in seen:
            raise ValueError(f"duplicate rule id {rule.id}")
        seen.add(rule.id)
        # The plan's own cloud is known without loading any other.
        cloud = (
            plan.cloud if RULE_ID.match(rule.id) and rule.id.startswith(own) else cloud_of(rule.id)
        )
        for finding in rule.check(resources, plan):
            findings.append(
                dataclasses.replace(
                    finding,
                    rule=rule.id,
                    severity=rule.severity,
                    hint=finding.hint or rule.hint,
                    cloud=cloud,
                )
            )
    return sorted(
        findings,
        key=lambda f: (SEVERITY_ORDER[f.severity], f.rule, f.resource or "", f.message),
    )


def high_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Return only the findings of high severity."""
    return [f for f in findings if f.severity == "high"]


def by_type(resources: Iterable[RecordedResource], *tokens: str) -> list[RecordedResource]:
    """Return the resources whose type token is one of ``tokens``, in recorded order."""
    wanted = set(tokens)
    return [r for r in resources if r.type in wanted]


def first(resources: Iterable[RecordedResource], token: str, name: str) -> RecordedResource | None:
    """Return the resource of type ``token`` called ``name``, or ``None``."""
    return next((r for r in resources if r.type == token and r.name == name), None)


def get_path(inputs: Any, path: str, default: Any = None) -> Any:
    """Read a dotted path (``a.b.0.c``) from recorded inputs; ``default`` when any step is absent."""
    value = inputs
    for part in path.split("."):
        if isinstance(value, dict) or hasattr(value, "keys"):
            if part not in value:
                return default
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return default
    return value


def iter_statements(policy: Any) -> Iterator[dict[str, Any]]:
    """Yield the statements of an IAM-style policy given as a dict or a JSON string."""
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return
    if not isinstance(policy, dict):
        return
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        if isinstance(statement, dict):
            yield statement
