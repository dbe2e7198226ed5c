"""The bill of a whole deployment: everything its backend creates, priced per month.

:func:`deployment_cost` prices a :class:`~svai.ir.DeploymentPlan` for one month of
:class:`Workload`: the model service's own compute (priced by the performance and cost model,
carried in by the workload) plus one line per catalog row the backend's other resources fall
under — the API layer, the functions around the model (async submit/status, an endpoint's
proxy), the queue, the stores, logs and traces, storage and registries, keys, alarms and
dashboards, private endpoints and DNS zones.

Pure and table-driven: the prices are catalog rows keyed by Pulumi type token
(``resources:`` in ``catalog.yaml``, with sources), and what each cloud's backend creates for a
plan is written down below, one function per cloud. ``tests/compiler/test_bill.py`` records every
backend under Pulumi mocks and checks both halves: each recorded type has a row (priced or
explicitly free), and the rows priced here are the rows the recorded resources fall under, with
their counts where a row is priced per resource.

The recommender prices every option with :func:`deployment_cost` on the plan that option
lowers to; ``svai plan`` prices the lowered plan with the same function and the same workload,
so the plan states the recommendation's $/month.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from svai.compiler import gate as _gate
from svai.compiler.catalog import Catalog, ResourcePrice, Size, load_catalog
from svai.compiler.cost import function_cost
from svai.compiler.egress import (
    free_endpoints,
    network_built,
    private_endpoints,
    private_registry,
    private_zones,
    restricts_egress,
)
from svai.compiler.limits import ZIP_DEPS_MB
from svai.compiler.lower import endpoint_proxy
from svai.compiler.recommendation import TargetRecommendation, Workload
from svai.compiler.release_cost import NO_RELEASE_COST, ReleaseCost, release_cost
from svai.compiler.traffic import DAY_S, DAYS_PER_MONTH
from svai.ir import Compute, DeploymentPlan, Service

__all__ = ["Bill", "deployment_cost", "plan_cost"]

_MODEL_ROLES = ("api", "worker")
"""Services that run the model; ``submit`` and ``status`` are the async front door."""
_SECONDS_PER_MONTH = DAY_S * DAYS_PER_MONTH
_XRAY_RESERVOIR_PER_S = 1.0
_XRAY_RATE = 0.05
"""X-Ray's default sampling rule: the first request each second, then 5% of the rest."""
_EMF_METRICS = 2
"""Metrics each service's request lines declare in EMF (``latency_ms``, ``model_ms``)."""
_ROUTE_METRICS = 6
"""CloudWatch metrics an HTTP API stage's detailed metrics add per route."""
_GCP_ALERTS: dict[str, frozenset[str]] = {
    # alarm metric: the kinds of GCP resource Cloud Monitoring can alert on it for
    "latency_p95": frozenset({"run", "vertex"}),
    "latency_p99": frozenset({"run", "vertex"}),
    "error_rate": frozenset({"run", "vertex"}),
    "throttles": frozenset({"run"}),
    "concurrency": frozenset({"run"}),
    "queue_age": frozenset({"subscription"}),
    "dlq_depth": frozenset({"subscription"}),
    "drift": frozenset({"run", "vertex"}),  # a log-match policy on the runtime's drift lines
}


@dataclass(frozen=True, slots=True)
class Bill:
    """A deployment's monthly cost.

    Attributes:
        monthly_usd: The total.
        breakdown: USD per line, sorted by name; the model service's compute lines keep their
            names, every other line is named after its catalog row (``aws.apigateway.http``),
            a function around the model after its row and service (``aws.lambda:submit``).
        resources: Catalog row id -> resources of that row's types the bill accounts for.
        per_release: What each release costs beside the month: the second fleet a canary or
            blue/green release keeps up (:mod:`svai.compiler.release_cost`).
    """

    monthly_usd: float
    breakdown: tuple[tuple[str, float], ...]
    resources: tuple[tuple[str, int], ...] = field(default=())
    per_release: ReleaseCost = NO_RELEASE_COST

    @property
    def per_release_usd(self) -> float:
        """The total of one release's second fleets."""
        return self.per_release.usd


@dataclass(frozen=True, slots=True)
class _Item:
    """Resources of one catalog row the backend creates, and how much of the row they use."""

    row: str
    count: int
    quantity: float = 0.0
    """What the row's meter counts: calls, messages, GB, traces; for ``monthly``, the charged
    resources where not all ``count`` are (0: all)."""
    reads: float = 0.0
    writes: float = 0.0
    function: Compute | None = None
    """For a function around the model: its sizing (the row's meter is ``compute``)."""
    service: str = ""
    duration_s: float = 0.0
    price: str = "usd_per_month"
    """For ``monthly``: the row's figure that applies (a registry's Premium tier has its own)."""


def deployment_cost(plan: DeploymentPlan, workload: Workload, catalog: Catalog) -> Bill:
    """Price everything ``plan``'s backend creates for one month of ``workload``."""
    lines: dict[str, float] = {}
    for name, usd in workload.compute:
        lines[name] = lines.get(name, 0.0) + usd
    counts: Counter[str] = Counter()
    for item in _ITEMS[plan.cloud](plan, workload, catalog):
        row = catalog.resource(item.row)
        counts[row.id] += item.count
        name = f"{row.id}:{item.service}" if item.function is not None else row.id
        lines[name] = lines.get(name, 0.0) + _price(row, item, plan, catalog)
    breakdown = tuple(sorted((k, v) for k, v in lines.items() if v > 0 and math.isfinite(v)))
    models = [s for s in plan.services if s.role in _MODEL_ROLES]
    release = release_cost(models, plan.rollout, catalog)
    return Bill(sum(v for _, v in breakdown), breakdown, tuple(sorted(counts.items())), release)


def plan_cost(
    plan: DeploymentPlan, recommendation: TargetRecommendation, catalog: Catalog | None = None
) -> Bill:
    """The monthly cost of a lowered plan, for the workload its recommendation was priced for."""
    workload = recommendation.workload
    if workload is None:
        raise ValueError(f"the {plan.cloud} recommendation carries no workload to price")
    regional = (catalog or load_catalog()).in_region(plan.cloud, plan.region)
    return deployment_cost(plan, workload, regional)


def _price(row: ResourcePrice, item: _Item, plan: DeploymentPlan, catalog: Catalog) -> float:
    meter = row.meter
    if meter == "compute":
        if item.function is None:
            return 0.0  # the model's own service: priced by the workload's compute lines
        offering = catalog.get(item.function.offering)
        memory = max(item.function.memory_mb, offering.limits.memory_mb_min)
        size = Size(memory_mb=memory, vcpu=item.function.vcpu)
        return function_cost(offering, size, item.quantity, item.duration_s)
    if meter in ("api_calls", "traces"):
        return item.quantity * row.price("usd_per_million") / 1e6
    if meter == "messages":
        base = row.price("base_usd_per_month", 0.0)
        if plan.cloud == "azure" and network_built(plan):  # Service Bus Premium, for its endpoint
            base = row.price("private_base_usd_per_month", base)
        per_message = row.price("requests_per_message", 1.0) * row.price("usd_per_million")
        return base + item.quantity * per_message / 1e6
    if meter == "store":
        return (
            item.reads * row.price("read_usd_per_million")
            + item.writes * row.price("write_usd_per_million")
        ) / 1e6
    if meter == "logs":
        return item.quantity * row.price("usd_per_gb")
    if meter == "storage":
        return item.quantity * row.price("usd_per_gb_month")
    if meter == "monthly":
        # A row whose resources are not all charged (gateway VPC endpoints are free) says how
        # many are in ``quantity``.
        return (item.quantity or item.count) * row.price(item.price)
    return 0.0


# ------------------------------------------------------------------------- what is used


def _calls(plan: DeploymentPlan, service: Service, workload: Workload, catalog: Catalog) -> float:
    """Calls per month that reach ``service``."""
    if service.role == "status":
        return workload.predictions * catalog.usage.status_calls_per_job
    return workload.predictions


def _api_calls(plan: DeploymentPlan, workload: Workload, catalog: Catalog) -> float:
    if plan.mode == "sync":
        return workload.predictions
    return workload.predictions * (1.0 + catalog.usage.status_calls_per_job)


def _functions(plan: DeploymentPlan, workload: Workload, catalog: Catalog) -> Iterator[_Item]:
    """The functions around the model: the async front door and an endpoint's proxy."""
    row = {"aws": "aws.lambda", "gcp": "gcp.cloudrun", "azure": "azure.functions"}[plan.cloud]
    usage = catalog.usage
    for service in plan.services:
        calls = _calls(plan, service, workload, catalog)
        if service.role not in _MODEL_ROLES:
            yield _Item(
                row, 1, calls, function=service.compute, service=service.name,
                duration_s=usage.front_duration_s,
            )  # fmt: skip
        proxy = endpoint_proxy(plan.cloud, service)
        if proxy is not None:
            yield _Item(
                row, 1, calls, function=proxy.compute, service=proxy.name,
                duration_s=workload.model_latency_s + usage.proxy_overhead_s,
            )  # fmt: skip


def _log_gb(plan: DeploymentPlan, workload: Workload, catalog: Catalog, *, access: bool) -> float:
    """GB of logs a month: the model's request lines, the functions' lines, the API's."""
    per_request, per_function, per_call = catalog.usage.log_bytes[plan.cloud]
    total = 0.0
    for service in plan.services:
        calls = _calls(plan, service, workload, catalog)
        if service.role in _MODEL_ROLES:
            total += calls * per_request
            if endpoint_proxy(plan.cloud, service) is not None:
                total += calls * per_function
        else:
            total += calls * per_function
    if access:
        total += _api_calls(plan, workload, catalog) * per_call
    return total / 1e9


def _stores(plan: DeploymentPlan, workload: Workload, catalog: Catalog) -> tuple[float, float]:
    """Store reads and writes a month."""
    reads = writes = 0.0
    for store in plan.stores:
        per_reads, per_writes = catalog.usage.store_ops.get(store.name, (0.0, 0.0))
        reads += workload.predictions * per_reads
        writes += workload.predictions * per_writes
        if store.name == "results":
            reads += workload.predictions * catalog.usage.status_calls_per_job
    return reads, writes


def _storage_gb(plan: DeploymentPlan, workload: Workload) -> float:
    """The model artifact and every function's code package, in the deployment's storage."""
    zips = sum(1 for s in plan.services if s.compute.package == "zip")
    zips += sum(1 for s in plan.services if endpoint_proxy(plan.cloud, s) is not None)
    return (workload.artifact_mb + zips * ZIP_DEPS_MB) / 1000


def _has_image(plan: DeploymentPlan) -> bool:
    return any(s.compute.package in ("image", "model") for s in plan.services)


# ------------------------------------------------------------------------ per cloud


def _aws(plan: DeploymentPlan, workload: Workload, catalog: Catalog) -> Iterator[_Item]:
    # Pattern A/B as svai.backends.aws builds them: HTTP API -> Lambda (or proxy -> SageMaker),
    # submit/status Lambdas -> SQS + DLQ -> worker; one log group per function, endpoint and
    # API stage; KMS key, artifact bucket, ECR for images, alarms, a dashboard, a budget.
    yield _Item("aws.apigateway.http", 1, _api_calls(plan, workload, catalog))
    functions = list(_functions(plan, workload, catalog))
    yield from functions
    models = [s for s in plan.services if s.role in _MODEL_ROLES]
    endpoints = sum(1 for s in models if s.compute.kind == "endpoint")
    if endpoints:
        yield _Item("aws.sagemaker", endpoints)
    if len(models) > endpoints:
        yield _Item("aws.lambda", len(models) - endpoints)
    groups = len(plan.services) + endpoints + 1
    yield _Item("aws.cloudwatch.logs", groups, _log_gb(plan, workload, catalog, access=True))
    traced = [
        (_calls(plan, s, workload, catalog)) for s in plan.services if s.compute.kind == "faas"
    ]
    traced += [i.quantity for i in functions if i.service.endswith("-proxy")]
    yield _Item("aws.xray", 0, sum(_sampled_traces(calls) for calls in traced))
    metrics = _EMF_METRICS * len(models) + _ROUTE_METRICS * len(plan.entry.routes)
    yield _Item("aws.cloudwatch.metrics", metrics)
    yield _Item("aws.cloudwatch.alarm", len(plan.alarms) + _rollback_alarms(plan))
    if plan.dashboard:
        yield _Item("aws.cloudwatch.dashboard", 1)
    if plan.encryption.create_key:
        yield _Item("aws.kms.key", 1)
    yield _Item("aws.s3.storage", 1, _storage_gb(plan, workload))
    if _has_image(plan):
        yield _Item("aws.ecr.storage", 1, workload.image_mb / 1000)
    reads, writes = _stores(plan, workload, catalog)
    yield _Item("aws.dynamodb.on_demand", len(plan.stores), reads=reads, writes=writes)
    if plan.queue is not None:
        yield _Item("aws.sqs", 2, workload.predictions)
    if endpoints_used := private_endpoints(plan):  # restricted egress: the VPC's endpoints
        interface = [e for e in endpoints_used if e not in free_endpoints(plan.cloud)]
        yield _Item("aws.vpc.endpoint", len(endpoints_used), len(interface))


def _rollback_alarms(plan: DeploymentPlan) -> int:
    """The alarms CodeDeploy and SageMaker guardrails watch (svai.backends.aws.deployments).

    Each ``rollback_on`` limit on every function and endpoint; none when svai's own gate runs
    the release.
    """
    if not _gate.automatic(plan.rollout) or _gate.native_shift(plan.rollout) is None:
        return 0
    watched = sum(1 for s in plan.services if s.compute.kind in ("faas", "endpoint"))
    return watched * len(_gate.rollback_limits(plan.rollout))


def _sampled_traces(calls_per_month: float) -> float:
    """Traces X-Ray's default rule records for ``calls_per_month`` calls spread over a month."""
    rate = calls_per_month / _SECONDS_PER_MONTH
    reservoir = _XRAY_RESERVOIR_PER_S * (1.0 - math.exp(-rate / _XRAY_RESERVOIR_PER_S))
    return (reservoir + _XRAY_RATE * max(0.0, rate - reservoir)) * _SECONDS_PER_MONTH


def _gcp(plan: DeploymentPlan, workload: Workload, catalog: Catalog) -> Iterator[_Item]:
    # As svai.backends.gcp builds them: Cloud Run / functions / Vertex, API Gateway only for
    # jwt and api-key auth in front of Cloud Run, Pub/Sub topics for jobs and dead letters,
    # Firestore, a bucket, Artifact Registry for images, a KMS key, one alert policy per alarm
    # Cloud Monitoring can measure; Cloud Logging keeps the logs.
    kinds = {s.name: _gcp_kind(s.compute) for s in plan.services}
    fronts = {role for _, _, role in plan.entry.routes}
    gateway = plan.entry.auth in ("jwt", "api-key") and not any(
        kinds[s.name] == "vertex" for s in plan.services if s.role in fronts
    )
    if gateway:
        yield _Item("gcp.apigateway", 1, _api_calls(plan, workload, catalog))
    if restricts_egress(plan):  # the private zone that sends Google APIs to their private range
        yield _Item("gcp.dns.zone", 1)
    yield from _functions(plan, workload, catalog)
    models = [s for s in plan.services if s.role in _MODEL_ROLES]
    vertex = sum(1 for s in models if kinds[s.name] == "vertex")
    if vertex:
        yield _Item("gcp.vertex", vertex)
    if len(models) > vertex:
        yield _Item("gcp.cloudrun", len(models) - vertex)
    yield _Item("gcp.logging", 0, _log_gb(plan, workload, catalog, access=gateway))
    if plan.encryption.create_key:
        yield _Item("gcp.kms.key", 1)
    alerts = 0
    for alarm in plan.alarms:
        kind = "subscription" if alarm.service in ("queue", "dlq") else kinds.get(alarm.service)
        if kind == "subscription" and plan.queue is None:
            continue
        alerts += kind in _GCP_ALERTS.get(alarm.metric, frozenset())
    yield _Item("gcp.monitoring.alert", alerts)
    yield _Item("gcp.storage", 1, _storage_gb(plan, workload))
    if _has_image(plan):
        yield _Item("gcp.artifactregistry", 1, workload.image_mb / 1000)
    reads, writes = _stores(plan, workload, catalog)
    yield _Item("gcp.firestore", 1, reads=reads, writes=writes)
    if plan.queue is not None:
        yield _Item("gcp.pubsub", 2, workload.predictions)
    if _gate.automatic(plan.rollout):  # the release gate: a Cloud Run job and its schedule
        yield _Item("gcp.release.gate", 1)
        yield _Item("gcp.release.scheduler", 1)


def _gcp_kind(compute: Compute) -> str:
    return "vertex" if compute.kind == "endpoint" else "run"


def _azure(plan: DeploymentPlan, workload: Workload, catalog: Catalog) -> Iterator[_Item]:
    # As svai.backends.azure builds them: Container Apps / Flex Consumption function apps /
    # Azure ML deployments, ACR for images, one storage account for the artifact and one per
    # function app, Cosmos DB serverless, Service Bus (Premium on a private network), Log
    # Analytics, one log alert per alarm and a metric alert on dead letters, and in the VNet (a
    # private network, restricted egress) a private endpoint (with its DNS zones) per data
    # service used, function app and Azure Monitor scope; ACR Premium where it is private.
    yield from _functions(plan, workload, catalog)
    by_row = Counter(
        _AZURE_COMPUTE[s.compute.kind] for s in plan.services if s.role in _MODEL_ROLES
    )
    for row, count in sorted(by_row.items()):
        yield _Item(row, count)
    apps = sum(1 for s in plan.services if s.compute.kind == "faas")
    if _has_image(plan):
        private = private_registry(plan)  # Premium: private endpoints
        yield _Item("azure.acr", 1, price="private_usd_per_month" if private else "usd_per_month")
    yield _Item("azure.storage", 1 + apps, _storage_gb(plan, workload))
    reads, writes = _stores(plan, workload, catalog)
    yield _Item("azure.cosmos.serverless", 1, reads=reads, writes=writes)
    if plan.queue is not None:
        yield _Item("azure.servicebus", 1, workload.predictions)
    yield _Item("azure.loganalytics", 1, _log_gb(plan, workload, catalog, access=False))
    dead_letters = sum(1 for a in plan.alarms if a.metric == "dlq_depth")
    yield _Item("azure.monitor.log_alert", len(plan.alarms) - dead_letters)
    if plan.queue is not None:
        yield _Item("azure.monitor.metric_alert", dead_letters)
    if _gate.automatic(plan.rollout) and any(s.compute.kind == "container" for s in plan.services):
        yield _Item("azure.release.gate", 1)  # a Container Apps job (needs the environment)
    if links := private_endpoints(plan):  # the VNet's private endpoints and their zones
        yield _Item("azure.private_endpoint", len(links))
        yield _Item("azure.private_dns", len(private_zones(plan)))


_AZURE_COMPUTE = {
    "container": "azure.containerapps",
    "faas": "azure.functions",
    "endpoint": "azure.ml",
}
_ITEMS = {"aws": _aws, "gcp": _gcp, "azure": _azure}
