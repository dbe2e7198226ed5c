"""``svai.ir``: the cloud-neutral deployment plan that backends and runtimes read.

:func:`svai.compiler.lower.lower` turns a resolved spec plus the recommendation for one target into
a :class:`DeploymentPlan`: what the deployment is made of, without saying how a cloud spells it.
Each backend (``svai.backends.aws`` / ``gcp`` / ``azure``) maps it onto its own resources.

The plan is frozen, holds only plain values (str, int, float, bool, tuples of those and of the
dataclasses below) and renders to JSON with :func:`to_dict`, so it can be golden-tested and diffed.

Shape of a plan::

    DeploymentPlan
    ├── entry          API layer: auth, throttling, payload limit, routes, and for each limit
    │                  where it is enforced (edge, instance, both)
    ├── services[]     compute units by role: "api" (sync inference), "submit" / "status" (async
    │                  front), "worker" (async inference); each with sizing, warm pool, guards
    ├── queue          job queue + dead-letter queue (async only)
    ├── stores[]       "results" / "idempotency" / "cache" key-value stores with TTL
    ├── artifact       versioned, encrypted artifact store holding the model package
    ├── secrets[]      references into the cloud's secret manager (never values)
    ├── identities[]   one per service, with the cloud-neutral permissions it needs
    ├── encryption     provider- or customer-managed keys
    ├── alarms[]       p95/p99 latency, errors, throttles, DLQ depth, queue age, cold starts
    ├── budget         monthly budget with alert thresholds
    └── rollout        strategy, steps and the traffic split between versions
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # a name only: the plan stays importable without pydantic and the spec package
    from svai.spec.clouds import Cloud

__all__ = [
    "Alarm",
    "ArtifactStore",
    "Budget",
    "Compute",
    "DeploymentPlan",
    "Encryption",
    "EnforcedLimit",
    "Entry",
    "Finding",
    "Identity",
    "Permission",
    "Queue",
    "RecordedResource",
    "Rollout",
    "SecretRef",
    "Service",
    "Severity",
    "Store",
    "TrafficSplit",
    "to_dict",
]

Kind = Literal["faas", "container", "endpoint"]
Role = Literal["api", "submit", "status", "worker"]
Action = Literal[
    "artifact.read",
    "queue.send",
    "queue.consume",
    "dlq.send",
    "store.read",
    "store.write",
    "secret.read",
    "key.use",
    "logs.write",
    "metrics.write",
    "model.invoke",
]
"""Cloud-neutral permissions; each backend maps an action on a resource to its narrowest IAM form."""


@dataclass(frozen=True, slots=True)
class EnforcedLimit:
    """One limit requests are admitted under, and where it is enforced."""

    name: Literal["payload", "rate", "tenant_rate"]
    value: float
    """Bytes for ``payload``; requests per second for the rates."""
    burst: int
    """Requests admitted at once above the rate (0 for ``payload``)."""
    enforced: Literal["edge", "instance", "both"]
    """``edge``: the API layer in front of the services; ``instance``: the runtime in each
    instance, on its own traffic; ``both``."""
    note: str
    """What it means for the deployment, with the instance ceiling as N."""


@dataclass(frozen=True, slots=True)
class Entry:
    """The API layer in front of the services."""

    auth: Literal["iam", "api-key", "jwt", "none"]
    jwt_issuer: str | None
    jwt_audience: str | None
    rate_limit_rps: float
    """Steady-state requests per second admitted before throttling (429)."""
    burst: int
    """Requests admitted in a burst above the rate."""
    max_payload_bytes: int
    timeout_s: float
    routes: tuple[tuple[str, str, Role], ...]
    """(method, path, service role) for every route, e.g. ("POST", "/predict", "api")."""
    content_types: tuple[str, ...]
    limits: tuple[EnforcedLimit, ...] = ()
    """Every request limit with where it is enforced (``svai.compiler.request_limits``)."""


@dataclass(frozen=True, slots=True)
class Compute:
    """Sizing and scaling of one service, as recommended for its offering."""

    offering: str
    """Catalog offering id, e.g. ``aws.lambda.zip``, ``gcp.cloudrun.service``."""
    kind: Kind
    package: Literal["zip", "image", "model"]
    """How the runtime ships: a function zip, a container image, or a managed-endpoint model."""
    memory_mb: int
    vcpu: float
    gpu_type: str | None
    gpu_count: int
    instance_type: str | None
    """Instance type where the offering has them (managed endpoints), else ``None``."""
    concurrency_per_instance: int
    min_instances: int
    """Warm pool: provisioned concurrency / min instances / always-ready / min replicas."""
    max_instances: int
    """Concurrency guard: reserved concurrency / max instances / max replicas."""
    timeout_s: float
    architecture: Literal["x86_64", "arm64"]
    handler: str
    """Runtime entry point inside the package (module:function or a server command)."""


@dataclass(frozen=True, slots=True)
class Service:
    """One compute unit with its role in the pattern."""

    name: str
    """Logical name, unique in the plan (``api``, ``submit``, ``status``, ``worker``)."""
    role: Role
    compute: Compute
    env: tuple[tuple[str, str], ...]
    """Non-secret configuration passed as environment variables (sorted)."""
    batch_size: int
    """Queue messages per invocation (worker), 1 otherwise."""
    batch_window_s: float
    """Longest wait to fill a batch (worker), 0 otherwise."""


@dataclass(frozen=True, slots=True)
class Queue:
    """The job queue of the async pattern and its dead-letter queue."""

    visibility_timeout_s: int
    """At least 6x the worker timeout, so an in-flight job is not delivered twice."""
    retention_s: int
    max_receive_count: int
    """Deliveries before a job moves to the dead-letter queue."""
    dlq_retention_s: int
    retry_base_s: float
    retry_max_s: float


@dataclass(frozen=True, slots=True)
class Store:
    """A key-value store with TTL: async results, idempotency records, or the shared cache."""

    name: Literal["results", "idempotency", "cache"]
    key: str
    ttl_s: int
    ttl_attribute: str


@dataclass(frozen=True, slots=True)
class ArtifactStore:
    """Where the model package lives: versioned, encrypted, never public."""

    object_key: str
    """Key of the packaged model version inside the store."""
    source: str
    """The artifact as the spec names it (path or URI)."""


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A secret the services read at run time: the env var and its reference for this cloud."""

    env: str
    ref: str


@dataclass(frozen=True, slots=True)
class Permission:
    """One cloud-neutral permission: an action on one logical resource of the plan."""

    action: Action
    resource: str
    """Logical resource: ``artifact``, ``queue``, ``dlq``, ``store:results``, ``secret:ENV``,
    ``key``, ``logs:<service>``, ``metrics``, ``service:<name>``."""


@dataclass(frozen=True, slots=True)
class Identity:
    """The identity of one service and everything it may do (nothing more)."""

    service: str
    permissions: tuple[Permission, ...]


@dataclass(frozen=True, slots=True)
class Encryption:
    """Keys for data at rest; ``customer_key`` is the spec's CMK for this cloud, if any."""

    customer_key: str | None
    create_key: bool
    """Create a dedicated key for this deployment (when no customer key is given)."""


@dataclass(frozen=True, slots=True)
class Alarm:
    """An alarm on one metric of the deployment."""

    name: str
    metric: Literal[
        "latency_p95",
        "latency_p99",
        "error_rate",
        "throttles",
        "dlq_depth",
        "queue_age",
        "cold_start_rate",
        "concurrency",
        "drift",
    ]
    threshold: float
    """In the metric's unit: seconds for latency and age, a fraction for rates, a count otherwise;
    for ``drift``, the runtime's ``drift_score`` (a feature's PSI or KS over its threshold)."""
    period_s: int
    evaluation_periods: int
    service: str
    """Service whose metric is watched (or ``queue``/``dlq``)."""


@dataclass(frozen=True, slots=True)
class Budget:
    """A monthly budget with alert thresholds (percent, forecast or actual)."""

    monthly_usd: float
    thresholds: tuple[tuple[int, Literal["forecast", "actual"]], ...]
    email: str | None


@dataclass(frozen=True, slots=True)
class TrafficSplit:
    """Share of traffic one model version receives."""

    version: str
    percent: int


@dataclass(frozen=True, slots=True)
class Rollout:
    """The release in progress: strategy, its steps, the current step and the split it gives."""

    strategy: Literal["all-at-once", "blue-green", "canary", "shadow"]
    steps: tuple[int, ...]
    step_index: int
    interval_s: float
    split: tuple[TrafficSplit, ...]
    """Weights that add up to 100; one entry when no release is in progress."""
    rollback_p99_s: float | None
    rollback_error_rate: float | None
    rollback_cold_start_rate: float | None


@dataclass(frozen=True, slots=True)
class DeploymentPlan:
    """Everything one target's deployment is made of, independent of the cloud."""

    name: str
    cloud: Cloud
    region: str
    account: str | None
    mode: Literal["sync", "async"]
    model_version: str
    """Content hash of artifact + pre/post-processing code + resolved config + prompt templates."""
    entry: Entry
    services: tuple[Service, ...]
    queue: Queue | None
    stores: tuple[Store, ...]
    artifact: ArtifactStore
    secrets: tuple[SecretRef, ...]
    identities: tuple[Identity, ...]
    encryption: Encryption
    alarms: tuple[Alarm, ...]
    dashboard: bool
    budget: Budget | None
    rollout: Rollout
    log_retention_days: int
    private_network: bool
    tags: tuple[tuple[str, str], ...]
    """Applied to every resource (sorted); includes ``svai-model-version``."""
    egress: str = "all"
    """``security.network.egress``: ``all``, ``private-only`` or ``none``; each backend's
    rules refuse (high) a value its resources do not build."""

    def service(self, role: Role) -> Service:
        """Return the (first) service with ``role``; raises ``KeyError`` when absent."""
        for service in self.services:
            if service.role == role:
                return service
        raise KeyError(role)

    def store(self, name: str) -> Store | None:
        """Return the store called ``name`` or ``None``."""
        return next((s for s in self.stores if s.name == name), None)


Severity = Literal["high", "medium", "low"]


@dataclass(frozen=True, slots=True)
class RecordedResource:
    """One resource a backend program registered, as recorded under Pulumi mocks.

    Attributes:
        type: Pulumi type token, e.g. ``aws:sqs/queue:Queue``.
        name: Logical name given to the resource.
        inputs: The inputs as Pulumi received them (camelCase keys), JSON-ready, keys sorted.
        parent: Logical name of the parent component, or ``None`` for the stack.
        component: Top-level svai component the resource belongs to (for grouping the plan).
        ignore_changes: Inputs ``pulumi up`` leaves as they are (camelCase wire names): those a
            controller owns once the resource exists, e.g. the ``live`` alias's split.
    """

    type: str
    name: str
    inputs: Mapping[str, Any]
    parent: str | None = None
    component: str | None = None
    ignore_changes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's verdict on one resource (or on the plan as a whole)."""

    rule: str
    severity: Severity
    message: str
    resource: str | None = None
    """Logical name of the resource concerned, ``None`` for plan-level findings."""
    hint: str = ""
    cloud: str | None = None


def to_dict(plan: DeploymentPlan) -> dict[str, Any]:
    """Return ``plan`` as JSON-ready nested dicts and lists."""
    data = dataclasses.asdict(plan)
    return _listify(data)  # type: ignore[no-any-return]


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _listify(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_listify(v) for v in value]
    return value
