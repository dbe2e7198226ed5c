"""Lower a :class:`~svai.ir.DeploymentPlan` to an Azure :class:`Blueprint` (pure; no Pulumi).

Every deployment gets a foundation (resource group, Key Vault, artifact storage encrypted with the
plan's key, one user-assigned identity per service, Log Analytics + Application Insights, an
action group, a consumption budget, a container registry when images ship, and on a private plan
or under restricted egress a VNet with private endpoints, :mod:`svai.backends.azure.network`);
then each service is lowered by its offering with role
assignments on single resources, the async pattern adds a Service Bus queue, the key-value stores
become Cosmos DB containers, and each plan alarm becomes an Azure Monitor alert.

Offering ids matched on ``compute.offering`` (ids of ``platforms.yaml``; the compiler catalog's
``azure.containerapps`` and ``azure.ml.online_endpoint`` are accepted as aliases):

* ``azure.containerapps.consumption`` — Container Apps, CPU or serverless GPU
  (``compute.gpu_type`` set), for ``api``, ``submit``, ``status`` and ``worker``;
* ``azure.functions.flex_consumption`` — Functions on Flex Consumption, any role;
* ``azure.ml.managed_online_endpoint`` — Azure ML managed online endpoint, ``api`` only.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from svai.backends import images
from svai.backends.azure import alerts, claims, gate, messaging, naming, network, roles, services
from svai.backends.azure.blueprint import Blueprint, ClientConfig, Concat, Ref
from svai.backends.azure.context import Context, Scope
from svai.backends.azure.start_fetch import add_model_blobs, model_read_condition
from svai.backends.start_fetch import model_objects
from svai.compiler.egress import network_built, private_registry
from svai.errors import UsageError
from svai.ir import DeploymentPlan, Service

__all__ = ["OFFERINGS", "lower", "month_start"]

OFFERINGS: dict[str, Callable[[Context, Service], None]] = {
    services.CONTAINER_APPS: services.lower_container_app,
    services.FUNCTIONS_FLEX: services.lower_function_app,
    services.ML_ENDPOINT: services.lower_online_endpoint,
}
"""Offering id -> the function that lowers a service running on it."""


_KEY_URI = re.compile(
    r"^(https://[a-z0-9-]{3,24}\.vault\.azure\.net)/keys/([A-Za-z0-9-]{1,127})(/[0-9a-f]{32})?$"
)


def month_start(today: dt.date) -> str:
    """Return the first day of ``today``'s month as the budget start date Azure expects."""
    return f"{today.year:04d}-{today.month:02d}-01T00:00:00Z"


def lower(
    plan: DeploymentPlan, *, budget_start: str, build_dir: str = ".svai/build/azure"
) -> Blueprint:
    """Return the Azure resources for ``plan``.

    Args:
        plan: The cloud-neutral plan (``plan.cloud`` must be ``azure``).
        budget_start: First day of the budget's first month (see :func:`month_start`); passed in
            so that lowering stays a pure function of its inputs.
        build_dir: The target's ``svai build`` folder; function apps upload its ``function.zip``.

    Returns:
        The blueprint: groups of resources with their SDK arguments.

    Raises:
        UsageError: The plan targets another cloud, or a service uses an offering (or a role
            or auth on an offering) this backend cannot build; the message says what it can.
    """
    if plan.cloud != "azure":
        raise UsageError(f"the Azure backend cannot build a plan for {plan.cloud!r}")
    for service in plan.services:
        if services.offering_of(service) not in OFFERINGS:
            known = ", ".join(sorted(OFFERINGS))
            raise UsageError(
                f"service {service.name!r}: offering {service.compute.offering!r} is not "
                f"built by the Azure backend; use one of: {known}"
            )
    ctx = Context(plan, budget_start, build_dir)
    _foundation(ctx)
    if plan.stores:
        messaging.lower_stores(ctx)
    if plan.queue is not None:
        messaging.lower_queue(ctx)
    for service in plan.services:
        # Grants first: an app must be able to pull its image and read its secrets at start.
        ctx.open_group(
            services.SHAPES[services.offering_of(service)], services.group_name(ctx, service.name)
        )
        _grant_plan_permissions(ctx, service.name)
        claims.grant_payloads(ctx, services.group_name(ctx, service.name), service)
        OFFERINGS[services.offering_of(service)](ctx, service)
    gate.lower_gate(ctx)
    alerts.lower_alerts(ctx)
    return ctx.blueprint()


def _foundation(ctx: Context) -> None:
    plan = ctx.plan
    group = ctx.logical("foundation")

    add = ctx.adder("Foundation", group)

    add(
        "rg",
        "azure-native:resources:ResourceGroup",
        "rg",
        {
            "resource_group_name": f"rg-svai-{plan.name}",
            "location": plan.region,
            "tags": ctx.tags,
        },
    )
    if network_built(plan):
        network.lower_vnet(ctx, group)
    for service in plan.services:
        add(
            f"identity:{service.name}",
            "azure-native:managedidentity:UserAssignedIdentity",
            f"{service.name}-identity",
            ctx.located(resource_name_=f"id-{plan.name}-{service.name}"),
        )
    add(
        "vault",
        "azure-native:keyvault:Vault",
        "vault",
        ctx.located(
            vault_name=naming.vault_name(plan),
            properties={
                "tenant_id": ClientConfig("tenant_id"),
                "sku": {"family": "A", "name": "standard"},
                "enable_rbac_authorization": True,
                "enable_soft_delete": True,
                "soft_delete_retention_in_days": 90,
                "enable_purge_protection": True,
                "public_network_access": "Disabled" if plan.private_network else "Enabled",
            },
        ),
    )
    if plan.private_network or (network_built(plan) and plan.secrets):
        network.private_endpoint(ctx, group, "vault", "vault")
    encryption = _artifact_key(ctx, group)
    add(
        "storage",
        "azure-native:storage:StorageAccount",
        "artifacts",
        services.hardened_storage(ctx, naming.compact_name(plan, "svai"), encryption),
        depends_on=ctx.grants_of("storage"),
    )
    add(
        "blob-service",
        "azure-native:storage:BlobServiceProperties",
        "artifacts-blob-service",
        {
            "resource_group_name": ctx.rg,
            "account_name": Ref("storage", "name"),
            "blob_services_name": "default",
            "is_versioning_enabled": True,
            "delete_retention_policy": {"enabled": True, "days": 30},
            "container_delete_retention_policy": {"enabled": True, "days": 30},
        },
    )
    add(
        "container:artifacts",
        "azure-native:storage:BlobContainer",
        "artifacts-container",
        {
            "resource_group_name": ctx.rg,
            "account_name": Ref("storage", "name"),
            "container_name": "artifacts",
            "public_access": "None",
            "metadata": {"svai_model_version": plan.model_version},
        },
    )
    add_model_blobs(ctx, add)  # model.fetch: start: the weights the build left out
    claims.add_payload_expiry(ctx, add)  # job bodies above Service Bus's limit
    if network_built(plan):  # the start-time model fetch and claim checks stay in the VNet
        network.private_endpoint(ctx, group, "storage", "blob")
    add(
        "logs",
        "azure-native:operationalinsights:Workspace",
        "logs",
        ctx.located(
            workspace_name=f"log-svai-{plan.name}",
            sku={"name": "PerGB2018"},
            # PerGB2018 keeps at least 30 days; longer retention is what the plan asked for.
            retention_in_days=min(730, max(30, plan.log_retention_days)),
        ),
    )
    add(
        "insights",
        "azure-native:applicationinsights:Component",
        "insights",
        ctx.located(
            resource_name_=f"appi-svai-{plan.name}",
            kind="web",
            application_type="web",
            workspace_resource_id=Ref("logs"),
            ingestion_mode="LogAnalytics",
            # Telemetry is sent with Entra ID tokens (Monitoring Metrics Publisher), not keys.
            disable_local_auth=True,
            retention_in_days=min(730, max(30, plan.log_retention_days)),
        ),
    )
    if network_built(plan):
        network.lower_monitor_scope(ctx, group)
    add(
        "vault-audit",
        "azure-native:monitor:DiagnosticSetting",
        "vault-audit",
        {
            "name": "svai-audit",
            "resource_uri": Ref("vault"),
            "workspace_id": Ref("logs"),
            "logs": [{"category_group": "audit", "enabled": True}],
        },
    )
    email = plan.budget.email if plan.budget is not None else None
    add(
        "actions",
        "azure-native:monitor:ActionGroup",
        "alerts",
        {
            "resource_group_name": ctx.rg,
            "location": "global",
            "tags": ctx.tags,
            "action_group_name": f"ag-svai-{plan.name}",
            "group_short_name": f"svai{naming.suffix(plan)}",
            "enabled": True,
            "email_receivers": (
                [{"name": "owner", "email_address": email, "use_common_alert_schema": True}]
                if email
                else []
            ),
        },
    )
    if plan.budget is not None:
        add(
            "budget",
            "azure-native:consumption:Budget",
            "budget",
            {
                "budget_name": f"svai-{plan.name}",
                "scope": Ref("rg"),
                "amount": plan.budget.monthly_usd,
                "category": "Cost",
                "time_grain": "Monthly",
                "time_period": {"start_date": ctx.month_start},
                "notifications": {
                    f"{kind}-{percent}": {
                        "enabled": True,
                        "operator": "GreaterThanOrEqualTo",
                        "threshold": percent,
                        "threshold_type": "Forecasted" if kind == "forecast" else "Actual",
                        "contact_emails": [email] if email else [],
                        "contact_groups": [Ref("actions")],
                    }
                    for percent, kind in plan.budget.thresholds
                },
            },
            # The start date is fixed when the budget is created; later months must not move it.
            ignore_changes=("timePeriod",),
        )
    imaged = [s for s in plan.services if s.compute.package in ("image", "model")]
    if imaged:
        private = private_registry(plan)
        add(
            "registry",
            "azure-native:containerregistry:Registry",
            "registry",
            ctx.located(
                registry_name=naming.compact_name(plan, "svaicr", 50),
                # Private endpoints (and an Azure ML managed network's) need the Premium tier.
                sku={"name": "Premium" if private else "Basic"},
                admin_user_enabled=False,
                anonymous_pull_enabled=False,
                # On a private plan images are pushed and pulled through the private endpoint
                # only; under restricted egress alone the push may still come from outside.
                public_network_access="Disabled" if plan.private_network else "Enabled",
            ),
        )
        if network_built(plan):
            network.private_endpoint(ctx, group, "registry", "registry")
        # svai build's container context, built and pushed on apply under every service's tag.
        tags = [services.image_ref(ctx, s, plan.model_version) for s in imaged]
        add(
            "image",
            images.IMAGE,
            "image",
            images.image_args(tags, ctx.build_dir),
            # A private registry takes the push through its endpoint, once its name resolves.
            depends_on=("registry", *(("endpoint-dns:registry",) if network_built(plan) else ())),
        )
    if any(services.offering_of(s) == services.CONTAINER_APPS for s in plan.services):
        services.lower_environment(ctx, group)


def _artifact_key(ctx: Context, group: str) -> dict[str, Any] | None:
    """Return the artifact account's customer-managed key settings, or ``None`` for Microsoft's.

    ``encryption.customer_key`` is a Key Vault key URI (``https://VAULT.vault.azure.net/keys/
    NAME``); with ``create_key`` svai creates an RSA key in the deployment's vault. Either way a
    dedicated identity wraps and unwraps the account key; on a created key it gets Key Vault Crypto
    Service Encryption User on that key alone (a customer's key is granted by its owner).
    """
    plan = ctx.plan
    key = plan.encryption.customer_key
    if key is None and not plan.encryption.create_key:
        return None
    if key is not None:
        match = _KEY_URI.match(key)
        if match is None:
            raise UsageError(
                f"the Azure customer key must be a Key Vault key URI "
                f"(https://VAULT.vault.azure.net/keys/NAME), not {key!r}"
            )
        vault_uri, key_name = match.group(1), match.group(2)
    else:
        vault_uri, key_name = f"https://{naming.vault_name(plan)}.vault.azure.net", "artifacts"
    ctx.add(
        "Foundation",
        group,
        "identity:storage",
        "azure-native:managedidentity:UserAssignedIdentity",
        ctx.logical("storage-identity"),
        ctx.located(resource_name_=f"id-{plan.name}-storage"),
    )
    if key is None:
        ctx.add(
            "Foundation",
            group,
            "artifact-key",
            "azure-native:keyvault:Key",
            ctx.logical("artifact-key"),
            {
                "resource_group_name": ctx.rg,
                "vault_name": Ref("vault", "name"),
                "key_name": key_name,
                "tags": ctx.tags,
                "properties": {
                    "kty": "RSA",
                    "key_size": 3072,
                    "key_ops": ["wrapKey", "unwrapKey"],
                    "rotation_policy": {
                        "attributes": {"expiry_time": "P2Y"},
                        "lifetime_actions": [
                            {
                                "action": {"type": "rotate"},
                                "trigger": {"time_before_expiry": "P30D"},
                            }
                        ],
                    },
                },
            },
        )
        ctx.grant(
            group,
            "storage",
            roles.KEY_VAULT_CRYPTO_ENCRYPTION_USER,
            Ref("artifact-key"),
            "artifact-key",
        )
    return {
        "identity": Ref("identity:storage"),
        "key_vault_uri": vault_uri,
        "key_name": key_name,
    }


def _grant_plan_permissions(ctx: Context, service: str) -> None:
    """Map the service's cloud-neutral permissions onto single-resource role assignments."""
    plan = ctx.plan
    permissions = [p for i in plan.identities if i.service == service for p in i.permissions]
    group = services.group_name(ctx, service)
    model_read = model_read_condition(model_objects(ctx.build_dir))
    role_of = next(s.role for s in plan.services if s.name == service)
    done: set[tuple[str, str]] = set()
    for permission in permissions:
        action, resource = permission.action, permission.resource
        grant: tuple[str, Scope, str] | None = None
        if action == "artifact.read":
            grant = (roles.STORAGE_BLOB_DATA_READER, Ref("container:artifacts"), "artifacts")
        elif action == "secret.read" and resource.startswith("secret:"):
            env = resource.split(":", 1)[1]
            ref = next((s.ref for s in plan.secrets if s.env == env), None)
            if ref is not None:
                name = naming.secret_name(ref)
                scope = Concat((Ref("vault"), f"/secrets/{name}"))
                grant = (roles.KEY_VAULT_SECRETS_USER, scope, f"secret-{name}")
        elif action in ("logs.write", "metrics.write"):
            grant = (roles.MONITORING_METRICS_PUBLISHER, Ref("insights"), "insights")
        elif action == "queue.send" and plan.queue is not None:
            grant = (roles.SERVICE_BUS_DATA_SENDER, Ref("queue"), "queue")
        elif action == "queue.consume" and plan.queue is not None:
            grant = (roles.SERVICE_BUS_DATA_RECEIVER, Ref("queue"), "queue")
        elif action in ("store.read", "store.write") and resource.startswith("store:"):
            store = resource.split(":", 1)[1]
            # Data Contributor includes reads: one grant per store, the stronger one.
            writes = any(p.action == "store.write" and p.resource == resource for p in permissions)
            if action == "store.write" or not writes:
                messaging.grant_store(ctx, group, service, store, action)
        # dlq.send is covered by Data Receiver (a receiver dead-letters); key.use needs no
        # grant (storage unwraps the key with its own encryption identity); model.invoke is the
        # entry's Entra ID authentication.
        if grant is not None and (grant[0], grant[2]) not in done:
            done.add((grant[0], grant[2]))
            # The start-time fetch's blobs, and nothing else of the artifacts container.
            only = model_read if grant[2] == "artifacts" else None
            only = claims.payload_read_condition(plan, role_of, only)
            ctx.grant(group, service, grant[0], grant[1], grant[2], only)
    if any(s.name == service and s.compute.package in ("image", "model") for s in plan.services):
        ctx.grant(group, service, roles.ACR_PULL, Ref("registry"), "registry")
