"""The production-readiness checklist (``svai check``): rules over the resolved spec and its plan.

Each rule has a stable id ``SVAI_READY_###`` (numbered from 001, never reused), a severity, a
one-line title and a fix hint. Rules read the resolved spec and the compiled plan — the runtime
svai chose, its predicted cold starts, the alarms, stores and queue the plan implies — so a
finding is about the deployment that would really be built, not only about what the spec says.
:func:`check` runs them and merges in the infrastructure findings the backends' rules already
put in the plan, into one :class:`CheckReport` that renders as text, JSON (:func:`to_dict`) or
SARIF (:mod:`svai.compiler.sarif`).

A finding carries the dotted spec path it is about (``reliability.dlq``, ``targets.0``), so
SARIF can point at the line of ``svai.yaml`` that needs the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from svai.compiler.formatting import format_ms, format_usd
from svai.compiler.planned import PlannedTarget, PlanResult
from svai.ir import Severity
from svai.spec.formats import artifact_problem
from svai.spec.resolve import ResolvedSpec
from svai.spec.source import Source, parse_source, pin_problem
from svai.spec.units import format_seconds

__all__ = [
    "RULES",
    "SEVERITY_RANK",
    "CheckFinding",
    "CheckReport",
    "RuleInfo",
    "check",
    "fails",
    "report_text",
    "to_dict",
]

SEVERITY_RANK: dict[str, int] = {"high": 3, "medium": 2, "low": 1}
"""Higher is worse; ``--fail-on medium`` fails on every finding ranked 2 or more."""


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a rule checks, for reports and SARIF's rule table."""

    id: str
    severity: Severity
    title: str
    hint: str
    source: Literal["readiness", "infrastructure"] = "readiness"


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


# ---- the rules --------------------------------------------------------------------------------

_Emit = tuple[str, str | None]
"""(message, dotted spec path) of one failure."""


@dataclass(frozen=True, slots=True)
class _Rule:
    info: RuleInfo
    spec_check: Callable[[ResolvedSpec], Iterable[_Emit]] | None = None
    target_check: Callable[[ResolvedSpec, PlannedTarget], Iterable[_Emit]] | None = None


def _target_name(target: PlannedTarget) -> str:
    return f"{target.plan.cloud} {target.plan.region}"


def _inference_path(spec: ResolvedSpec, t: PlannedTarget) -> Iterable[_Emit]:
    rec = t.recommendation
    if rec.choice.mode != "sync":
        return
    service_ms = rec.assumptions.service_ms
    timeout_ms = spec.api.timeout_s * 1000
    if service_ms >= 5000 or service_ms > timeout_ms / 2:
        yield (
            f"each prediction takes about {format_ms(service_ms)} inside a synchronous request "
            f"(timeout {format_ms(timeout_ms)}); callers hold a connection and retry into it",
            "api.mode",
        )


def _model_loading(spec: ResolvedSpec, t: PlannedTarget) -> Iterable[_Emit]:
    rec = t.recommendation
    if rec.choice.mode != "sync" or rec.choice.warm_instances > 0:
        return
    if spec.latency.p99_s is not None:
        label, target_s, tail, path = "p99", spec.latency.p99_s, 0.01, "latency.p99"
    elif spec.latency.p95_s is not None:
        label, target_s, tail, path = "p95", spec.latency.p95_s, 0.05, "latency.p95"
    else:
        return
    cold_ms = rec.assumptions.cold_start_s * 1000 + rec.assumptions.service_ms
    rate = rec.predicted.cold_start_rate
    if rate > tail and cold_ms > target_s * 1000:
        yield (
            f"no warm pool: {rate:.2%} of requests start cold (more than the {tail:.0%} a "
            f"{label} can absorb) and a cold request takes about {format_ms(cold_ms)}, above "
            f"the {label} target of {format_ms(target_s * 1000)}",
            path,
        )


def _concurrency(spec: ResolvedSpec) -> Iterable[_Emit]:
    if spec.reliability.max_concurrency is None and all(
        t.max_instances is None for t in spec.targets
    ):
        yield (
            "no explicit concurrency guard: the instance cap is derived from today's traffic "
            "estimate, so nothing you chose bounds cost or downstream load in a surge",
            "reliability.max_concurrency",
        )


def _guard_in_plan(spec: ResolvedSpec, t: PlannedTarget) -> Iterable[_Emit]:
    for service in t.plan.services:
        if service.compute.max_instances <= 0:
            yield (f"service {service.name} has no instance cap", "reliability.max_concurrency")


def _dlq(spec: ResolvedSpec, t: PlannedTarget) -> Iterable[_Emit]:
    if t.plan.queue is not None and not spec.reliability.dlq:
        yield (
            "the job queue has no dead-letter queue: a poison message is retried until it "
            "expires and the failure is never seen",
            "reliability.dlq",
        )


def _retries(spec: ResolvedSpec, t: PlannedTarget) -> Iterable[_Emit]:
    r = spec.reliability
    if t.plan.queue is not None and t.plan.queue.max_receive_count < 3:
        yield (
            f"jobs move to the dead-letter queue after {t.plan.queue.max_receive_count} "
            "delivery(ies): one transient failure (a cold start, a throttle) loses the job",
            "reliability.max_receive_count",
        )
    if r.retries > 0 and r.jitter == "none":
        yield (
            f"{r.retries} retries without jitter: clients that failed together retry together "
            "and hit the service in waves",
            "reliability.backoff.jitter",
        )


def _idempotency(spec: ResolvedSpec, t: PlannedTarget) -> Iterable[_Emit]:
    plan, r = t.plan, spec.reliability
    store_name = "results" if plan.queue is not None else "idempotency"
    store = plan.store(store_name)
    if store is None:
        yield (f"no {store_name} store: a retried request runs the model twice", None)
        return
    horizon: float
    if plan.queue is not None:
        horizon = plan.queue.max_receive_count * plan.queue.visibility_timeout_s
        why = (
            f"a job can be redelivered for {format_seconds(horizon)} "
            f"({plan.queue.max_receive_count} deliveries × "
            f"{format_seconds(plan.queue.visibility_timeout_s)} visibility timeout)"
        )
    else:
        horizon = (r.retries + 1) * spec.api.timeout_s + r.retries * r.backoff_max_s
        why = f"clients retry for up to {format_seconds(horizon)}"
    if r.idempotency_ttl_s < horizon:
        yield (
            f"idempotency keys (header {r.idempotency_header}) are kept "
            f"{format_seconds(r.idempotency_ttl_s)}, but {why}: a late retry runs the model again",
            "reliability.idempotency.ttl",
        )


def _observability(spec: ResolvedSpec, t: PlannedTarget) -> Iterable[_Emit]:
    have = {a.metric for a in t.plan.alarms}
    wanted = ["latency_p95", "latency_p99", "error_rate"]
    if t.plan.mode == "sync":
        wanted.append("cold_start_rate")
    missing = [m for m in wanted if m not in have]
    if missing:
        yield (
            f"no alarm on {', '.join(m.replace('_', ' ') for m in missing)} for the model version "
            "being served",
            "observability.alarms",
        )


def _drift(spec: ResolvedSpec) -> Iterable[_Emit]:
    ob = spec.observability
    if not ob.drift_enabled or ob.drift_sample_rate <= 0:
        yield (
            "no drift sampling: nothing compares live inputs and outputs with the training data, "
            "so a silent quality drop goes unnoticed",
            "observability.drift",
        )


def _unpinned(source: Source, sha256: str | None) -> str | None:
    """Return why a remote artifact is not pinned to one immutable object, or ``None``.

    The spec refuses unpinned artifacts; what reaches here is a moving hub revision the spec
    accepted with ``allow_moving_revision``.
    """
    problem = pin_problem(source, sha256)
    return problem[0] if problem else None


def _versioned(spec: ResolvedSpec) -> Iterable[_Emit]:
    m = spec.model
    why = _unpinned(m.source, m.sha256)
    if why:
        yield (
            f"model.artifact is {why}: the model version id cannot notice a replaced object, so "
            "two deployments of one version may serve different models and rollback is not exact",
            "model.artifact",
        )
    if m.fallback_model:
        why = _unpinned(parse_source(m.fallback_model), None)
        if why:
            yield (f"model.fallback.model is {why}", "model.fallback.model")


def _servable(spec: ResolvedSpec) -> Iterable[_Emit]:
    # A local artifact svai cannot serve never gets this far (the loader refuses it); a remote
    # one is fetched only at build time, but its framework and name already tell.
    m = spec.model
    models = [("model.artifact", m.framework, m.artifact)]
    if m.fallback_model:
        models.append(("model.fallback.model", m.framework, m.fallback_model))
    for path, framework, artifact in models:
        problem = artifact_problem(framework, artifact) if "://" in artifact else None
        if problem is not None:
            yield (f"{path}: {problem.reason}; {problem.hint}", path)


def _canary(spec: ResolvedSpec) -> Iterable[_Emit]:
    if spec.rollout.strategy == "all-at-once":
        yield (
            "rollout is all-at-once: a bad model version reaches every request at once",
            "rollout.strategy",
        )


def _rollback(spec: ResolvedSpec) -> Iterable[_Emit]:
    ro = spec.rollout
    triggers = (ro.rollback_p99_s, ro.rollback_error_rate, ro.rollback_cold_start_rate)
    has_trigger = any(x is not None for x in triggers)
    if ro.strategy in ("canary", "blue-green") and not has_trigger:
        yield (
            f"{ro.strategy} rollout without rollback triggers: nothing sends traffic back to the "
            "previous version when the new one misbehaves",
            "rollout.rollback_on",
        )
    if ro.strategy == "shadow" and not has_trigger and ro.gates is None:
        yield (
            "shadow rollout without gates or rollback triggers: nothing decides whether the "
            "shadowed version is good enough to promote",
            "rollout",
        )


def _auth(spec: ResolvedSpec) -> Iterable[_Emit]:
    if spec.api.auth == "none":
        yield ("the API accepts unauthenticated requests from anyone", "api.auth")


def _egress(spec: ResolvedSpec) -> Iterable[_Emit]:
    if spec.security.egress == "all":
        yield (
            "outbound network access is unrestricted: compromised or buggy pre/post-processing "
            "code can send data anywhere",
            "security.network.egress",
        )


def _traceability(spec: ResolvedSpec, t: PlannedTarget) -> Iterable[_Emit]:
    plan = t.plan
    for service in plan.services:
        env = dict(service.env)
        if env.get("SVAI_MODEL_VERSION") != plan.model_version:
            yield (
                f"service {service.name} does not log the model version it serves",
                None,
            )
    if plan.log_retention_days < 30:
        yield (
            f"request logs (request id, model version, latency) are kept "
            f"{plan.log_retention_days} day(s): an answer cannot be traced back to its input "
            "and model version after that",
            "observability.log_retention",
        )


def _cost_alerts(spec: ResolvedSpec) -> Iterable[_Emit]:
    ob = spec.observability
    if ob.budget_usd_month is None:
        yield (
            "no budget: svai alerts at twice the predicted cost, a number nobody chose",
            "observability.budget_usd_month",
        )
    if ob.alert_email is None:
        yield (
            "no alert email: budget and alarm notifications go to a topic nobody reads",
            "observability.alert_email",
        )


def _cost_over(spec: ResolvedSpec, t: PlannedTarget) -> Iterable[_Emit]:
    p = t.recommendation.predicted
    budget = spec.observability.budget_usd_month
    if budget is not None and p.monthly_cost_usd > budget:
        yield (
            f"predicted {format_usd(p.monthly_cost_usd)}/month is over the budget of "
            f"{format_usd(budget)}/month: the budget alert fires every month",
            "observability.budget_usd_month",
        )
    gates = spec.rollout.gates
    gate = gates.cost_per_1k_usd if gates is not None else None
    if gate is not None and p.cost_per_1k_usd > gate:
        yield (
            f"predicted {format_usd(p.cost_per_1k_usd)} per 1,000 predictions is over the "
            f"gate of {format_usd(gate)}",
            "rollout.gates.cost_per_1k_usd",
        )


RULES: tuple[_Rule, ...] = (
    _Rule(
        RuleInfo(
            "SVAI_READY_001",
            "medium",
            "Keep the inference path minimal: heavy or long predictions run async",
            "set `api.mode: async` (queue + workers + DLQ, callers poll for the result), or make "
            "the model faster (`model.optimize.quantize`, a smaller model)",
        ),
        target_check=_inference_path,
    ),
    _Rule(
        RuleInfo(
            "SVAI_READY_002",
            "high",
            "Model loading fits the latency target: a warm pool or a small, fast-loading artifact",
            "keep a warm pool (`targets[].overrides.min_instances: 1`), shrink the artifact "
            "(`model.optimize.quantize: int8`), or relax the latency target",
        ),
        target_check=_model_loading,
    ),
    _Rule(
        RuleInfo(
            "SVAI_READY_003",
            "medium",
            "Concurrency guards: a maximum instance count / reserved concurrency you chose",
            "set `reliability.max_concurrency` (or `targets[].overrides.max_instances`)",
        ),
        spec_check=_concurrency,
        target_check=_guard_in_plan,
    ),
    _Rule(
        RuleInfo(
            "SVAI_READY_004",
            "high",
            "Queues have a dead-letter queue",
            "set `reliability.dlq: true` (the default) and alarm on its depth",
        ),
        target_check=_dlq,
    ),
    _Rule(
        RuleInfo(
            "SVAI_READY_005",
            "medium",
            "Retries are safe: at least 3 deliveries before the DLQ, backoff with jitter",
            "set `reliability.max_receive_count: 3` or more and `reliability.backoff.jitter: full`",
        ),
        target_check=_retries,
    ),
    _Rule(
        RuleInfo(
            "SVAI_READY_006",
            "medium",
            "Idempotency: a client key, stored longer than any retry can arrive",
            "keep `reliability.idempotency.ttl` longer than the retry horizon in the message",
        ),
        target_check=_idempotency,
    ),
    _Rule(
        RuleInfo(
            "SVAI_READY_007",
            "medium",
            "Observability: p95, p99, error-rate and cold-start alarms per model version",
            "set `latency.p95`/`latency.p99` (or `observability.alarms.p95`/`p99`) and "
            "`observability.alarms.cold_start_rate`",
        ),
        target_check=_observability,
    ),
    _Rule(
        RuleInfo(
            "SVAI_READY_008",
            "low",
            "Quality and drift monitoring: a sample of live traffic is kept for drift checks",
            "set `observability.drift: {enabled: true, sample_rate: 0.01}`",
        ),
        spec_check=_drift,
    ),
    _Rule(
        RuleInfo(
            "SVAI_READY_009",
            "high",
            "One versioned unit: the artifact is pinned, so the version id covers the model",
            "pin the object: `s3://…?versionId=<id>`, `gs://…#<generation>`, "
            "`azureml://…/versions/<n>`, `hf://org/name@<40-hex commit sha>`",
        ),
        spec_check=_versioned,
    ),
    _Rule(
        RuleInfo(
            "SVAI_READY_010",
            "medium",
            "Canary release: a new version gets a share of traffic before all of it",
            "set `rollout: {strategy: canary, steps: [10, 50, 100], interval: 10m}`",
        ),
        spec_check=_canary,
    ),
    _Rule(
        RuleInfo(
            "SVAI_READY_011",
            "medium",
            "Automatic rollback: thresholds that send traffic back to the previous version",
            "set `rollout.rollback_on: {p99: <ms>, error_rate: <fraction>}` (or gates for shadow)",
        ),
        spec_check=_rollback,
    ),
    _Rule(
        RuleInfo(
            "SVAI_READY_012",
            "high",
            "Least privilege at the edge: the API requires authentication",
            "set `api.auth` to `iam`, `api-key` or `jwt`",
        ),
        spec_check=_auth,
    ),
    _Rule(
        RuleInfo(
            "SVAI_READY_013",
            "low",
            "Least privilege on the network: outbound traffic is restricted",
            "set `security.network.egress: private-only` (or `none`); read credentials from "
            "`security.secrets` references",
        ),
        spec_check=_egress,
    ),
    _Rule(
        RuleInfo(
            "SVAI_READY_014",
            "medium",
            "Traceability: request id and model version logged and kept for audits",
            "set `observability.log_retention: 30d` or longer",
        ),
        target_check=_traceability,
    ),
    _Rule(
        RuleInfo(
            "SVAI_READY_015",
            "medium",
            "Cost alerts: a budget you chose, and an address alerts go to",
            "set `observability.budget_usd_month` and `observability.alert_email`",
        ),
        spec_check=_cost_alerts,
    ),
    _Rule(
        RuleInfo(
            "SVAI_READY_016",
            "high",
            "Cost per prediction within budget and gates",
            "raise the budget or the gate, or pick a cheaper runtime (see `svai recommend`'s "
            "alternatives)",
        ),
        target_check=_cost_over,
    ),
    _Rule(
        RuleInfo(
            "SVAI_READY_017",
            "high",
            "svai can serve the model: a format it converts or serves on every target",
            "use an ONNX file, a trusted scikit-learn / XGBoost / LightGBM pickle, XGBoost "
            ".json/.ubj, LightGBM .txt, CatBoost .cbm, or a Hugging Face save_pretrained folder "
            "(docs/io.md)",
        ),
        spec_check=_servable,
    ),
)


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
                            info.id, info.severity, message, info.hint, path, _target_name(t)
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
                    _target_name(t),
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
