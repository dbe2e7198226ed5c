"""Lowering: resolved spec + one target's recommendation → the cloud-neutral :class:`DeploymentPlan`.

Pure and deterministic: no I/O (the model version id is computed by the caller), no cloud SDK.
Every choice a backend must not make on its own is made here — routes, the services of each
pattern and their permissions, queue timings, store TTLs, alarm thresholds, the budget and the
traffic split — so the three backends build the same deployment, each in its own cloud's words.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Literal

from svai.compiler.catalog import load_catalog
from svai.compiler.drift import drift_alarms
from svai.compiler.recommendation import Choice, TargetRecommendation
from svai.compiler.request_limits import edge_limits_rate, enforced_limits
from svai.compiler.request_limits import peak_rps as planned_peak
from svai.compiler.request_limits import rate_limit as api_rate_limit
from svai.compiler.streaming import stream_url
from svai.errors import UsageError
from svai.ir import (
    Action,
    Alarm,
    ArtifactStore,
    Budget,
    Compute,
    DeploymentPlan,
    Encryption,
    Entry,
    Identity,
    Permission,
    Queue,
    Role,
    Rollout,
    SecretRef,
    Service,
    Store,
    TrafficSplit,
)
from svai.spec.engines import Engine, gpu_engine
from svai.spec.resolve import ResolvedSpec, ResolvedTarget

__all__ = [
    "endpoint_proxy",
    "identity_for",
    "lower",
    "sketch",
    "small_function",
]

_SERVER_HANDLER = "python -m svai.runtime.server --config svai_runtime.json"
_SKETCH_VERSION = "mv-000000000000"
_QUEUE_RETENTION_S = 4 * 86400
_DLQ_RETENTION_S = 14 * 86400
_SQS_MAX_VISIBILITY_S = 12 * 3600


def lower(
    spec: ResolvedSpec,
    target: ResolvedTarget,
    recommendation: TargetRecommendation,
    model_version: str,
    *,
    previous_version: str | None = None,
    step_index: int = 0,
) -> DeploymentPlan:
    """Return the deployment plan of ``target``.

    Args:
        spec: The resolved spec.
        target: The target being planned (one of ``spec.targets``).
        recommendation: The recommendation for that target.
        model_version: Version id of the model being deployed (``svai.compiler.version``).
        previous_version: Version currently serving, when a rollout from it is in progress.
        step_index: Index into the rollout steps (0 = first step).

    Raises:
        UsageError: a secret has no reference for this target's cloud.
    """
    return _plan(
        spec,
        target,
        recommendation.choice,
        model_version,
        peak_rps=planned_peak(recommendation),
        budget=_budget(spec, recommendation.predicted.monthly_cost_usd),
        secrets=_secrets(spec, target.cloud),
        rollout=_rollout(spec, model_version, previous_version, step_index),
    )


def sketch(
    spec: ResolvedSpec, target: ResolvedTarget, choice: Choice, *, peak_rps: float
) -> DeploymentPlan:
    """The plan ``choice`` would lower to, as the recommender prices an option.

    The same deployment :func:`lower` makes, with a placeholder model version and budget
    amount and only the secrets that have a reference for the cloud: none of those changes
    what the deployment is made of, so the bill of a sketch is the bill of the plan.
    """
    refs = tuple(
        SecretRef(s.env, ref) for s in spec.security.secrets if (ref := s.ref(target.cloud))
    )
    return _plan(
        spec,
        target,
        choice,
        _SKETCH_VERSION,
        peak_rps=peak_rps,
        budget=_budget(spec, 0.0),
        secrets=refs,
        rollout=_rollout(spec, _SKETCH_VERSION, None, 0),
    )


_OPENAI_ROUTES: dict[str, tuple[tuple[str, str, Role], ...]] = {
    "text-generation": (
        ("POST", "/v1/chat/completions", "api"),
        ("POST", "/v1/completions", "api"),
        ("GET", "/v1/models", "api"),
    ),
    "feature-extraction": (("POST", "/v1/embeddings", "api"), ("GET", "/v1/models", "api")),
}
"""The OpenAI routes the HTTP server answers for an engine's task (``runtime/server/openai.py``)."""


def _openai_routes(spec: ResolvedSpec, choice: Choice) -> tuple[tuple[str, str, Role], ...]:
    """The OpenAI routes a gateway must pass to a served engine, beside ``/predict``.

    A container runs svai's HTTP server behind the gateway. On AWS a SageMaker endpoint's
    proxy function passes the generation routes too (its container's ``/invocations``
    answers OpenAI bodies), whole; streamed answers take the streaming function URL
    (``svai.compiler.streaming.stream_url``). Functions and the other managed endpoints
    answer ``/predict`` (and their own scoring path) alone.
    """
    engine = gpu_engine(spec)
    if not isinstance(engine, Engine):
        return ()
    if stream_url(spec, choice.offering):
        return tuple(r for r in _OPENAI_ROUTES[engine.task] if r[0] == "POST")
    if choice.kind != "container":
        return ()
    return _OPENAI_ROUTES.get(engine.task, ())


def _plan(
    spec: ResolvedSpec,
    target: ResolvedTarget,
    choice: Choice,
    model_version: str,
    *,
    peak_rps: float,
    budget: Budget,
    secrets: tuple[SecretRef, ...],
    rollout: Rollout,
) -> DeploymentPlan:
    cloud = target.cloud
    built = load_catalog().builds.cloud(cloud)
    mode = choice.mode
    timeout = spec.reliability.job_timeout_s if mode == "async" else spec.api.timeout_s
    main = Compute(
        offering=choice.offering,
        kind=choice.kind,
        package=choice.package,
        memory_mb=choice.memory_mb,
        vcpu=choice.vcpu,
        gpu_type=choice.gpu,
        gpu_count=choice.gpu_count,
        instance_type=choice.instance_type,
        concurrency_per_instance=choice.concurrency_per_instance,
        min_instances=choice.warm_instances,
        max_instances=choice.max_instances,
        timeout_s=timeout,
        architecture="x86_64",
        handler=built.model_handler if choice.kind == "faas" else _SERVER_HANDLER,
    )
    rate = api_rate_limit(spec, peak_rps)
    rate_limit, burst = rate

    services: tuple[Service, ...]
    if mode == "sync":
        services = (_service("api", "api", main, model_version),)
        routes: tuple[tuple[str, str, Role], ...] = (
            ("POST", "/predict", "api"),
            ("GET", "/openapi.json", "api"),
            *_openai_routes(spec, choice),
        )
        stores = [
            Store(
                "idempotency", "request_id", round(spec.reliability.idempotency_ttl_s), "expires_at"
            )
        ]
        queue = None
    else:
        front = small_function(
            built.front,
            handler=built.front_handler,
            concurrency=built.front_concurrency,
            max_instances=max(10, math.ceil(rate_limit / 10)),
            timeout_s=10.0,
        )
        services = (
            _service("submit", "submit", front, model_version),
            _service("status", "status", front, model_version),
            _service("worker", "worker", main, model_version, batch=True),
        )
        routes = (
            ("POST", "/jobs", "submit"),
            ("GET", "/jobs/{id}", "status"),
            ("GET", "/openapi.json", "status"),
        )
        stores = [
            Store("results", "request_id", round(spec.reliability.idempotency_ttl_s), "expires_at")
        ]
        queue = Queue(
            visibility_timeout_s=min(_SQS_MAX_VISIBILITY_S, max(30, math.ceil(6 * timeout))),
            retention_s=_QUEUE_RETENTION_S,
            max_receive_count=spec.reliability.max_receive_count,
            dlq_retention_s=_DLQ_RETENTION_S,
            retry_base_s=spec.reliability.backoff_base_s,
            retry_max_s=spec.reliability.backoff_max_s,
        )
    if spec.cache.enabled:
        stores.append(Store("cache", "key", round(spec.cache.ttl_s), "expires_at"))

    customer_key = spec.security.kms_key(cloud)  # ``security.encryption_key.<cloud>``
    return DeploymentPlan(
        name=spec.name,
        cloud=cloud,
        region=target.region,
        account=target.account,
        mode=mode,
        model_version=model_version,
        entry=Entry(
            auth=spec.api.auth,  # type: ignore[arg-type]
            jwt_issuer=spec.api.jwt_issuer,
            jwt_audience=spec.api.jwt_audience,
            rate_limit_rps=rate_limit,
            burst=burst,
            max_payload_bytes=spec.api.max_payload_bytes,
            timeout_s=spec.api.timeout_s,
            routes=routes,
            content_types=spec.api.content_types,
            limits=enforced_limits(
                spec,
                rate,
                edge_rate=edge_limits_rate(cloud, spec.api.auth, services[0].compute.offering),
                max_instances=services[0].compute.max_instances,
            ),
        ),
        services=services,
        queue=queue,
        stores=tuple(stores),
        artifact=ArtifactStore(
            object_key=f"{spec.name}/{model_version}/model.tar.gz", source=spec.model.artifact
        ),
        secrets=secrets,
        identities=tuple(identity_for(s, stores, secrets) for s in services),
        encryption=Encryption(customer_key=customer_key, create_key=customer_key is None),
        alarms=_alarms(spec, services, queue is not None),
        dashboard=True,
        budget=budget,
        rollout=rollout,
        log_retention_days=spec.observability.log_retention_days,
        private_network=spec.security.private_network,
        egress=spec.security.egress,
        tags=tuple(
            sorted(
                {
                    "managed-by": "svai",
                    "svai-name": spec.name,
                    "svai-model-version": model_version,
                }.items()
            )
        ),
    )


def _service(
    name: str, role: Role, compute: Compute, version: str, *, batch: bool = False
) -> Service:
    env = (
        ("SVAI_MODEL_VERSION", version),
        ("SVAI_SERVICE_ROLE", role),
    )
    return Service(
        name=name,
        role=role,
        compute=compute,
        env=env,
        batch_size=10 if batch and compute.kind == "faas" else 1,
        batch_window_s=1.0 if batch and compute.kind == "faas" else 0.0,
    )


def _secrets(spec: ResolvedSpec, cloud: str) -> tuple[SecretRef, ...]:
    refs = []
    for secret in spec.security.secrets:
        ref = secret.ref(cloud)
        if ref is None:
            raise UsageError(
                f"security.secrets.{secret.env} has no `{cloud}` reference, but a {cloud} target "
                f"is planned; add `{cloud}: <secret name>` under it"
            )
        refs.append(SecretRef(secret.env, ref))
    return tuple(refs)


def small_function(
    offering: str, *, handler: str, concurrency: int, max_instances: int, timeout_s: float
) -> Compute:
    """A 256 MB zip function with no warm pool: the async front door, an endpoint's proxy."""
    return Compute(
        offering=offering,
        kind="faas",
        package="zip",
        memory_mb=256,
        vcpu=0.25,
        gpu_type=None,
        gpu_count=0,
        instance_type=None,
        concurrency_per_instance=concurrency,
        min_instances=0,
        max_instances=max_instances,
        timeout_s=timeout_s,
        architecture="x86_64",
        handler=handler,
    )


def endpoint_proxy(cloud: str, service: Service) -> Service | None:
    """The small zip function in front of an endpoint ``service`` on ``cloud``, if it needs one.

    Sized to the endpoint's concurrency, with the endpoint's timeout: it holds each call open
    for as long as the endpoint takes.
    """
    proxy_of = load_catalog().builds.cloud(cloud).endpoint_proxy
    if proxy_of is None or service.compute.kind != "endpoint":
        return None
    offering, handler = proxy_of
    compute = service.compute
    guard = max(1, compute.max_instances * max(1, compute.concurrency_per_instance))
    proxy = small_function(
        offering,
        handler=handler,
        concurrency=1,
        max_instances=guard,
        timeout_s=compute.timeout_s,
    )
    return dataclasses.replace(service, name=f"{service.name}-proxy", compute=proxy)


def identity_for(
    service: Service, stores: Sequence[Store], secrets: Sequence[SecretRef]
) -> Identity:
    """Everything ``service`` may do, by its role, and nothing more (least privilege)."""
    grants: list[tuple[Action, str]] = [
        ("logs.write", f"logs:{service.name}"),
        ("metrics.write", "metrics"),
        ("key.use", "key"),
    ]
    store_names = {s.name for s in stores}
    if service.role in ("api", "worker"):
        grants.append(("artifact.read", "artifact"))
        grants.extend(("secret.read", f"secret:{s.env}") for s in secrets)
        if "cache" in store_names:
            grants += [("store.read", "store:cache"), ("store.write", "store:cache")]
    if service.role == "api":
        grants += [("store.read", "store:idempotency"), ("store.write", "store:idempotency")]
    if service.role == "submit":
        grants += [
            ("queue.send", "queue"),
            ("store.read", "store:results"),
            ("store.write", "store:results"),
        ]
    if service.role == "status":
        grants.append(("store.read", "store:results"))
    if service.role == "worker":  # workers exist only in the async pattern
        grants += [
            ("queue.consume", "queue"),
            ("store.read", "store:results"),
            ("store.write", "store:results"),
        ]
    return Identity(
        service=service.name,
        permissions=tuple(Permission(action, resource) for action, resource in grants),
    )


def _alarms(spec: ResolvedSpec, services: tuple[Service, ...], is_async: bool) -> tuple[Alarm, ...]:
    watched = "worker" if is_async else "api"
    ob = spec.observability
    alarms: list[Alarm] = []
    if ob.alarm_p95_s is not None:
        alarms.append(Alarm("latency-p95", "latency_p95", ob.alarm_p95_s, 60, 5, watched))
    # p99 always alarms: without a target, at half the request timeout (well before timeouts).
    p99 = ob.alarm_p99_s if ob.alarm_p99_s is not None else spec.api.timeout_s / 2
    alarms.append(Alarm("latency-p99", "latency_p99", p99, 60, 5, watched))
    alarms.append(Alarm("error-rate", "error_rate", ob.alarm_error_rate, 60, 3, watched))
    alarms.append(Alarm("throttles", "throttles", 1.0, 60, 3, watched))
    if ob.alarm_cold_start_rate is not None:
        alarms.append(
            Alarm("cold-start-rate", "cold_start_rate", ob.alarm_cold_start_rate, 300, 3, watched)
        )
    alarms.extend(drift_alarms(spec, watched))
    if is_async:
        alarms.append(Alarm("dlq-depth", "dlq_depth", float(ob.alarm_dlq_depth), 60, 1, "dlq"))
        alarms.append(Alarm("queue-age", "queue_age", ob.alarm_queue_age_s, 60, 3, "queue"))
    return tuple(alarms)


def _budget(spec: ResolvedSpec, predicted_usd: float) -> Budget:
    amount = spec.observability.budget_usd_month
    if amount is None:
        # No budget given: alert at twice the predicted cost, so a surprise is caught early.
        amount = max(10.0, math.ceil(2 * predicted_usd))
    return Budget(
        monthly_usd=float(amount),
        thresholds=((80, "forecast"), (100, "actual")),
        email=spec.observability.alert_email,
    )


def _rollout(spec: ResolvedSpec, version: str, previous: str | None, step_index: int) -> Rollout:
    ro = spec.rollout
    steps = ro.steps
    strategy: Literal["all-at-once", "blue-green", "canary", "shadow"] = ro.strategy  # type: ignore[assignment]
    index = min(max(step_index, 0), len(steps) - 1)
    if previous is None or previous == version:
        split: tuple[TrafficSplit, ...] = (TrafficSplit(version, 100),)
    elif strategy == "canary":
        share = steps[index]
        split = (
            (TrafficSplit(version, 100),)
            if share >= 100
            else (TrafficSplit(previous, 100 - share), TrafficSplit(version, share))
        )
    elif strategy == "shadow":
        # Shadow keeps every answer on the old version; the new one receives mirrored copies.
        split = (TrafficSplit(previous, 100), TrafficSplit(version, 0))
    else:
        split = (TrafficSplit(version, 100),)
    return Rollout(
        strategy=strategy,
        steps=steps,
        step_index=index,
        interval_s=ro.interval_s,
        split=split,
        rollback_p99_s=ro.rollback_p99_s,
        rollback_error_rate=ro.rollback_error_rate,
        rollback_cold_start_rate=ro.rollback_cold_start_rate,
    )
