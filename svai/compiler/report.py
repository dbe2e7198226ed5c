"""Text rendering of a recommendation, for people reading a terminal.

Deterministic (no timestamps, stable ordering), so the output can be golden-tested and diffed.
"""

from __future__ import annotations

from svai.compiler.formatting import format_ms, format_usd
from svai.compiler.recommendation import (
    InfeasibleTarget,
    Prediction,
    Proposal,
    Recommendation,
    TargetRecommendation,
)
from svai.spec.resolve import ResolvedLatency, ResolvedSpec
from svai.spec.units import format_seconds

__all__ = ["infeasible_lines", "latency_verdict", "proposal_lines", "recommendation_text"]

_KIND = {"faas": "function", "container": "serverless container", "endpoint": "managed endpoint"}


def _secs(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.3g} min"
    return f"{seconds:.2g} s"


def latency_verdict(
    predicted: Prediction, latency: ResolvedLatency
) -> list[tuple[str, float, float, bool]]:
    """Return (percentile, predicted ms, target ms, met) for every percentile with a target."""
    rows = []
    for name, target, value in (
        ("p50", latency.p50_s, predicted.p50_ms),
        ("p95", latency.p95_s, predicted.p95_ms),
        ("p99", latency.p99_s, predicted.p99_ms),
    ):
        if target is not None:
            rows.append((name, value, target * 1000, value <= target * 1000))
    return rows


def _traffic_line(spec: ResolvedSpec, rec: TargetRecommendation) -> str:
    t = spec.traffic
    monthly = rec.predicted.monthly_requests
    shape = {
        "steady": f"steady {t.baseline_rps:g} rps",
        "spiky": f"spiky {t.baseline_rps:g} → {t.peak_rps or 0:g} rps, "
        f"{format_seconds(t.peak_duration_s or 0)} of peaks/day",
        "diurnal": f"diurnal {t.baseline_rps:g} → {t.peak_rps or 0:g} rps",
        "batch": f"batch {t.batch_items or 0:,} items × {t.batches_per_day or 0}/day",
        "profile": f"24-hour profile, peak {max(t.profile or (0,)):g} rps",
        "bursty": f"bursts of {t.peak_rps or t.baseline_rps:g} rps "
        f"(mean {format_seconds(t.burst_mean_on_s or 0)}) over {t.baseline_rps:g} rps "
        f"(mean gap {format_seconds(t.burst_mean_off_s or 0)})",
        "trace": f"measured trace, {len(t.trace_rpm or ())} minute(s) repeated over the day, "
        f"peak {max(t.trace_rpm or (0,)) / 60:g} rps",
    }[t.pattern]
    idle = f", idle {t.idle_hours:g} h/day" if t.idle_hours else ""
    return f"traffic: {shape}{idle} ({monthly / 1e6:.3g}M requests/month)"


def _target_text(spec: ResolvedSpec, rec: TargetRecommendation) -> list[str]:
    c, p, a = rec.choice, rec.predicted, rec.assumptions
    mark = "✓" if rec.meets_target else "✗"
    lines = [f"{rec.cloud} {rec.region}  {mark} {c.name}  [{_KIND[c.kind]}, {c.mode}]"]
    sizing = [f"{c.memory_mb:,} MB", f"{c.vcpu:g} vCPU"]
    if c.gpu:
        sizing.append(f"{c.gpu_count}× {c.gpu}")
    if c.instance_type:
        sizing.append(c.instance_type)
    sizing += [
        f"concurrency {c.concurrency_per_instance}/instance",
        f"warm pool {c.warm_instances}",
        f"max {c.max_instances} instances",
    ]
    lines.append("  sizing       " + " · ".join(sizing))
    verdicts = latency_verdict(p, spec.latency)
    targets = ", ".join(
        f"{name} {format_ms(target)} {'✓' if met else '✗'}" for name, _, target, met in verdicts
    )
    lines.append(
        f"  predicted    p50 {format_ms(p.p50_ms)} · p95 {format_ms(p.p95_ms)} · "
        f"p99 {format_ms(p.p99_ms)}" + (f"  (targets: {targets})" if targets else "")
    )
    lines.append(
        f"               cold starts {p.cold_start_rate:.2%} of requests · "
        f"{p.mean_instances:.2f} instances on average, {p.peak_instances:.3g} at peak"
    )
    lines.extend(_generation_lines(spec, rec))
    per_release = f" · {format_usd(p.per_release_usd)} per release" if p.per_release_usd else ""
    lines.append(
        f"  cost         {format_usd(p.monthly_cost_usd)}/month · "
        f"{format_usd(p.cost_per_1k_usd)} per 1,000 predictions{per_release}"
    )
    lines.append(f"  why          {rec.reason}")
    components = " + ".join(f"{name} {_secs(sec)}" for name, sec in a.cold_start_components)
    keep_alive = f"keep-alive {format_seconds(a.keep_alive_s)}" if a.keep_alive_s else "always on"
    lines.append(
        f"  assumptions  {keep_alive} · cold start {_secs(a.cold_start_s)} ({components}) · "
        f"service {format_ms(a.service_ms)}"
    )
    if a.estimated:
        lines.append(
            f"               estimated (declare or `svai bench` them): {', '.join(a.estimated)}"
        )
    if a.measured:
        lines.append(f"               measured: {', '.join(a.measured)}")
    if a.unverified:
        lines.append(f"               unverified catalog figures: {', '.join(a.unverified)}")
    for note in rec.notes:
        lines.append(f"  note         {note}")
    lines.extend(proposal_lines(rec.proposals, "  "))
    lines.append("  alternatives")
    for alt in rec.alternatives:
        if alt.offering == c.offering:
            continue
        if alt.predicted is None:
            lines.append(f"    ✗ {alt.name}: {alt.rejected_because}")
        else:
            ap = alt.predicted
            verdict = (
                "meets targets" if alt.meets_target else (alt.rejected_because or "misses targets")
            )
            lines.append(
                f"    {'·' if alt.meets_target else '✗'} {alt.name}: "
                f"{format_usd(ap.monthly_cost_usd)}/month, p95 {format_ms(ap.p95_ms)}, "
                f"p99 {format_ms(ap.p99_ms)}, cold starts {ap.cold_start_rate:.2%} — {verdict}"
            )
    return lines


def _generation_lines(spec: ResolvedSpec, rec: TargetRecommendation) -> list[str]:
    """Text generation: TTFT and tokens/s against their targets, and the GPU memory fit."""
    g = rec.generation
    if g is None:
        return []
    lat = spec.latency

    def against(target_s: float | None, predicted_ms: float) -> str:
        if target_s is None:
            return ""
        return f" (target {format_ms(target_s * 1000)} {'✓' if predicted_ms <= target_s * 1000 else '✗'})"

    needed = g.weights_gb + g.kv_cache_gb + g.overhead_gb
    return [
        f"  tokens       TTFT p95 {format_ms(g.ttft_ms)}{against(lat.ttft_s, g.ttft_ms)} · "
        f"warm {format_ms(g.ttft_warm_ms)} · {format_ms(g.tpot_ms)}/token"
        f"{against(lat.tpot_s, g.tpot_ms)} = {g.tokens_per_s:.3g} tokens/s ({g.basis})",
        f"  GPU memory   {g.gpus}: {g.dtype} weights {g.weights_gb:.1f} GB + KV cache "
        f"{g.kv_cache_gb:.1f} GB + overhead {g.overhead_gb:.1f} GB = {needed:.1f} GB of "
        f"{g.usable_gb:.1f} GB usable (KV shape of {g.shape})",
    ]


def proposal_lines(proposals: tuple[Proposal, ...], indent: str) -> list[str]:
    """What would help, one numbered line each (with its numbers below it), best first."""
    if not proposals:
        return []
    lines = [f"{indent}would help (by effect)"]
    for i, p in enumerate(proposals, 1):
        mark = "✓" if p.meets_target else "·"
        lines.append(f"{indent}  {i}. {mark} {p.summary}")
        lines.append(f"{indent}       {p.detail}")
    return lines


def infeasible_lines(target: InfeasibleTarget) -> list[str]:
    """A target svai cannot serve: every reason, then what would help."""
    mode = "either API mode" if target.mode == "auto" else f"api.mode {target.mode}"
    lines = [f"{target.cloud} {target.region}  ✗ cannot be served in {mode}"]
    lines += [f"  ✗ {reason}" for reason in target.reasons]
    lines += proposal_lines(target.proposals, "  ")
    return lines


def recommendation_text(spec: ResolvedSpec, rec: Recommendation) -> str:
    """Render ``rec`` as a readable report: one block per target, then the alternatives."""
    count = len(rec.targets) + len(rec.infeasible)
    lines = [f"{rec.name}: {count} target{'s' if count != 1 else ''}"]
    if rec.infeasible:
        lines[0] += f", {len(rec.infeasible)} cannot be served"
    if rec.targets:
        lines.append(_traffic_line(spec, rec.targets[0]))
    for target in rec.targets:
        lines.append("")
        lines.extend(_target_text(spec, target))
    for refused in rec.infeasible:
        lines.append("")
        lines.extend(infeasible_lines(refused))
    return "\n".join(lines) + "\n"
