"""Sample :class:`DeploymentPlan` builders shared by the backend tests of every cloud.

They mirror what ``svai.compiler.lower`` produces (same services, routes, alarms; permissions
come from its ``identity_for``), written out so backend tests do not depend on the spec loader
or the recommender.
``dataclasses.replace`` on the result makes a mutant.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from svai.compiler.lower import identity_for
from svai.ir import (
    Alarm,
    ArtifactStore,
    Budget,
    Compute,
    DeploymentPlan,
    Encryption,
    Entry,
    Kind,
    Queue,
    Rollout,
    SecretRef,
    Service,
    Store,
    TrafficSplit,
)

Cloud = Literal["aws", "gcp", "azure"]

VERSION = "mv-3f2a9c1d0b7e"
"""Model version of every sample plan."""
PREVIOUS_VERSION = "mv-0a1b2c3d4e5f"
"""Version a canary plan rolls out from."""
CANARY_SECRET = "canary-7f3e9b2c-DO-NOT-LEAK"
"""A value no recorded input may ever contain (secrets are references, never values)."""

REGIONS: dict[str, str] = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"}
SECRET_REFS: dict[str, str] = {
    "aws": "arn:aws:secretsmanager:us-east-1:123456789012:secret:svai/hf-token-AbCdEf",
    "gcp": "projects/svai-project/secrets/hf-token",
    "azure": "svai-vault/hf-token",
}
FRONT_OFFERINGS: dict[str, str] = {
    "aws": "aws.lambda.zip",
    "gcp": "gcp.cloudrun.functions",
    "azure": "azure.functions.flex_consumption",
}
DEFAULT_OFFERINGS: dict[str, str] = {
    "aws": "aws.lambda.zip",
    "gcp": "gcp.cloudrun.service",
    "azure": "azure.functions.flex_consumption",
}
_FAAS_HANDLERS = {"aws": "svai_handler.handler", "gcp": "main.predict", "azure": "function_app.app"}
_SERVER_HANDLER = "python -m svai.runtime.server --config svai_runtime.json"
_KINDS: dict[str, Kind] = {
    "aws.lambda.zip": "faas",
    "aws.lambda.image": "faas",
    "aws.sagemaker.serverless": "endpoint",
    "aws.sagemaker.realtime": "endpoint",
    "gcp.cloudrun.service": "container",
    "gcp.cloudrun.functions": "faas",
    "gcp.vertex.online_prediction": "endpoint",
    "azure.functions.flex_consumption": "faas",
    "azure.functions.consumption": "faas",
    "azure.containerapps.consumption": "container",
    "azure.ml.managed_online_endpoint": "endpoint",
}
_PACKAGES = {"faas": "zip", "container": "image", "endpoint": "model"}


def compute(
    cloud: Cloud,
    offering: str | None = None,
    kind: Kind | None = None,
    *,
    min_instances: int = 1,
    max_instances: int = 20,
    timeout_s: float = 30.0,
) -> Compute:
    """Sizing of the main service for ``offering`` (the cloud's default offering when ``None``)."""
    offering = offering or DEFAULT_OFFERINGS[cloud]
    kind = kind or _KINDS.get(offering, "faas")
    package: Literal["zip", "image", "model"] = _PACKAGES[kind]  # type: ignore[assignment]
    if offering == "aws.lambda.image":
        package = "image"
    endpoint = kind == "endpoint"
    instance_type = None
    if offering == "aws.sagemaker.realtime":
        instance_type = "ml.c6i.large"
    elif offering == "azure.ml.managed_online_endpoint":
        instance_type = "Standard_DS3_v2"
    elif offering == "gcp.vertex.online_prediction":
        instance_type = "n1-standard-4"
    return Compute(
        offering=offering,
        kind=kind,
        package=package,
        memory_mb=3072 if not endpoint else 4096,
        vcpu=2.0,
        gpu_type=None,
        gpu_count=0,
        instance_type=instance_type,
        concurrency_per_instance=1 if kind == "faas" else 8,
        min_instances=min_instances,
        max_instances=max_instances,
        timeout_s=timeout_s,
        architecture="x86_64",
        handler=_FAAS_HANDLERS[cloud] if kind == "faas" else _SERVER_HANDLER,
    )


def _service(name: str, compute_: Compute, *, batch: bool = False) -> Service:
    role = name  # the sample plans name each service after its role
    return Service(
        name=name,
        role=role,  # type: ignore[arg-type]
        compute=compute_,
        env=(("SVAI_MODEL_VERSION", VERSION), ("SVAI_SERVICE_ROLE", role)),
        batch_size=10 if batch and compute_.kind == "faas" else 1,
        batch_window_s=1.0 if batch and compute_.kind == "faas" else 0.0,
    )


def _alarms(watched: str, *, is_async: bool) -> tuple[Alarm, ...]:
    alarms = [
        Alarm("latency-p95", "latency_p95", 0.5, 60, 5, watched),
        Alarm("latency-p99", "latency_p99", 1.0, 60, 5, watched),
        Alarm("error-rate", "error_rate", 0.01, 60, 3, watched),
        Alarm("throttles", "throttles", 1.0, 60, 3, watched),
        Alarm("cold-start-rate", "cold_start_rate", 0.05, 300, 3, watched),
    ]
    if is_async:
        alarms += [
            Alarm("dlq-depth", "dlq_depth", 1.0, 60, 1, "dlq"),
            Alarm("queue-age", "queue_age", 300.0, 60, 3, "queue"),
        ]
    return tuple(alarms)


def _rollout(canary: bool) -> Rollout:
    split = (
        (TrafficSplit(PREVIOUS_VERSION, 90), TrafficSplit(VERSION, 10))
        if canary
        else (TrafficSplit(VERSION, 100),)
    )
    return Rollout(
        # A plan without a release in flight is all-at-once: canary plans add the release's
        # automatic rollback (svai.backends.gate), which the canary tests check on their own.
        strategy="canary" if canary else "all-at-once",
        steps=(10, 50, 100),
        step_index=0,
        interval_s=600.0,
        split=split,
        rollback_p99_s=2.0,
        rollback_error_rate=0.02,
        rollback_cold_start_rate=None,
    )


def _plan(
    cloud: Cloud,
    mode: Literal["sync", "async"],
    services: tuple[Service, ...],
    stores: tuple[Store, ...],
    queue: Queue | None,
    *,
    auth: Literal["iam", "api-key", "jwt", "none"],
    customer_key: str | None,
    canary: bool,
    name: str,
) -> DeploymentPlan:
    secrets = (SecretRef("HF_TOKEN", SECRET_REFS[cloud]),)
    routes = (
        (("POST", "/predict", "api"),)
        if mode == "sync"
        else (("POST", "/jobs", "submit"), ("GET", "/jobs/{id}", "status"))
    )
    return DeploymentPlan(
        name=name,
        cloud=cloud,
        region=REGIONS[cloud],
        account=None,
        mode=mode,
        model_version=VERSION,
        entry=Entry(
            auth=auth,
            jwt_issuer="https://issuer.example.com/" if auth == "jwt" else None,
            jwt_audience="svai-clients" if auth == "jwt" else None,
            rate_limit_rps=50.0,
            burst=100,
            max_payload_bytes=1_048_576,
            timeout_s=29.0,
            routes=routes,  # type: ignore[arg-type]
            content_types=("application/json",),
        ),
        services=services,
        queue=queue,
        stores=stores,
        artifact=ArtifactStore(object_key=f"{name}/{VERSION}/model.tar.gz", source="model.onnx"),
        secrets=secrets,
        identities=tuple(identity_for(s, stores, secrets) for s in services),
        encryption=Encryption(customer_key=customer_key, create_key=customer_key is None),
        alarms=_alarms("worker" if mode == "async" else "api", is_async=mode == "async"),
        dashboard=True,
        budget=Budget(200.0, ((80, "forecast"), (100, "actual")), "ops@example.com"),
        rollout=_rollout(canary),
        log_retention_days=30,
        private_network=False,
        tags=tuple(
            sorted({"managed-by": "svai", "svai-name": name, "svai-model-version": VERSION}.items())
        ),
    )


def sync_plan(
    cloud: Cloud,
    offering: str | None = None,
    kind: Kind | None = None,
    *,
    auth: Literal["iam", "api-key", "jwt", "none"] = "iam",
    min_instances: int = 1,
    max_instances: int = 20,
    customer_key: str | None = None,
    canary: bool = False,
    cache: bool = False,
    name: str = "sentiment",
) -> DeploymentPlan:
    """A Pattern A (sync) plan: one ``api`` service behind ``POST /predict``.

    Args:
        cloud: Target cloud.
        offering: Catalog offering of the ``api`` service (the cloud's default when ``None``).
        kind: Override the offering's kind.
        auth: Entry authentication.
        min_instances: Warm pool of the ``api`` service.
        max_instances: Concurrency guard of the ``api`` service.
        customer_key: A customer-managed key (no key is created then).
        canary: Roll out from :data:`PREVIOUS_VERSION` with a 90/10 split.
        cache: Add a ``cache`` store.
        name: Deployment name.
    """
    api = _service(
        "api",
        compute(cloud, offering, kind, min_instances=min_instances, max_instances=max_instances),
    )
    stores: tuple[Store, ...] = (Store("idempotency", "id", 86400, "expires_at"),)
    if cache:
        stores += (Store("cache", "key", 3600, "expires_at"),)
    return _plan(
        cloud,
        "sync",
        (api,),
        stores,
        None,
        auth=auth,
        customer_key=customer_key,
        canary=canary,
        name=name,
    )


def async_plan(
    cloud: Cloud,
    offering: str | None = None,
    kind: Kind | None = None,
    *,
    auth: Literal["iam", "api-key", "jwt", "none"] = "iam",
    worker_timeout_s: float = 120.0,
    max_receive_count: int = 5,
    min_instances: int = 0,
    max_instances: int = 10,
    customer_key: str | None = None,
    name: str = "summarize",
) -> DeploymentPlan:
    """A Pattern B (async) plan: ``submit`` and ``status`` fronts, a queue and a ``worker``.

    Args:
        cloud: Target cloud.
        offering: Catalog offering of the ``worker`` (the cloud's default when ``None``).
        kind: Override the offering's kind.
        auth: Entry authentication.
        worker_timeout_s: Worker timeout; the queue's visibility timeout is 6x this.
        max_receive_count: Deliveries before a job moves to the DLQ.
        min_instances: Warm pool of the worker.
        max_instances: Concurrency guard of the worker.
        customer_key: A customer-managed key (no key is created then).
        name: Deployment name.
    """
    front = compute(
        cloud, FRONT_OFFERINGS[cloud], "faas", min_instances=0, max_instances=10, timeout_s=10.0
    )
    front = dataclasses.replace(front, memory_mb=256, vcpu=0.25)
    worker = compute(
        cloud,
        offering,
        kind,
        min_instances=min_instances,
        max_instances=max_instances,
        timeout_s=worker_timeout_s,
    )
    services = (
        _service("submit", front),
        _service("status", front),
        _service("worker", worker, batch=True),
    )
    stores = (Store("results", "id", 86400, "expires_at"),)
    queue = Queue(
        visibility_timeout_s=max(30, math.ceil(6 * worker_timeout_s)),
        retention_s=4 * 86400,
        max_receive_count=max_receive_count,
        dlq_retention_s=14 * 86400,
        retry_base_s=2.0,
        retry_max_s=300.0,
    )
    return _plan(
        cloud,
        "async",
        services,
        stores,
        queue,
        auth=auth,
        customer_key=customer_key,
        canary=False,
        name=name,
    )
