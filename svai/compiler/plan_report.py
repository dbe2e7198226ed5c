"""Text rendering of a compiled plan: recommendation, resources by component, cost, findings."""

from __future__ import annotations

from collections import defaultdict

from svai.compiler.formatting import format_ms, format_usd
from svai.compiler.planned import PlannedTarget, PlanResult
from svai.compiler.release_cost import per_release_lines
from svai.compiler.report import infeasible_lines, latency_verdict, proposal_lines
from svai.ir import Finding
from svai.spec.resolve import ResolvedSpec

__all__ = ["plan_text"]

_SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


def _findings_lines(findings: tuple[Finding, ...]) -> list[str]:
    if not findings:
        return ["  findings: none"]
    counts = {s: sum(f.severity == s for f in findings) for s in ("high", "medium", "low")}
    lines = [f"  findings: {counts['high']} high, {counts['medium']} medium, {counts['low']} low"]
    for f in sorted(
        findings, key=lambda f: (_SEVERITY_ORDER[f.severity], f.rule, f.resource or "")
    ):
        where = f" [{f.resource}]" if f.resource else ""
        lines.append(f"    {f.severity:<6} {f.rule}{where}: {f.message}")
        if f.hint:
            lines.append(f"           fix: {f.hint}")
    return lines


def _target_lines(spec: ResolvedSpec, target: PlannedTarget) -> list[str]:
    rec, plan = target.recommendation, target.plan
    c, p = rec.choice, rec.predicted
    verdict = ", ".join(
        f"{name} {format_ms(value)} {'✓' if met else '✗'} (target {format_ms(goal)})"
        for name, value, goal, met in latency_verdict(p, spec.latency)
    )
    lines = [
        f"{plan.cloud} {plan.region} — {c.name} [{c.kind}, {plan.mode}] · model version "
        f"{plan.model_version}",
        f"  why: {rec.reason}",
        f"  sizing: {c.memory_mb:,} MB, {c.vcpu:g} vCPU"
        + (f", {c.gpu_count}× {c.gpu}" if c.gpu else "")
        + f", concurrency {c.concurrency_per_instance}, warm pool {c.warm_instances}, "
        f"max {c.max_instances}",
        f"  predicted: p50 {format_ms(p.p50_ms)} · p95 {format_ms(p.p95_ms)} · "
        f"p99 {format_ms(p.p99_ms)} · cold starts {p.cold_start_rate:.2%}"
        + (f"  [{verdict}]" if verdict else ""),
    ]
    for note in rec.notes:
        lines.append(f"  note: {note}")
    lines.extend(proposal_lines(rec.proposals, "  "))
    groups: dict[str, list[str]] = defaultdict(list)
    for resource in target.resources:
        groups[resource.component or resource.name].append(f"{resource.type}  {resource.name}")
    lines.append(f"  resources: {len(target.resources)}")
    for component, rows in groups.items():
        lines.append(f"    {component}")
        lines.extend(f"      {row}" for row in rows)
    # The plan's own bill: everything its resources cost, for the recommendation's workload.
    bill = target.cost
    monthly = bill.monthly_usd if bill is not None else p.monthly_cost_usd
    per_1k = monthly / p.monthly_requests * 1000 if p.monthly_requests > 0 else 0.0
    lines.append(
        f"  cost: {format_usd(monthly)}/month, {format_usd(per_1k)} per "
        f"1,000 predictions ({p.monthly_requests / 1e6:.3g}M requests/month)"
    )
    for item, usd in bill.breakdown if bill is not None else p.cost_breakdown:
        lines.append(f"    {item:<24} {format_usd(usd)}")
    if plan.budget is not None:
        lines.append(f"    budget alert at {format_usd(plan.budget.monthly_usd)}/month")
    if bill is not None and bill.per_release.lines:
        lines.extend(per_release_lines(bill.per_release, "  "))
    lines.extend(_findings_lines(target.findings))
    return lines


def plan_text(spec: ResolvedSpec, result: PlanResult) -> str:
    """Render the plan for a terminal: per target its choice, resources, cost and findings."""
    total = sum(t.cost.monthly_usd if t.cost else 0.0 for t in result.targets)
    resources = sum(len(t.resources) for t in result.targets)
    high = sum(f.severity == "high" for t in result.targets for f in t.findings)
    lines = [
        f"{result.name} · model version {result.model_version} · {len(result.targets)} "
        f"target{'s' if len(result.targets) != 1 else ''} · {resources} resources · "
        f"{format_usd(total)}/month · {high} high findings"
    ]
    for target in result.targets:
        lines.append("")
        lines.extend(_target_lines(spec, target))
    for refused in result.recommendation.infeasible:
        lines.append("")
        lines.extend(infeasible_lines(refused))
    return "\n".join(lines) + "\n"
