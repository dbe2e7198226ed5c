"""The production-readiness checklist (``svai check``): rules over the resolved spec and its plan.

Each rule has a stable id ``SVAI_READY_###`` (numbered from 001, never reused), a severity, a
one-line title and a fix hint. Rules read the resolved spec and the compiled plan — the runtime
svai chose, its predicted cold starts, the alarms, stores and queue the plan implies — so a
finding is about the deployment that would really be built, not only about what the spec says.
:func:`check` runs them and merges in the infrastructure findings the backends' rules already
put in the plan, into one :class:`CheckReport` that renders as text, JSON (:func:`to_dict`) or
SARIF (:mod:`svai.compiler.sarif`). The rules themselves are in :mod:`svai.compiler.checklist`.

A finding carries the dotted spec path it is about (``reliability.dlq``, ``targets.0``), so
SARIF can point at the line of ``svai.yaml`` that needs the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from svai.compiler.checklist import RULES, RuleInfo, target_name
from svai.compiler.planned import PlanResult
from svai.ir import Severity
from svai.spec.resolve import ResolvedSpec

__all__ = [
    "SEVERITY_RANK",
    "CheckFinding",
    "CheckReport",
    "check",
    "fails",
    "report_text",
    "to_dict",
]

SEVERITY_RANK: dict[str, int] = {"high": 3, "medium": 2, "low": 1}
"""Higher is worse; ``--fail-on medium`` fails on every finding ranked 2 or more."""


@dataclass(frozen=True, slots=True)
class CheckFinding:
    """One failed check.

    Attributes:
        rule: Rule id (``SVAI_READY_004``, or a backend's ``SVAI_AWS_003``).
        severity: ``high``, ``medium`` or ``low``.
        message: What is wrong, with the numbers that show it.
        hint: How to fix it.
        path: Dotted path into ``svai.yaml`` the fix goes to (``reliability.dlq``), if any.
        target: ``cloud region`` of the target concerned, ``None`` for spec-wide findings.
        resource: Logical name of the resource concerned (infrastructure findings).
    """

    rule: str
    severity: Severity
    message: str
    hint: str
    path: str | None = None
    target: str | None = None
    resource: str | None = None


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Every finding for one spec, sorted, with the rules that were run."""

    name: str
    model_version: str
    findings: tuple[CheckFinding, ...]
    rules: tuple[RuleInfo, ...]

    def counts(self) -> dict[str, int]:
        """Return the number of findings per severity."""
        counts = {"high": 0, "medium": 0, "low": 0}
        for finding in self.findings:
            counts[finding.severity] += 1
        return counts


def check(
    spec: ResolvedSpec, result: PlanResult, infra_rules: Sequence[RuleInfo] = ()
) -> CheckReport:
    """Run every readiness rule and merge in the plan's infrastructure findings.

    Args:
        spec: The resolved spec.
        result: Its compiled plan (from :func:`svai.api.plan`).
        infra_rules: Descriptions of the backends' infrastructure rules (for the rule table of
            reports); findings of rules not listed here are described from the finding itself.

    Returns:
        The report, findings sorted by severity, rule, target, path and message.
    """
    found: list[CheckFinding] = []
    for rule in RULES:
        info = rule.info
        if rule.spec_check is not None:
            for message, path in rule.spec_check(spec):
                found.append(CheckFinding(info.id, info.severity, message, info.hint, path))
        if rule.target_check is not None:
            for t in result.targets:
                for message, path in rule.target_check(spec, t):
                    found.append(
                        CheckFinding(
                            info.id, info.severity, message, info.hint, path, target_name(t)
                        )
                    )
    known = {r.id: r for r in infra_rules}
    used: dict[str, RuleInfo] = {}
    for index, t in enumerate(result.targets):
        for f in t.findings:
            found.append(
                CheckFinding(
                    f.rule,
                    f.severity,
                    f.message,
                    f.hint,
                    f"targets.{index}",
                    target_name(t),
                    f.resource,
                )
            )
            if f.rule not in used:
                used[f.rule] = known.get(f.rule) or RuleInfo(
                    f.rule, f.severity, f.message, f.hint, "infrastructure"
                )
    unique = sorted(
        set(found),
        key=lambda f: (
            -SEVERITY_RANK[f.severity],
            f.rule,
            f.target or "",
            f.path or "",
            f.resource or "",
            f.message,
        ),
    )
    rules = tuple(r.info for r in RULES) + tuple(used[k] for k in sorted(used))
    return CheckReport(result.name, result.model_version, tuple(unique), rules)


def fails(report: CheckReport, level: str) -> bool:
    """Whether ``report`` has a finding at or above ``level`` (``high``, ``medium``, ``low``)."""
    floor = SEVERITY_RANK[level]
    return any(SEVERITY_RANK[f.severity] >= floor for f in report.findings)


def report_text(report: CheckReport) -> str:
    """Render ``report`` for a terminal (ends with a newline)."""
    counts = report.counts()
    checked = sum(r.source == "readiness" for r in report.rules)
    lines = [
        f"{report.name} · model version {report.model_version} · {checked} readiness rules · "
        f"{counts['high']} high, {counts['medium']} medium, {counts['low']} low"
    ]
    for f in report.findings:
        where = " ".join(x for x in (f.target, f"[{f.resource}]" if f.resource else None) if x)
        lines.append(f"{f.severity:<6} {f.rule}{' ' + where if where else ''}: {f.message}")
        at = f" ({f.path})" if f.path and not f.path.startswith("targets.") else ""
        if f.hint:
            lines.append(f"       fix{at}: {f.hint}")
    if not report.findings:
        lines.append("ready: every check passed")
    return "\n".join(lines) + "\n"


def to_dict(report: CheckReport) -> dict[str, Any]:
    """Return ``report`` as JSON-ready data (the contract of ``svai check --format json``)."""
    return {
        "name": report.name,
        "model_version": report.model_version,
        "counts": report.counts(),
        "findings": [
            {
                "rule": f.rule,
                "severity": f.severity,
                "message": f.message,
                "hint": f.hint,
                "path": f.path,
                "target": f.target,
                "resource": f.resource,
            }
            for f in report.findings
        ],
        "rules": [
            {
                "id": r.id,
                "severity": r.severity,
                "title": r.title,
                "hint": r.hint,
                "source": r.source,
            }
            for r in report.rules
        ],
    }
