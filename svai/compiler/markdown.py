"""Markdown rendering of a compiled plan: the pull-request comment a reviewer reads in 30 seconds.

One header line (name, model version, total cost), one table row per target (runtime, sizing,
warm pool, predicted latency against the targets, cold starts, cost), one line per target saying
why that runtime won, the findings (counts, then every high and medium one), and the resources per
target folded into ``<details>``. Deterministic: no timestamps, stable ordering, so the output is
golden-tested and a re-run on an unchanged spec leaves the comment byte-identical.
"""

from __future__ import annotations

from collections.abc import Iterable

from svai.compiler.formatting import format_ms, format_usd
from svai.compiler.planned import PlannedTarget, PlanResult
from svai.compiler.recommendation import Choice, Prediction
from svai.compiler.release_cost import line_text
from svai.ir import Finding
from svai.spec.resolve import ResolvedLatency, ResolvedSpec

__all__ = ["cell", "finding_counts", "latency_cell", "plan_markdown", "sizing_text"]

_SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


def cell(text: str) -> str:
    """Make ``text`` safe inside one Markdown table cell (pipes escaped, one line)."""
    return " ".join(text.replace("|", "\\|").split())


def sizing_text(choice: Choice) -> str:
    """Return the sizing of ``choice`` in one short line: memory, CPU, GPU, concurrency, cap."""
    parts = [f"{choice.memory_mb:,} MB", f"{choice.vcpu:g} vCPU"]
    if choice.gpu:
        parts.append(f"{choice.gpu_count}× {choice.gpu}")
    if choice.instance_type:
        parts.append(choice.instance_type)
    parts.append(f"{choice.concurrency_per_instance}/instance")
    parts.append(f"max {choice.max_instances}")
    return " · ".join(parts)


def latency_cell(value_ms: float, target_s: float | None) -> str:
    """Return ``"7.8 ms ✓ (100 ms)"``: the prediction, the verdict and the target, if any."""
    if target_s is None:
        return format_ms(value_ms)
    target_ms = target_s * 1000
    mark = "✓" if value_ms <= target_ms else "✗"
    return f"{format_ms(value_ms)} {mark} ({format_ms(target_ms)})"


def finding_counts(findings: Iterable[Finding]) -> dict[str, int]:
    """Return the number of findings per severity (``high``, ``medium``, ``low``)."""
    counts = {"high": 0, "medium": 0, "low": 0}
    for finding in findings:
        counts[finding.severity] += 1
    return counts


def _target_key(target: PlannedTarget) -> str:
    return f"{target.plan.cloud} {target.plan.region}"


def _row(target: PlannedTarget, latency: ResolvedLatency) -> str:
    rec = target.recommendation
    c: Choice = rec.choice
    p: Prediction = rec.predicted
    cells = [
        f"**{_target_key(target)}**",
        f"{c.name} ({c.kind}, {c.mode})",
        sizing_text(c),
        str(c.warm_instances),
        latency_cell(p.p95_ms, latency.p95_s),
        latency_cell(p.p99_ms, latency.p99_s),
        f"{p.cold_start_rate:.2%}",
        format_usd(p.monthly_cost_usd),
        format_usd(p.cost_per_1k_usd),
    ]
    return "| " + " | ".join(cell(x) for x in cells) + " |"


def _findings(result: PlanResult) -> list[str]:
    located = [(_target_key(t), f) for t in result.targets for f in t.findings]
    counts = finding_counts(f for _, f in located)
    lines = [
        f"**Findings:** {counts['high']} high · {counts['medium']} medium · {counts['low']} low"
    ]
    shown = sorted(
        ((where, f) for where, f in located if f.severity in ("high", "medium")),
        key=lambda item: (
            _SEVERITY_ORDER[item[1].severity],
            item[1].rule,
            item[0],
            item[1].resource or "",
        ),
    )
    if shown:
        lines.append("")
    for where, f in shown:
        resource = f" `{f.resource}`" if f.resource else ""
        hint = f" — fix: {' '.join(f.hint.split())}" if f.hint else ""
        lines.append(
            f"- **{f.severity}** `{f.rule}` {where}{resource}: {' '.join(f.message.split())}{hint}"
        )
    return lines


def _resources(target: PlannedTarget) -> list[str]:
    lines = [
        "<details>",
        f"<summary>{_target_key(target)}: {len(target.resources)} resources</summary>",
        "",
        "| component | type | name |",
        "| --- | --- | --- |",
    ]
    for r in target.resources:
        lines.append(f"| {cell(r.component or '')} | `{cell(r.type)}` | `{cell(r.name)}` |")
    lines += ["", "</details>"]
    return lines


def plan_markdown(spec: ResolvedSpec, result: PlanResult) -> str:
    """Render ``result`` as a GitHub-flavoured Markdown comment (ends with a newline).

    Args:
        spec: The resolved spec the plan was compiled from (for the latency targets).
        result: The compiled plan.
    """
    total = sum(t.recommendation.predicted.monthly_cost_usd for t in result.targets)
    count = len(result.targets)
    lines = [
        f"### svai plan: `{result.name}` · model `{result.model_version}` · "
        f"{format_usd(total)}/month · {count} target{'s' if count != 1 else ''}",
        "",
        "| target | runtime | sizing | warm pool | p95 (target) | p99 (target) | cold starts "
        "| $/month | $/1k |",
        "| --- | --- | --- | ---: | --- | --- | ---: | ---: | ---: |",
    ]
    lines += [_row(t, spec.latency) for t in result.targets]
    lines.append("")
    for t in result.targets:
        rec = t.recommendation
        mark = "✓" if rec.meets_target else "✗ **misses the latency targets**:"
        lines.append(f"- **{_target_key(t)}** {mark} {' '.join(rec.reason.split())}")
        lines += [f"  - note: {' '.join(note.split())}" for note in rec.notes]
        if t.cost is not None and t.cost.per_release.lines:
            fleets = "; ".join(cell(line_text(line)) for line in t.cost.per_release.lines)
            lines.append(f"  - per release: {format_usd(t.cost.per_release_usd)} — {fleets}")
    for refused in result.recommendation.infeasible:
        reasons = "; ".join(cell(r) for r in refused.reasons)
        lines.append(f"- **{refused.cloud} {refused.region}** ✗ **cannot be served**: {reasons}")
        lines += [
            f"  - would help: {cell(p.summary)} — {cell(p.detail)}" for p in refused.proposals
        ]
    lines.append("")
    lines += _findings(result)
    for t in result.targets:
        lines.append("")
        lines += _resources(t)
    return "\n".join(lines) + "\n"
