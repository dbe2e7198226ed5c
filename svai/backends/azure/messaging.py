"""Lower the async pattern's queue (Service Bus) and the key-value stores (Cosmos DB).

Queue: a Service Bus Standard namespace (Premium in the deployment's VNet: a private plan, or
restricted egress, since private endpoints need it) with local (SAS) auth disabled and one queue, ``jobs``.
``maxDeliveryCount`` is the plan's ``max_receive_count``; a message that expires is dead-lettered
too; ``lockDuration`` covers the worker timeout up to Service Bus's 5-minute maximum. A worker
that may run longer gets ``SVAI_LOCK_RENEW_S`` (half the lock duration) and renews its lock at
that interval while it works, because an expired lock would hand the job to a second worker. Duplicate
detection on the message id (10 minutes) drops client retries of the same submission.

Stores: one serverless Cosmos DB (NoSQL) account holds results, idempotency records and the cache,
one container each, with ``defaultTtl`` from the plan. Serverless Cosmos DB bills per request
and storage with nothing when idle, expires items by TTL natively, and is reached with Entra ID
(data-plane RBAC) rather than keys. Azure Cache for Redis would bill every hour whether used or
not and needs a key or Entra-ID-enabled tier, which fits a scale-to-zero deployment worse.
"""

from __future__ import annotations

import math
from typing import Any

from svai.backends.azure import naming, network, roles
from svai.backends.azure.blueprint import Concat, Ref
from svai.backends.azure.claims import claim_env
from svai.backends.azure.context import Context
from svai.compiler.egress import network_built
from svai.ir import DeploymentPlan, Service

__all__ = [
    "DATABASE",
    "MAX_LOCK_S",
    "QUEUE",
    "grant_store",
    "keda_rule",
    "lock_seconds",
    "lower_queue",
    "lower_stores",
    "namespace_name",
]

QUEUE = "jobs"
"""Name of the job queue inside the namespace."""
DATABASE = "svai"
"""Name of the Cosmos DB database holding the stores."""
MAX_LOCK_S = 300
"""Service Bus's longest message lock."""


def namespace_name(plan: DeploymentPlan) -> str:
    """Return the Service Bus namespace name (globally unique, 6-50 characters)."""
    return naming.dashed_name(plan, "sb", 50)


def lock_seconds(worker: Service) -> int:
    """Return the queue's lock duration: the worker timeout plus slack, capped at 5 minutes."""
    return min(MAX_LOCK_S, max(30, math.ceil(worker.compute.timeout_s * 1.2)))


def _worker(plan: DeploymentPlan) -> Service | None:
    return next((s for s in plan.services if s.role == "worker"), None)


def lower_queue(ctx: Context) -> None:
    """Add the Service Bus namespace, the job queue and the namespace's diagnostic logs."""
    plan = ctx.plan
    queue = plan.queue
    assert queue is not None
    group = ctx.logical("queue")
    worker = _worker(plan)
    lock = lock_seconds(worker) if worker is not None else 60
    ctx.add(
        "JobQueue",
        group,
        "namespace",
        "azure-native:servicebus:Namespace",
        ctx.logical("bus"),
        ctx.located(
            namespace_name=namespace_name(plan),
            # Private endpoints exist only on Premium.
            sku=(
                {"name": "Premium", "tier": "Premium", "capacity": 1}
                if network_built(plan)
                else {"name": "Standard", "tier": "Standard"}
            ),
            disable_local_auth=True,
            minimum_tls_version="1.2",
            public_network_access="Disabled" if plan.private_network else "Enabled",
        ),
    )
    if network_built(plan):
        network.private_endpoint(ctx, group, "namespace", "namespace")
    ctx.add(
        "JobQueue",
        group,
        "queue",
        "azure-native:servicebus:Queue",
        ctx.logical("jobs"),
        {
            "resource_group_name": ctx.rg,
            "namespace_name": Ref("namespace", "name"),
            "queue_name": QUEUE,
            "max_delivery_count": queue.max_receive_count,
            "dead_lettering_on_message_expiration": True,
            "lock_duration": naming.duration(lock),
            "default_message_time_to_live": naming.duration(queue.retention_s),
            "requires_duplicate_detection": True,
            "duplicate_detection_history_time_window": "PT10M",
            "enable_batched_operations": True,
            "max_size_in_megabytes": 1024,
        },
    )
    ctx.add(
        "JobQueue",
        group,
        "namespace-logs",
        "azure-native:monitor:DiagnosticSetting",
        ctx.logical("bus-logs"),
        {
            "name": "svai-logs",
            "resource_uri": Ref("namespace"),
            "workspace_id": Ref("logs"),
            "logs": [{"category_group": "allLogs", "enabled": True}],
            "metrics": [{"category": "AllMetrics", "enabled": True}],
        },
    )


def keda_rule(ctx: Context, worker: Service) -> dict[str, Any]:
    """Return the worker's KEDA ``azure-servicebus`` scale rule, authenticated by its identity."""
    per_replica = max(1, worker.batch_size, worker.compute.concurrency_per_instance)
    return {
        "name": "servicebus-queue",
        "custom": {
            "type": "azure-servicebus",
            "metadata": {
                "namespace": namespace_name(ctx.plan),
                "queueName": QUEUE,
                "messageCount": str(per_replica),
            },
            "identity": Ref(f"identity:{worker.name}"),
        },
    }


def lower_stores(ctx: Context) -> None:
    """Add a serverless Cosmos DB account, the ``svai`` database and one container per store."""
    plan = ctx.plan
    group = ctx.logical("stores")
    ctx.add(
        "KeyValueStore",
        group,
        "cosmos",
        "azure-native:cosmosdb:DatabaseAccount",
        ctx.logical("cosmos"),
        ctx.located(
            account_name=naming.dashed_name(plan, "cosmos", 44),
            kind="GlobalDocumentDB",
            database_account_offer_type="Standard",
            capabilities=[{"name": "EnableServerless"}],
            locations=[{"location_name": plan.region, "failover_priority": 0}],
            consistency_policy={"default_consistency_level": "Session"},
            # Entra ID only: data-plane role assignments below, no account keys.
            disable_local_auth=True,
            disable_key_based_metadata_write_access=True,
            minimal_tls_version="Tls12",
            public_network_access="Disabled" if plan.private_network else "Enabled",
            backup_policy={
                "type": "Continuous",
                "continuous_mode_properties": {"tier": "Continuous7Days"},
            },
        ),
    )
    if network_built(plan):
        network.private_endpoint(ctx, group, "cosmos", "Sql")
    ctx.add(
        "KeyValueStore",
        group,
        "database",
        "azure-native:cosmosdb:SqlResourceSqlDatabase",
        ctx.logical("database"),
        ctx.located(
            account_name=Ref("cosmos", "name"),
            database_name=DATABASE,
            resource={"id": DATABASE},
        ),
    )
    for store in plan.stores:
        ctx.add(
            "KeyValueStore",
            group,
            f"store:{store.name}",
            "azure-native:cosmosdb:SqlResourceSqlContainer",
            ctx.logical("store", store.name),
            ctx.located(
                account_name=Ref("cosmos", "name"),
                database_name=Ref("database", "name"),
                container_name=store.name,
                resource={
                    "id": store.name,
                    "partition_key": {"paths": [f"/{store.key}"], "kind": "Hash"},
                    # Cosmos DB expires items itself; the runtime also writes ``ttl`` per item.
                    "default_ttl": store.ttl_s,
                },
            ),
        )


def grant_store(ctx: Context, group: str, service: str, store: str, action: str) -> None:
    """Give ``service`` Cosmos DB data-plane read or read/write on one store's container."""
    if ctx.plan.store(store) is None:
        return
    write = action == "store.write"
    role = roles.COSMOS_DATA_CONTRIBUTOR if write else roles.COSMOS_DATA_READER
    key = f"cosmos-role:{service}:{store}:{'write' if write else 'read'}"
    ctx.add(
        "KeyValueStore",
        group,
        key,
        "azure-native:cosmosdb:SqlResourceSqlRoleAssignment",
        ctx.logical(service, "can", "write" if write else "read", store),
        {
            "resource_group_name": ctx.rg,
            "account_name": Ref("cosmos", "name"),
            "role_assignment_id": naming.guid(ctx.plan.name, service, store, role),
            "role_definition_id": Concat((Ref("cosmos"), f"/sqlRoleDefinitions/{role}")),
            "principal_id": Ref(f"identity:{service}", "principal_id"),
            "scope": Concat((Ref("cosmos"), f"/dbs/{DATABASE}/colls/{store}")),
        },
    )


def runtime_env(plan: DeploymentPlan, service: Service) -> list[tuple[str, str]]:
    """Where ``service``'s runtime finds its stores and queue (read by ``svai.runtime.cloud.azure``).

    Args:
        plan: The deployment plan.
        service: The service whose settings these are.

    Returns:
        (name, value) pairs: the Cosmos DB endpoint and containers the role uses, the Service Bus
        queue for the front, and ``SVAI_QUEUE_KIND`` for a container worker's receive loop.
    """
    stores = {store.name: store for store in plan.stores}
    env: list[tuple[str, str]] = []
    results = "results" in stores and service.role in ("submit", "status", "worker")
    cache = "cache" in stores and service.role in ("api", "worker")
    if results or cache:
        account = naming.dashed_name(plan, "cosmos", 44)
        env += [
            ("SVAI_COSMOS_ENDPOINT", f"https://{account}.documents.azure.com:443/"),
            ("SVAI_COSMOS_DATABASE", DATABASE),
        ]
    if results:
        env += [
            ("SVAI_RESULTS_CONTAINER", "results"),
            ("SVAI_RESULT_TTL_S", str(stores["results"].ttl_s)),
        ]
    if cache:
        env.append(("SVAI_CACHE_CONTAINER", "cache"))
    # The status front builds the same job front (it never sends: only the sender role can).
    if plan.queue is not None and service.role in ("submit", "status"):
        env += [
            ("SVAI_SERVICEBUS_NAMESPACE", f"{namespace_name(plan)}.servicebus.windows.net"),
            ("SVAI_SERVICEBUS_QUEUE", QUEUE),
        ]
    return env + claim_env(plan, service)
