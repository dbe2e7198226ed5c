"""The production-readiness rules (``SVAI_READY_###``): one check per rule, and their table.

Each rule reads the resolved spec, or the spec and one planned target, and yields a message and
the dotted spec path the fix goes to for each failure. :data:`RULES` lists them in id order;
:func:`svai.compiler.readiness.check` runs them and builds the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from svai.compiler.catalog import load_catalog
from svai.compiler.formatting import format_ms, format_usd
from svai.compiler.planned import PlannedTarget
from svai.ir import Severity
from svai.spec.formats import artifact_problem
from svai.spec.resolve import ResolvedSpec
from svai.spec.source import Source, parse_source, pin_problem
from svai.spec.units import format_seconds

__all__ = ["RULES", "Rule", "RuleInfo", "target_name"]


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a rule checks, for reports and SARIF's rule table."""

    id: str
    severity: Severity
    title: str
    hint: str
    source: Literal["readiness", "infrastructure"] = "readiness"


_Emit = tuple[str, str | None]
"""(message, dotted spec path) of one failure."""


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule: what it checks, and its check over the spec or over one planned target."""

    info: RuleInfo
    spec_check: Callable[[ResolvedSpec], Iterable[_Emit]] | None = None
    target_check: Callable[[ResolvedSpec, PlannedTarget], Iterable[_Emit]] | None = None


def target_name(target: PlannedTarget) -> str:
    """How findings name a target: ``cloud region``."""
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


def _egress(spec: ResolvedSpec, t: PlannedTarget) -> Iterable[_Emit]:
    # What is built counts, not the spec value: each backend's egress rule has compared the
    # spec's egress with the target's resources, and its finding means it is not built.
    if spec.security.egress == "all":
        yield (
            "outbound network access is unrestricted: compromised or buggy pre/post-processing "
            "code can send data anywhere",
            "security.network.egress",
        )
    elif any(f.rule == load_catalog().builds.cloud(t.plan.cloud).egress_rule for f in t.findings):
        yield (
            f"security.network.egress is {spec.security.egress}, but this target's resources "
            "do not restrict outbound traffic (see the backend's egress finding)",
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


RULES: tuple[Rule, ...] = (
    Rule(
        RuleInfo(
            "SVAI_READY_001",
            "medium",
            "Keep the inference path minimal: heavy or long predictions run async",
            "set `api.mode: async` (queue + workers + DLQ, callers poll for the result), or make "
            "the model faster (`model.optimize.quantize`, a smaller model)",
        ),
        target_check=_inference_path,
    ),
    Rule(
        RuleInfo(
            "SVAI_READY_002",
            "high",
            "Model loading fits the latency target: a warm pool or a small, fast-loading artifact",
            "keep a warm pool (`targets[].overrides.min_instances: 1`), shrink the artifact "
            "(`model.optimize.quantize: int8`), or relax the latency target",
        ),
        target_check=_model_loading,
    ),
    Rule(
        RuleInfo(
            "SVAI_READY_003",
            "medium",
            "Concurrency guards: a maximum instance count / reserved concurrency you chose",
            "set `reliability.max_concurrency` (or `targets[].overrides.max_instances`)",
        ),
        spec_check=_concurrency,
        target_check=_guard_in_plan,
    ),
    Rule(
        RuleInfo(
            "SVAI_READY_004",
            "high",
            "Queues have a dead-letter queue",
            "set `reliability.dlq: true` (the default) and alarm on its depth",
        ),
        target_check=_dlq,
    ),
    Rule(
        RuleInfo(
            "SVAI_READY_005",
            "medium",
            "Retries are safe: at least 3 deliveries before the DLQ, backoff with jitter",
            "set `reliability.max_receive_count: 3` or more and `reliability.backoff.jitter: full`",
        ),
        target_check=_retries,
    ),
    Rule(
        RuleInfo(
            "SVAI_READY_006",
            "medium",
            "Idempotency: a client key, stored longer than any retry can arrive",
            "keep `reliability.idempotency.ttl` longer than the retry horizon in the message",
        ),
        target_check=_idempotency,
    ),
    Rule(
        RuleInfo(
            "SVAI_READY_007",
            "medium",
            "Observability: p95, p99, error-rate and cold-start alarms per model version",
            "set `latency.p95`/`latency.p99` (or `observability.alarms.p95`/`p99`) and "
            "`observability.alarms.cold_start_rate`",
        ),
        target_check=_observability,
    ),
    Rule(
        RuleInfo(
            "SVAI_READY_008",
            "low",
            "Quality and drift monitoring: a sample of live traffic is kept for drift checks",
            "set `observability.drift: {enabled: true, sample_rate: 0.01}`",
        ),
        spec_check=_drift,
    ),
    Rule(
        RuleInfo(
            "SVAI_READY_009",
            "high",
            "One versioned unit: the artifact is pinned, so the version id covers the model",
            "pin the object: `s3://…?versionId=<id>`, `gs://…#<generation>`, "
            "`azureml://…/versions/<n>`, `hf://org/name@<40-hex commit sha>`",
        ),
        spec_check=_versioned,
    ),
    Rule(
        RuleInfo(
            "SVAI_READY_010",
            "medium",
            "Canary release: a new version gets a share of traffic before all of it",
            "set `rollout: {strategy: canary, steps: [10, 50, 100], interval: 10m}`",
        ),
        spec_check=_canary,
    ),
    Rule(
        RuleInfo(
            "SVAI_READY_011",
            "medium",
            "Automatic rollback: thresholds that send traffic back to the previous version",
            "set `rollout.rollback_on: {p99: <ms>, error_rate: <fraction>}` (or gates for shadow)",
        ),
        spec_check=_rollback,
    ),
    Rule(
        RuleInfo(
            "SVAI_READY_012",
            "high",
            "Least privilege at the edge: the API requires authentication",
            "set `api.auth` to `iam`, `api-key` or `jwt`",
        ),
        spec_check=_auth,
    ),
    Rule(
        RuleInfo(
            "SVAI_READY_013",
            "low",
            "Least privilege on the network: outbound traffic is restricted",
            "set `security.network.egress: private-only` (or `none`); read credentials from "
            "`security.secrets` references",
        ),
        target_check=_egress,
    ),
    Rule(
        RuleInfo(
            "SVAI_READY_014",
            "medium",
            "Traceability: request id and model version logged and kept for audits",
            "set `observability.log_retention: 30d` or longer",
        ),
        target_check=_traceability,
    ),
    Rule(
        RuleInfo(
            "SVAI_READY_015",
            "medium",
            "Cost alerts: a budget you chose, and an address alerts go to",
            "set `observability.budget_usd_month` and `observability.alert_email`",
        ),
        spec_check=_cost_alerts,
    ),
    Rule(
        RuleInfo(
            "SVAI_READY_016",
            "high",
            "Cost per prediction within budget and gates",
            "raise the budget or the gate, or pick a cheaper runtime (see `svai recommend`'s "
            "alternatives)",
        ),
        target_check=_cost_over,
    ),
    Rule(
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
