"""The resolved spec: defaults filled, units normalised, frozen.

``resolve(spec)`` is the only place defaults that depend on other fields are decided, so the
compiler reads plain numbers (seconds, bytes, requests per second) and never re-parses a unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from svai.spec.clouds import Cloud
from svai.spec.model import Spec
from svai.spec.source import Scheme, Source, parse_source
from svai.spec.units import parse_duration, parse_size

__all__ = [
    "ResolvedApi",
    "ResolvedCache",
    "ResolvedDrift",
    "ResolvedGates",
    "ResolvedGpu",
    "ResolvedLatency",
    "ResolvedModel",
    "ResolvedObservability",
    "ResolvedReliability",
    "ResolvedRollout",
    "ResolvedSecurity",
    "ResolvedSpec",
    "ResolvedTarget",
    "ResolvedTokens",
    "ResolvedTraffic",
    "resolve",
]


def _seconds(value: str | None) -> float | None:
    return None if value is None else parse_duration(value)


def _bytes(value: str | None) -> int | None:
    return None if value is None else parse_size(value)


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """The model, with declared quantities in seconds and bytes (``None`` when not declared)."""

    artifact: str
    """The location as written."""
    source: Source
    """The parsed location, with ``model.revision`` folded in."""
    artifact_scheme: Scheme
    revision: str | None
    """The store's version pinning the artifact (hub revision, S3 version id, generation ...)."""
    sha256: str | None
    """``model.sha256``: the digest of the file (of a folder: its manifest)."""
    allow_moving_revision: bool
    fetch: Literal["auto", "build", "start"]
    engine: Literal["auto", "transformers", "vllm"]
    framework: str
    task: str | None
    size_bytes: int | None
    memory_bytes: int | None
    load_time_s: float | None
    inference_time_s: float | None
    quantize: str
    max_accuracy_drop: float
    preprocess: str | None
    postprocess: str | None
    prompt_templates: tuple[str, ...]
    include: tuple[str, ...]
    requirements: tuple[str, ...]
    fallback_model: str | None
    fallback_rules: str | None
    fallback_after_s: float | None
    trusted_sha256: str | None


@dataclass(frozen=True, slots=True)
class ResolvedApi:
    """The API contract."""

    mode: Literal["sync", "async", "auto"]
    max_payload_bytes: int
    input_schema: str | None
    timeout_s: float
    auth: str
    jwt_issuer: str | None
    jwt_audience: str | None
    content_types: tuple[str, ...]
    rate_limit_rps: float | None


@dataclass(frozen=True, slots=True)
class ResolvedLatency:
    """Latency targets in seconds (``None``: no target at that percentile)."""

    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    ttft_s: float | None = None
    """Time to first token, p95, cold starts included (text generation)."""
    tpot_s: float | None = None
    """Time per output token after the first (text generation)."""


@dataclass(frozen=True, slots=True)
class ResolvedTokens:
    """Traffic in tokens per request (text generation)."""

    prompt: int
    output: int
    context: int
    """Longest context one request may use; sizes the KV cache."""


@dataclass(frozen=True, slots=True)
class ResolvedTraffic:
    """Traffic in requests per second and seconds; the compiler's traffic model reads this."""

    pattern: Literal["steady", "spiky", "diurnal", "batch", "profile", "bursty", "trace"]
    baseline_rps: float
    peak_rps: float | None
    peak_duration_s: float | None
    peaks_per_day: int
    idle_hours: float
    profile: tuple[float, ...] | None
    batch_items: int | None
    batches_per_day: int | None
    batch_window_s: float | None
    payload_bytes: int | None
    burst_mean_on_s: float | None = None
    burst_mean_off_s: float | None = None
    trace: str | None = None
    """The trace file as written (read against the spec's folder by :mod:`svai.spec.trace`)."""
    trace_rpm: tuple[float, ...] | None = None
    """Requests per minute from the trace file, once read."""
    tokens: ResolvedTokens | None = None
    """Tokens per request (text generation); ``None`` when the spec gives none."""


@dataclass(frozen=True, slots=True)
class ResolvedGpu:
    """GPU needs."""

    required: bool
    type: str
    count: int
    memory_bytes: int | None


@dataclass(frozen=True, slots=True)
class ResolvedCache:
    """Result cache."""

    enabled: bool
    ttl_s: float
    key: tuple[str, ...]
    max_entries: int


@dataclass(frozen=True, slots=True)
class ResolvedReliability:
    """Retries, dead letters, guards, timeouts."""

    retries: int
    backoff_base_s: float
    backoff_max_s: float
    jitter: str
    dlq: bool
    max_receive_count: int
    max_concurrency: int | None
    job_timeout_s: float
    idempotency_header: str
    idempotency_ttl_s: float


@dataclass(frozen=True, slots=True)
class ResolvedGates:
    """Offline evaluation thresholds."""

    eval_set: str
    metric: str
    min: float | None
    max: float | None
    prediction: str | None
    score: str | None
    threshold: float | None
    positive: str | int | None
    scorer: str | None
    min_samples: int
    p95_s: float | None
    p99_s: float | None
    cost_per_1k_usd: float | None


@dataclass(frozen=True, slots=True)
class ResolvedRollout:
    """Release strategy; ``steps`` is ``(100,)`` for all-at-once and blue-green."""

    strategy: str
    steps: tuple[int, ...]
    interval_s: float
    rollback_p99_s: float | None
    rollback_error_rate: float | None
    rollback_cold_start_rate: float | None
    gates: ResolvedGates | None


@dataclass(frozen=True, slots=True)
class ResolvedSecret:
    """One secret: the environment variable it becomes and where it lives per cloud."""

    env: str
    refs: tuple[tuple[str, str], ...]
    """``(cloud, reference)`` for each cloud the spec names it on."""

    def ref(self, cloud: str) -> str | None:
        """The secret's reference on ``cloud``, or ``None`` when the spec gives none there."""
        return dict(self.refs).get(cloud)


@dataclass(frozen=True, slots=True)
class ResolvedSecurity:
    """Secrets (references only), network and encryption keys."""

    secrets: tuple[ResolvedSecret, ...]
    private_network: bool
    egress: str
    kms_keys: tuple[tuple[str, str], ...]
    """``(cloud, customer-managed key)`` for each cloud the spec gives a key for."""

    def kms_key(self, cloud: str) -> str | None:
        """The customer-managed key on ``cloud``, or ``None`` for the provider-managed one."""
        return dict(self.kms_keys).get(cloud)


@dataclass(frozen=True, slots=True)
class ResolvedObservability:
    """Alarm thresholds (defaults taken from the latency targets), budget, logs."""

    alarm_p95_s: float | None
    alarm_p99_s: float | None
    alarm_error_rate: float
    alarm_dlq_depth: int
    alarm_queue_age_s: float
    tracing: str
    alarm_cold_start_rate: float | None
    budget_usd_month: float | None
    alert_email: str | None
    log_retention_days: int
    drift_enabled: bool
    drift_sample_rate: float
    drift: ResolvedDrift


@dataclass(frozen=True, slots=True)
class ResolvedDrift:
    """What the drift monitor compares, with every feature's thresholds filled in.

    Attributes:
        baseline: The reference sample (``observability.drift.baseline``, else the gates'
            eval set); ``None`` when there is neither.
        features: ``(path, psi threshold, ks threshold)`` per declared feature, in spec order.
        prediction: Path of the prediction in the answer's ``outputs``.
        psi: The section's PSI threshold (the prediction's; features carry their own).
        ks: The section's KS threshold.
        min_samples: Sampled requests a live window holds before it is judged.
    """

    baseline: str | None
    features: tuple[tuple[str, float, float], ...]
    prediction: str | None
    psi: float
    ks: float
    min_samples: int

    @property
    def compared(self) -> bool:
        """True when there is something to compare: a baseline and a feature or prediction."""
        return self.baseline is not None and bool(self.features or self.prediction)


@dataclass(frozen=True, slots=True)
class ResolvedTenancy:
    """Multi-tenancy."""

    enabled: bool
    header: str
    rate_limit_rps: float | None


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """One deployment target with its overrides in plain units."""

    cloud: Cloud
    region: str
    account: str | None
    runtime: Literal["auto", "faas", "container", "endpoint"]
    offering: str | None
    memory_bytes: int | None
    vcpu: float | None
    min_instances: int | None
    max_instances: int | None
    concurrency: int | None


@dataclass(frozen=True, slots=True)
class ResolvedSpec:
    """A validated spec with every default decided; what the compiler consumes."""

    name: str
    description: str | None
    model: ResolvedModel
    api: ResolvedApi
    latency: ResolvedLatency
    traffic: ResolvedTraffic
    gpu: ResolvedGpu
    cache: ResolvedCache
    reliability: ResolvedReliability
    rollout: ResolvedRollout
    security: ResolvedSecurity
    observability: ResolvedObservability
    tenancy: ResolvedTenancy
    targets: tuple[ResolvedTarget, ...]


def resolve(spec: Spec) -> ResolvedSpec:
    """Fill defaults and normalise units; pure and deterministic."""
    m, api, lat, t = spec.model, spec.api, spec.latency, spec.traffic
    source = parse_source(m.artifact, m.revision)
    latency = ResolvedLatency(
        _seconds(lat.p50), _seconds(lat.p95), _seconds(lat.p99), _seconds(lat.ttft),
        _seconds(lat.tpot),
    )  # fmt: skip
    tokens = t.tokens
    resolved_tokens = (
        ResolvedTokens(
            tokens.prompt, tokens.output, tokens.context or tokens.prompt + tokens.output
        )
        if tokens is not None
        else None
    )
    api_timeout = parse_duration(api.timeout)
    r, ro, ob, sec = spec.reliability, spec.rollout, spec.observability, spec.security
    keys = sec.encryption_key
    gates = ro.gates
    return ResolvedSpec(
        name=spec.name,
        description=spec.description,
        model=ResolvedModel(
            artifact=m.artifact,
            source=source,
            artifact_scheme=source.scheme,
            revision=source.version,
            sha256=m.sha256,
            allow_moving_revision=m.allow_moving_revision,
            fetch=m.fetch,
            engine=m.engine,
            framework=m.framework,
            task=m.task,
            size_bytes=_bytes(m.size),
            memory_bytes=_bytes(m.memory),
            load_time_s=_seconds(m.load_time),
            inference_time_s=_seconds(m.inference_time),
            quantize=m.optimize.quantize if m.optimize else "none",
            max_accuracy_drop=m.optimize.max_accuracy_drop if m.optimize else 0.01,
            preprocess=m.preprocess,
            postprocess=m.postprocess,
            prompt_templates=tuple(m.prompt_templates),
            include=tuple(m.include),
            requirements=tuple(m.requirements),
            fallback_model=m.fallback.model if m.fallback else None,
            fallback_rules=m.fallback.rules if m.fallback else None,
            fallback_after_s=_seconds(m.fallback.after) if m.fallback else None,
            trusted_sha256=m.trust.sha256 if m.trust and m.trust.pickle else None,
        ),
        api=ResolvedApi(
            mode=api.mode,
            max_payload_bytes=parse_size(api.max_payload),
            input_schema=api.input_schema,
            timeout_s=api_timeout,
            auth=api.auth,
            jwt_issuer=api.jwt.issuer if api.jwt else None,
            jwt_audience=api.jwt.audience if api.jwt else None,
            content_types=tuple(api.content_types),
            rate_limit_rps=api.rate_limit,
        ),
        latency=latency,
        traffic=ResolvedTraffic(
            pattern=t.pattern,
            baseline_rps=t.baseline_rps,
            peak_rps=t.peak_rps,
            peak_duration_s=_seconds(t.peak_duration),
            peaks_per_day=t.peaks_per_day,
            idle_hours=t.idle_hours,
            profile=tuple(t.profile) if t.profile is not None else None,
            batch_items=t.batch.items if t.batch else None,
            batches_per_day=t.batch.per_day if t.batch else None,
            batch_window_s=parse_duration(t.batch.window) if t.batch else None,
            payload_bytes=_bytes(t.payload),
            burst_mean_on_s=parse_duration(t.bursts.mean_on) if t.bursts else None,
            burst_mean_off_s=parse_duration(t.bursts.mean_off) if t.bursts else None,
            trace=t.trace,
            tokens=resolved_tokens,
        ),
        gpu=ResolvedGpu(
            required=spec.gpu.required,
            type=spec.gpu.type,
            count=spec.gpu.count,
            memory_bytes=_bytes(spec.gpu.memory),
        ),
        cache=ResolvedCache(
            enabled=spec.cache.enabled,
            ttl_s=parse_duration(spec.cache.ttl),
            key=tuple(spec.cache.key),
            max_entries=spec.cache.max_entries,
        ),
        reliability=ResolvedReliability(
            retries=r.retries,
            backoff_base_s=parse_duration(r.backoff.base),
            backoff_max_s=parse_duration(r.backoff.max),
            jitter=r.backoff.jitter,
            dlq=r.dlq,
            max_receive_count=r.max_receive_count,
            max_concurrency=r.max_concurrency,
            job_timeout_s=_seconds(r.job_timeout) or api_timeout,
            idempotency_header=r.idempotency.header,
            idempotency_ttl_s=parse_duration(r.idempotency.ttl),
        ),
        rollout=ResolvedRollout(
            strategy=ro.strategy,
            steps=tuple(ro.steps) if ro.steps else (100,),
            interval_s=parse_duration(ro.interval),
            rollback_p99_s=_seconds(ro.rollback_on.p99),
            rollback_error_rate=ro.rollback_on.error_rate,
            rollback_cold_start_rate=ro.rollback_on.cold_start_rate,
            gates=(
                ResolvedGates(
                    eval_set=gates.eval_set,
                    metric=gates.metric,
                    min=gates.min,
                    max=gates.max,
                    prediction=gates.prediction,
                    score=gates.score,
                    threshold=gates.threshold,
                    positive=gates.positive,
                    scorer=gates.scorer,
                    min_samples=gates.min_samples,
                    p95_s=_seconds(gates.p95),
                    p99_s=_seconds(gates.p99),
                    cost_per_1k_usd=gates.cost_per_1k_usd,
                )
                if gates
                else None
            ),
        ),
        security=ResolvedSecurity(
            secrets=tuple(
                ResolvedSecret(env, _per_cloud(ref)) for env, ref in sorted(sec.secrets.items())
            ),
            private_network=sec.network.private,
            egress=sec.network.egress,
            kms_keys=_per_cloud(keys) if keys else (),
        ),
        observability=ResolvedObservability(
            alarm_p95_s=_seconds(ob.alarms.p95) or latency.p95_s,
            alarm_p99_s=_seconds(ob.alarms.p99) or latency.p99_s,
            alarm_error_rate=ob.alarms.error_rate,
            alarm_dlq_depth=ob.alarms.dlq_depth,
            alarm_queue_age_s=parse_duration(ob.alarms.queue_age),
            tracing=ob.tracing,
            alarm_cold_start_rate=ob.alarms.cold_start_rate,
            budget_usd_month=ob.budget_usd_month,
            alert_email=ob.alert_email,
            log_retention_days=max(1, round(parse_duration(ob.log_retention) / 86400)),
            drift_enabled=ob.drift.enabled,
            drift_sample_rate=ob.drift.sample_rate,
            drift=_drift(spec),
        ),
        tenancy=ResolvedTenancy(
            enabled=spec.tenancy.enabled,
            header=spec.tenancy.header,
            rate_limit_rps=spec.tenancy.rate_limit_rps,
        ),
        targets=tuple(
            ResolvedTarget(
                cloud=tg.cloud,
                region=tg.region,
                account=tg.account_id,
                runtime=tg.runtime,
                offering=tg.overrides.offering,
                memory_bytes=_bytes(tg.overrides.memory),
                vcpu=tg.overrides.vcpu,
                min_instances=tg.overrides.min_instances,
                max_instances=tg.overrides.max_instances,
                concurrency=tg.overrides.concurrency,
            )
            for tg in spec.targets
        ),
    )


def _drift(spec: Spec) -> ResolvedDrift:
    drift, gates = spec.observability.drift, spec.rollout.gates
    threshold = drift.threshold
    own = drift.per_feature
    return ResolvedDrift(
        baseline=drift.baseline or (gates.eval_set if gates is not None else None),
        features=tuple(
            (
                path,
                (own[path].psi if path in own else None) or threshold.psi,
                (own[path].ks if path in own else None) or threshold.ks,
            )
            for path in drift.features
        ),
        prediction=drift.prediction,
        psi=threshold.psi,
        ks=threshold.ks,
        min_samples=drift.min_samples,
    )


def _per_cloud(section: BaseModel) -> tuple[tuple[str, str], ...]:
    """The ``(cloud, value)`` pairs a per-cloud section gives (its fields are cloud names)."""
    return tuple((cloud, value) for cloud, value in section.model_dump().items() if value)
