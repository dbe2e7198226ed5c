"""Lower one service onto its Azure offering: Container Apps, Functions Flex, or Azure ML.

Entry authentication (``plan.entry.auth``):

* ``none`` — public ingress, no authentication (only when the spec asks for it);
* ``iam`` — Entra ID through the platform's built-in authentication (Container Apps / App
  Service "Easy Auth"): requests without a valid token for the app are refused with 401 before
  they reach the runtime; Azure ML endpoints use ``AADToken`` auth;
* ``jwt`` — the same built-in authentication with the spec's OpenID Connect issuer and audience;
* ``api-key`` — Functions keys (``authLevel=function``) on Functions; endpoint keys on Azure ML;
  Container Apps has no key auth, so there it falls back to Entra ID (``iam``).

Where a platform cannot enforce what the spec wrote (API keys on Container Apps; anonymous or
third-party JWT callers on Azure ML, which always wants its keys or Entra ID tokens) the entry is
stricter than asked, and rule ``SVAI_AZ_028`` says so in the plan's findings.

Throttling (``entry.rate_limit_rps``/``burst``, the tenant rate) is enforced by the runtime's
token buckets in each instance (``svai.compiler.request_limits``; the plan's ``entry.limits`` says what
that means with N instances): neither Container Apps nor Functions ingress has a rate limiter
without API Management in front.
"""

from __future__ import annotations

import math
import shlex
from typing import Any

from svai.backends import gate
from svai.backends.azure import naming, network, revisions, roles
from svai.backends.azure.blueprint import ClientConfig, Concat, FileSource, Ref, Shape
from svai.backends.azure.context import APP_PORT, Context
from svai.backends.azure.messaging import (
    QUEUE,
    keda_rule,
    lock_seconds,
    namespace_name,
    runtime_env,
)
from svai.backends.azure.start_fetch import model_env
from svai.compiler.egress import network_built, restricts_egress
from svai.errors import UsageError
from svai.ir import DeploymentPlan, Service

__all__ = [
    "ALIASES",
    "CONTAINER_APPS",
    "FUNCTIONS_FLEX",
    "GPU_PROFILES",
    "ML_ENDPOINT",
    "SHAPES",
    "container_resources",
    "flex_memory_mb",
    "group_name",
    "hardened_storage",
    "lower_container_app",
    "lower_environment",
    "lower_function_app",
    "lower_online_endpoint",
    "offering_of",
    "registry_server",
]

CONTAINER_APPS = "azure.containerapps.consumption"
FUNCTIONS_FLEX = "azure.functions.flex_consumption"
ML_ENDPOINT = "azure.ml.managed_online_endpoint"

ALIASES: dict[str, str] = {
    "azure.containerapps": CONTAINER_APPS,
    "azure.ml.online_endpoint": ML_ENDPOINT,
}
"""Ids of ``svai/compiler/data/catalog.yaml`` -> the ``platforms.yaml`` ids above."""


def offering_of(service: Service) -> str:
    """Return the canonical offering id of ``service`` (catalog aliases resolved)."""
    offering = service.compute.offering
    return ALIASES.get(offering, offering)


def app_name(plan: DeploymentPlan, service: Service) -> str:
    """Return the Azure name of ``service``'s app: Container App, function app or ML endpoint."""
    offering = offering_of(service)
    if offering == CONTAINER_APPS:
        return f"ca-{plan.name}-{service.name}"[:32].rstrip("-")
    if offering == FUNCTIONS_FLEX:
        return f"func-{plan.name}-{service.name}-{naming.suffix(plan)}"
    return f"{plan.name}-{naming.suffix(plan)}"[:32]


GPU_PROFILES: dict[str, str] = {
    "t4": "Consumption-GPU-NC8as-T4",
    "a100": "Consumption-GPU-NC24-A100",
}
"""Serverless GPU workload profile per GPU model (matched inside ``compute.gpu_type``)."""

SHAPES: dict[str, Shape] = {
    CONTAINER_APPS: "ContainerAppService",
    FUNCTIONS_FLEX: "FunctionAppService",
    ML_ENDPOINT: "OnlineEndpointService",
}
FLEX_PYTHON = "3.11"
"""The Flex Consumption Python version (``svai build`` vendors wheels for it)."""
FLEX_PACKAGE_BLOB = "released-package.zip"
"""The blob a Flex Consumption app runs its code from (the name OneDeploy writes)."""
_FLEX_MEMORY_MB = (512, 2048, 4096)
_FLEX_MIN_MAX_INSTANCES = 40
_FLEX_MAX_INSTANCES = 1000
_ML_MAX_REQUEST_TIMEOUT_S = 180


def registry_server(ctx: Context) -> str:
    """Return the login server of the deployment's container registry (known from its name)."""
    return f"{naming.compact_name(ctx.plan, 'svaicr', 50)}.azurecr.io"


def image_ref(ctx: Context, service: Service, version: str) -> str:
    """The image ``service`` runs for model ``version``, in the deployment's registry."""
    return f"{registry_server(ctx)}/{ctx.plan.name}-{service.name}:{version}"


def group_name(ctx: Context, service: str) -> str:
    """Return the group (component) name of ``service``."""
    return ctx.logical(service)


def hardened_storage(
    ctx: Context, account_name: str, key: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Arguments of a storage account: HTTPS only, TLS 1.2, no public blobs, no shared keys.

    Args:
        ctx: The lowering context.
        account_name: Globally unique account name.
        key: Customer-managed key (``identity``, ``key_vault_uri``, ``key_name``), or ``None``
            for Microsoft-managed keys; both add infrastructure (double) encryption.
    """
    encryption: dict[str, Any] = {
        "key_source": "Microsoft.Storage",
        "require_infrastructure_encryption": True,
        "services": {
            "blob": {"enabled": True, "key_type": "Account"},
            "file": {"enabled": True, "key_type": "Account"},
        },
    }
    extra: dict[str, Any] = {}
    if key is not None:
        encryption["key_source"] = "Microsoft.Keyvault"
        encryption["key_vault_properties"] = {
            "key_vault_uri": key["key_vault_uri"],
            "key_name": key["key_name"],
        }
        encryption["encryption_identity"] = {"encryption_user_assigned_identity": key["identity"]}
        extra["identity"] = {"type": "UserAssigned", "user_assigned_identities": [key["identity"]]}
    return ctx.located(
        **extra,
        account_name=account_name,
        kind="StorageV2",
        sku={"name": "Standard_LRS"},
        access_tier="Hot",
        enable_https_traffic_only=True,
        minimum_tls_version="TLS1_2",
        allow_blob_public_access=False,
        # Identities only: a leaked account key or SAS cannot read the model.
        allow_shared_key_access=False,
        default_to_o_auth_authentication=True,
        public_network_access="Disabled" if ctx.plan.private_network else "Enabled",
        encryption=encryption,
    )


def _gpu_profile(service: Service) -> str | None:
    gpu = service.compute.gpu_type
    if not gpu:
        return None
    lowered = gpu.lower()
    for model, profile in GPU_PROFILES.items():
        if model in lowered:
            return profile
    raise UsageError(
        f"service {service.name!r}: GPU {gpu!r} is not offered by Container Apps serverless GPUs "
        f"(T4 or A100)"
    )


def lower_environment(ctx: Context, group: str) -> None:
    """Add the Container Apps managed environment (Consumption, plus GPU profiles in use)."""
    profiles: list[dict[str, Any]] = [
        {"name": "Consumption", "workload_profile_type": "Consumption"}
    ]
    gpu_types = sorted(
        {
            p
            for s in ctx.plan.services
            if offering_of(s) == CONTAINER_APPS and (p := _gpu_profile(s))
        }
    )
    profiles += [{"name": _profile_name(p), "workload_profile_type": p} for p in gpu_types]
    ctx.add(
        "Foundation",
        group,
        "environment",
        "azure-native:app:ManagedEnvironment",
        ctx.logical("environment"),
        ctx.located(
            environment_name=f"cae-svai-{ctx.plan.name}",
            workload_profiles=profiles,
            # Logs go to Azure Monitor and on to Log Analytics through a diagnostic setting, so
            # no workspace shared key ever appears in the environment's inputs.
            app_logs_configuration={"destination": "azure-monitor"},
            zone_redundant=False,
            **(
                {
                    # VNet-integrated: the apps' outbound traffic leaves from the subnet (and its
                    # NSG); on a private plan the environment is internal too (reachable from the
                    # VNet only).
                    "vnet_configuration": {
                        "infrastructure_subnet_id": network.subnet_id("apps"),
                        "internal": ctx.plan.private_network,
                    }
                }
                if network_built(ctx.plan)
                else {}
            ),
        ),
    )
    ctx.add(
        "Foundation",
        group,
        "environment-logs",
        "azure-native:monitor:DiagnosticSetting",
        ctx.logical("environment-logs"),
        {
            "name": "svai-logs",
            "resource_uri": Ref("environment"),
            "workspace_id": Ref("logs"),
            # Resource-specific tables (ContainerAppConsoleLogs), which the alerts query.
            "log_analytics_destination_type": "Dedicated",
            "logs": [{"category_group": "allLogs", "enabled": True}],
            "metrics": [{"category": "AllMetrics", "enabled": True}],
        },
    )


def _profile_name(profile: str) -> str:
    return "gpu-" + profile.rsplit("-", 1)[-1].lower()


def container_resources(service: Service) -> dict[str, Any]:
    """Return Container Apps ``cpu``/``memory`` for the service's sizing.

    The Consumption profile allows 0.25-4 vCPU in 0.25 steps with 2 GiB per vCPU, so the
    request is rounded up to the next allowed pair; GPU profiles take the sizing as given.
    """
    compute = service.compute
    if _gpu_profile(service) is not None:
        memory_gi = max(1, math.ceil(compute.memory_mb / 1024))
        return {"cpu": max(1.0, compute.vcpu), "memory": f"{memory_gi}Gi"}
    want = max(compute.vcpu, compute.memory_mb / 2048)
    cpu = min(4.0, max(0.25, math.ceil(want * 4) / 4))
    memory = cpu * 2
    text = f"{memory:g}Gi"
    return {"cpu": cpu, "memory": text}


def _identity(service: Service) -> dict[str, Any]:
    return {
        "type": "UserAssigned",
        "user_assigned_identities": [Ref(f"identity:{service.name}")],
    }


def _secret_uri(ctx: Context, ref: str) -> str:
    # The versionless URI follows rotation: a new version is picked up on the next restart.
    return (
        f"https://{naming.vault_name(ctx.plan)}.vault.azure.net/secrets/{naming.secret_name(ref)}"
    )


def _is_http(service: Service) -> bool:
    return service.role in ("api", "submit", "status")


def _issuer(ctx: Context) -> str | Concat:
    entry = ctx.plan.entry
    if entry.auth == "jwt" and entry.jwt_issuer:
        return entry.jwt_issuer
    return Concat(("https://login.microsoftonline.com/", ClientConfig("tenant_id"), "/v2.0"))


def _audience(ctx: Context) -> str:
    return ctx.plan.entry.jwt_audience or f"api://svai-{ctx.plan.name}"


def _auth_providers(ctx: Context) -> dict[str, Any]:
    """Identity providers of the built-in authentication for ``iam``/``jwt``/``api-key``."""
    if ctx.plan.entry.auth == "jwt" and ctx.plan.entry.jwt_issuer:
        issuer = ctx.plan.entry.jwt_issuer.rstrip("/")
        return {
            "custom_open_id_connect_providers": {
                "svai": {
                    "enabled": True,
                    "registration": {
                        "client_id": _audience(ctx),
                        "open_id_connect_configuration": {
                            "well_known_open_id_configuration": (
                                f"{issuer}/.well-known/openid-configuration"
                            ),
                        },
                    },
                }
            }
        }
    return {
        "azure_active_directory": {
            "enabled": True,
            "registration": {"client_id": _audience(ctx), "open_id_issuer": _issuer(ctx)},
            "validation": {"allowed_audiences": [_audience(ctx)]},
        }
    }


def lower_container_app(ctx: Context, service: Service) -> None:
    """Add a Container App for ``service`` (HTTP scaling, or KEDA on the queue for a worker)."""
    plan, compute = ctx.plan, service.compute
    group = group_name(ctx, service.name)
    container_app = app_name(plan, service)
    profile = _gpu_profile(service)
    secrets = [
        {
            "name": s.env.lower().replace("_", "-"),
            "key_vault_url": _secret_uri(ctx, s.ref),
            "identity": Ref(f"identity:{service.name}"),
        }
        for s in plan.secrets
    ]
    env: list[dict[str, Any]] = [
        {"name": k, "value": v} for k, v in (*service.env, *runtime_env(plan, service))
    ]
    env += [{"name": "PORT", "value": str(APP_PORT)}, *model_env(ctx)]
    env += [{"name": "AZURE_CLIENT_ID", "value": Ref(f"identity:{service.name}", "client_id")}]
    env += [{"name": s.env, "secret_ref": s.env.lower().replace("_", "-")} for s in plan.secrets]
    if service.role == "worker" and plan.queue is not None:
        env += _worker_env(ctx, service)
    http = _is_http(service)
    probes = (
        [
            _probe("Startup", "/readyz", failures=60),
            _probe("Readiness", "/readyz", failures=3),
            _probe("Liveness", "/healthz", failures=3),
        ]
        if http
        else []
    )
    container: dict[str, Any] = {
        "name": service.name,
        "image": image_ref(ctx, service, plan.model_version),
        # Split like a shell would, but run without one: the handler is data, never shell code.
        "command": shlex.split(compute.handler),
        "resources": container_resources(service),
        "env": env,
        "probes": probes,
    }
    if http:
        rule: dict[str, Any] = {
            "name": "http-concurrency",
            "http": {"metadata": {"concurrentRequests": str(compute.concurrency_per_instance)}},
        }
    else:
        rule = keda_rule(ctx, service)
    configuration: dict[str, Any] = {
        # The gate job routes between an HTTP app's revisions: a new one must stay active at
        # 0% until then. (A worker has no traffic to route: one revision, as before.) The end
        # of a release deactivates the one left at 0% (svai.controller.revisions.retire); no
        # `max_inactive_revisions`: inactive revisions run nothing, the platform keeps 100, and
        # `svai rollback --to` an older version needs its revision to still exist.
        "active_revisions_mode": (
            "Multiple"
            if len(plan.rollout.split) > 1 or (http and gate.moves_service_traffic(plan))
            else "Single"
        ),
        "secrets": secrets,
        "registries": [
            {"server": registry_server(ctx), "identity": Ref(f"identity:{service.name}")}
        ],
    }
    if http:
        configuration["ingress"] = {
            "external": True,
            "target_port": APP_PORT,
            "transport": "http",
            "allow_insecure": False,
            "traffic": _traffic(ctx, container_app),
        }
    args = ctx.located(
        container_app_name=container_app,
        managed_environment_id=Ref("environment"),
        workload_profile_name=_profile_name(profile) if profile else "Consumption",
        identity=_identity(service),
        configuration=configuration,
        template={
            "revision_suffix": naming.revision_suffix(plan.model_version),
            "containers": [container],
            "scale": {
                "min_replicas": compute.min_instances,
                "max_replicas": max(1, compute.max_instances),
                "rules": [rule],
            },
        },
    )
    key = f"app:{service.name}"
    ctx.add(
        "ContainerAppService",
        group,
        key,
        "azure-native:app:ContainerApp",
        ctx.logical(service.name),
        args,
        # The release gate job moves the split (svai.controller.revisions); `up` keeps it.
        ignore_changes=revisions.GATE_OWNED if http and gate.moves_service_traffic(plan) else (),
        # The revision's image is pushed before the app runs it.
        depends_on=(*ctx.grants_of(service.name), "image"),
    )
    if http and plan.entry.auth != "none":
        ctx.add(
            "ContainerAppService",
            group,
            f"auth:{service.name}",
            "azure-native:app:ContainerAppsAuthConfig",
            ctx.logical(service.name, "auth"),
            {
                "resource_group_name": ctx.rg,
                "container_app_name": Ref(key, "name"),
                "auth_config_name": "current",
                "platform": {"enabled": True},
                # Probes reach the container directly, so no path needs to bypass auth.
                "global_validation": {"unauthenticated_client_action": "Return401"},
                "identity_providers": _auth_providers(ctx),
            },
        )


def _probe(kind: str, path: str, *, failures: int) -> dict[str, Any]:
    return {
        "type": kind,
        "http_get": {"path": path, "port": APP_PORT},
        "period_seconds": 2 if kind == "Startup" else 10,
        "failure_threshold": failures,
        "timeout_seconds": 2,
    }


def _traffic(ctx: Context, container: str) -> list[dict[str, Any]]:
    split = ctx.plan.rollout.split
    routed = gate.moves_service_traffic(ctx.plan)  # then a new revision waits to be routed
    if len(split) <= 1 and not routed:
        return [{"latest_revision": True, "weight": 100}]
    parts = [(s.version, s.percent) for s in split] or [(ctx.plan.model_version, 100)]
    return revisions.traffic(container, parts)


def _worker_env(ctx: Context, service: Service) -> list[dict[str, Any]]:
    queue = ctx.plan.queue
    assert queue is not None
    lock = lock_seconds(service)
    renew = service.compute.timeout_s > lock
    return [
        {
            "name": "SVAI_SERVICEBUS_NAMESPACE",
            "value": f"{namespace_name(ctx.plan)}.servicebus.windows.net",
        },
        {"name": "SVAI_SERVICEBUS_QUEUE", "value": QUEUE},
        {"name": "SVAI_QUEUE_KIND", "value": "servicebus"},
        # Service Bus locks last at most 5 minutes: a job that may run longer renews its lock,
        # every half lock duration (the runtime's renewal interval; 0 = never renew).
        {"name": "SVAI_LOCK_RENEW_S", "value": str(lock // 2) if renew else "0"},
    ]


def flex_memory_mb(memory_mb: int) -> int:
    """Return the smallest Flex Consumption instance size (512, 2048, 4096 MB) that fits."""
    for size in _FLEX_MEMORY_MB:
        if memory_mb <= size:
            return size
    raise UsageError(f"Flex Consumption instances have at most 4096 MB; {memory_mb} MB asked")


def lower_function_app(ctx: Context, service: Service) -> None:
    """Add a Flex Consumption function app with its own host storage and always-ready pool."""
    plan, compute = ctx.plan, service.compute
    group = group_name(ctx, service.name)

    add = ctx.adder("FunctionAppService", group, service.name)

    host_account = naming.compact_name(plan, f"st{service.name[:6]}")
    add(
        f"host-storage:{service.name}",
        "azure-native:storage:StorageAccount",
        "host-storage",
        hardened_storage(ctx, host_account),
    )
    if network_built(plan):
        network.private_endpoint(ctx, group, f"host-storage:{service.name}", "blob")
    add(
        f"deployment-container:{service.name}",
        "azure-native:storage:BlobContainer",
        "deployment-container",
        {
            "resource_group_name": ctx.rg,
            "account_name": Ref(f"host-storage:{service.name}", "name"),
            "container_name": "deployment",
            "public_access": "None",
        },
    )
    # The package Flex Consumption runs: OneDeploy's blob name in the deployment container.
    # It is `svai build`'s zip with its dependencies inside (apply builds with them).
    add(
        f"package:{service.name}",
        "azure-native:storage:Blob",
        "package",
        {
            "resource_group_name": ctx.rg,
            "account_name": Ref(f"host-storage:{service.name}", "name"),
            "container_name": "deployment",
            "blob_name": FLEX_PACKAGE_BLOB,
            "type": "Block",
            "content_type": "application/zip",
            "source": FileSource(f"{ctx.build_dir}/function.zip"),
        },
        depends_on=(f"deployment-container:{service.name}",),
    )
    add(
        f"plan:{service.name}",
        "azure-native:web:AppServicePlan",
        "plan",
        ctx.located(
            name=f"asp-{plan.name}-{service.name}",
            kind="functionapp",
            reserved=True,
            sku={"name": "FC1", "tier": "FlexConsumption"},
        ),
    )
    ctx.grant(
        group,
        service.name,
        roles.STORAGE_BLOB_DATA_OWNER,
        Ref(f"host-storage:{service.name}"),
        "host-storage",
    )
    identity = Ref(f"identity:{service.name}")
    client_id = Ref(f"identity:{service.name}", "client_id")
    settings: list[dict[str, Any]] = [
        {"name": "AzureWebJobsStorage__accountName", "value": host_account},
        {"name": "AzureWebJobsStorage__credential", "value": "managedidentity"},
        {"name": "AzureWebJobsStorage__clientId", "value": client_id},
        {
            "name": "APPLICATIONINSIGHTS_CONNECTION_STRING",
            "value": Ref("insights", "connection_string"),
        },
        {
            "name": "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
            "value": Concat(("Authorization=AAD;ClientId=", client_id)),
        },
        {"name": "AZURE_CLIENT_ID", "value": client_id},
    ]
    settings += [{"name": k, "value": v} for k, v in (*service.env, *runtime_env(plan, service))]
    # Key Vault references: App Service resolves them with the user-assigned identity.
    settings += [
        {"name": s.env, "value": f"@Microsoft.KeyVault(SecretUri={_secret_uri(ctx, s.ref)})"}
        for s in plan.secrets
    ]
    trigger = "http" if _is_http(service) else f"function:{service.name}"
    if service.role == "worker" and plan.queue is not None:
        settings += [
            {
                "name": "ServiceBusConnection__fullyQualifiedNamespace",
                "value": f"{namespace_name(plan)}.servicebus.windows.net",
            },
            {"name": "ServiceBusConnection__credential", "value": "managedidentity"},
            {"name": "ServiceBusConnection__clientId", "value": client_id},
            {"name": "SVAI_SERVICEBUS_QUEUE", "value": QUEUE},
        ]
    scale: dict[str, Any] = {
        "always_ready": [{"name": trigger, "instance_count": compute.min_instances}]
        if compute.min_instances > 0
        else [],
        # Flex Consumption accepts 40-1000; a smaller guard is raised to the platform minimum.
        "maximum_instance_count": min(
            _FLEX_MAX_INSTANCES, max(_FLEX_MIN_MAX_INSTANCES, compute.max_instances)
        ),
        "instance_memory_mb": flex_memory_mb(compute.memory_mb),
    }
    if _is_http(service):
        scale["triggers"] = {"http": {"per_instance_concurrency": compute.concurrency_per_instance}}
    function_app = app_name(plan, service)
    add(
        f"app:{service.name}",
        "azure-native:web:WebApp",
        "app",
        ctx.located(
            name=function_app,
            kind="functionapp,linux",
            server_farm_id=Ref(f"plan:{service.name}"),
            https_only=True,
            client_cert_mode="Optional",
            identity=_identity(service),
            key_vault_reference_identity=identity,
            public_network_access="Disabled" if plan.private_network else "Enabled",
            site_config={
                "app_settings": settings,
                "min_tls_version": "1.2",
                "scm_min_tls_version": "1.2",
                "ftps_state": "Disabled",
                "http20_enabled": True,
                # Outbound calls (storage, vault, queue) go through the VNet's private endpoints.
                **({"vnet_route_all_enabled": True} if network_built(plan) else {}),
            },
            **(
                {"virtual_network_subnet_id": network.subnet_id("functions")}
                if network_built(plan)
                else {}
            ),
            function_app_config={
                "deployment": {
                    "storage": {
                        "type": "blobContainer",
                        "value": f"https://{host_account}.blob.core.windows.net/deployment",
                        "authentication": {
                            "type": "UserAssignedIdentity",
                            "user_assigned_identity_resource_id": identity,
                        },
                    }
                },
                "runtime": {"name": "python", "version": FLEX_PYTHON},
                "scale_and_concurrency": scale,
            },
        ),
        depends_on=(*ctx.grants_of(service.name), f"package:{service.name}"),
    )
    if plan.private_network:
        # Inbound calls reach the app through its own private endpoint.
        network.private_endpoint(ctx, group, f"app:{service.name}", "sites")
    if _is_http(service) and plan.entry.auth in ("iam", "jwt"):
        add(
            f"auth:{service.name}",
            "azure-native:web:WebAppAuthSettingsV2",
            "auth",
            {
                "resource_group_name": ctx.rg,
                "name": Ref(f"app:{service.name}", "name"),
                "platform": {"enabled": True},
                "global_validation": {
                    "require_authentication": True,
                    "unauthenticated_client_action": "Return401",
                },
                "identity_providers": _auth_providers(ctx),
            },
        )


def lower_online_endpoint(ctx: Context, service: Service) -> None:
    """Add an Azure ML workspace, managed online endpoint and one deployment per split version."""
    plan, compute = ctx.plan, service.compute
    if service.role != "api":
        raise UsageError(
            f"service {service.name!r}: Azure ML online endpoints serve synchronous requests; "
            f"use {CONTAINER_APPS} or {FUNCTIONS_FLEX} for the {service.role!r} role"
        )
    group = group_name(ctx, service.name)

    add = ctx.adder("OnlineEndpointService", group, service.name)

    workspace = f"mlw-{plan.name}"[:33]
    isolated = plan.private_network or restricts_egress(plan)
    add(
        "workspace",
        "azure-native:machinelearningservices:Workspace",
        "workspace",
        ctx.located(
            workspace_name=workspace,
            sku={"name": "Basic", "tier": "Basic"},
            identity={"type": "SystemAssigned"},
            storage_account=Ref("storage"),
            key_vault=Ref("vault"),
            application_insights=Ref("insights"),
            container_registry=Ref("registry"),
            # The storage account refuses shared keys, so the workspace reaches it by identity.
            system_datastores_auth_mode="identity",
            public_network_access="Disabled" if plan.private_network else "Enabled",
            # Deployments leave through the workspace's managed network, which lets out only
            # its own private endpoints (storage: the model and its start-time fetch, vault,
            # registry) and the rules Azure ML itself needs.
            **(
                {"managed_network": {"isolation_mode": "AllowOnlyApprovedOutbound"}}
                if isolated
                else {}
            ),
        ),
    )
    if plan.private_network:
        network.private_endpoint(ctx, group, "workspace", "amlworkspace")
    endpoint_name = app_name(plan, service)
    auth_mode = _endpoint_auth_mode(ctx)
    deployments = {f"v-{naming.revision_suffix(s.version)}"[:32]: s for s in plan.rollout.split}
    add(
        "endpoint",
        "azure-native:machinelearningservices:OnlineEndpoint",
        "endpoint",
        ctx.located(
            workspace_name=Ref("workspace", "name"),
            endpoint_name=endpoint_name,
            kind="Managed",
            identity=_identity(service),
            properties={
                "auth_mode": auth_mode,
                "public_network_access": "Disabled" if plan.private_network else "Enabled",
                "traffic": {name: s.percent for name, s in deployments.items()},
            },
        ),
    )
    # Console and traffic logs to Log Analytics: the runtime's request lines feed the alerts.
    add(
        "endpoint-logs",
        "azure-native:monitor:DiagnosticSetting",
        "endpoint-logs",
        {
            "name": "svai-logs",
            "resource_uri": Ref("endpoint"),
            "workspace_id": Ref("logs"),
            "log_analytics_destination_type": "Dedicated",
            "logs": [{"category_group": "allLogs", "enabled": True}],
            "metrics": [{"category": "AllMetrics", "enabled": True}],
        },
    )
    for name, split in deployments.items():
        version = naming.revision_suffix(split.version)
        object_key = plan.artifact.object_key.replace(plan.model_version, split.version)
        add(
            f"model:{name}",
            "azure-native:machinelearningservices:ModelVersion",
            f"model-{version}",
            {
                "resource_group_name": ctx.rg,
                "workspace_name": Ref("workspace", "name"),
                "name": plan.name,
                "version": version,
                "properties": {
                    "model_type": "custom_model",
                    "model_uri": (
                        f"https://{naming.compact_name(plan, 'svai')}.blob.core.windows.net"
                        f"/artifacts/{object_key}"
                    ),
                    "tags": {"svai-model-version": split.version},
                },
            },
        )
        add(
            f"environment:{name}",
            "azure-native:machinelearningservices:EnvironmentVersion",
            f"environment-{version}",
            {
                "resource_group_name": ctx.rg,
                "workspace_name": Ref("workspace", "name"),
                "name": f"{plan.name}-runtime",
                "version": version,
                "properties": {
                    "image": image_ref(ctx, service, split.version),
                    "inference_config": {
                        "liveness_route": {"path": "/healthz", "port": APP_PORT},
                        "readiness_route": {"path": "/readyz", "port": APP_PORT},
                        "scoring_route": {"path": "/predict", "port": APP_PORT},
                    },
                    "os_type": "Linux",
                },
            },
            # This release's image is built on apply; earlier versions' images exist already.
            depends_on=("image",) if split.version == plan.model_version else (),
        )
        add(
            f"deployment:{name}",
            "azure-native:machinelearningservices:OnlineDeployment",
            f"deployment-{version}",
            ctx.located(
                workspace_name=Ref("workspace", "name"),
                endpoint_name=Ref("endpoint", "name"),
                deployment_name=name,
                kind="Managed",
                sku={"name": "Default", "capacity": max(1, compute.min_instances)},
                # ``properties`` is a union (managed or Kubernetes), so the SDK cannot rename
                # keys: they are written as the API spells them.
                properties={
                    "endpointComputeType": "Managed",
                    "instanceType": compute.instance_type or "Standard_DS3_v2",
                    "model": Ref(f"model:{name}"),
                    "environmentId": Ref(f"environment:{name}"),
                    "environmentVariables": {
                        **dict(service.env),
                        "SVAI_MODEL_VERSION": split.version,
                        **{e["name"]: e["value"] for e in model_env(ctx)},
                    },
                    "appInsightsEnabled": True,
                    "egressPublicNetworkAccess": "Disabled" if isolated else "Enabled",
                    "scaleSettings": {"scaleType": "Default"},
                    "requestSettings": {
                        "maxConcurrentRequestsPerInstance": compute.concurrency_per_instance,
                        "requestTimeout": naming.duration(
                            min(_ML_MAX_REQUEST_TIMEOUT_S, compute.timeout_s)
                        ),
                    },
                    "livenessProbe": {"period": "PT10S", "failureThreshold": 3},
                    "readinessProbe": {"period": "PT10S", "failureThreshold": 3},
                },
            ),
            depends_on=ctx.grants_of(service.name),
        )
        # Managed endpoints keep at least one instance; autoscale adds instances up to the guard.
        add(
            f"autoscale:{name}",
            "azure-native:monitor:AutoscaleSetting",
            f"autoscale-{version}",
            ctx.located(
                name=f"svai-{plan.name}-{name}",
                enabled=True,
                target_resource_uri=Ref(f"deployment:{name}"),
                profiles=[
                    {
                        "name": "svai",
                        "capacity": {
                            "minimum": str(max(1, compute.min_instances)),
                            "maximum": str(max(1, compute.max_instances)),
                            "default": str(max(1, compute.min_instances)),
                        },
                        "rules": [
                            _autoscale_rule(name, "GreaterThan", 70, "Increase"),
                            _autoscale_rule(name, "LessThan", 25, "Decrease"),
                        ],
                    }
                ],
            ),
        )


def _endpoint_auth_mode(ctx: Context) -> str:
    """Return the managed endpoint's auth mode for the entry's authentication.

    Managed endpoints validate only their own keys, Azure ML tokens and Entra ID tokens, and
    always require one of them (there is no anonymous mode). ``none`` and a third-party ``jwt``
    issuer therefore become Entra ID, which rule ``SVAI_AZ_028`` reports.
    """
    return "Key" if ctx.plan.entry.auth == "api-key" else "AADToken"


def _autoscale_rule(
    deployment: str, operator: str, threshold: float, direction: str
) -> dict[str, Any]:
    return {
        "metric_trigger": {
            "metric_name": "CpuUtilizationPercentage",
            "metric_resource_uri": Ref(f"deployment:{deployment}"),
            "operator": operator,
            "statistic": "Average",
            "threshold": threshold,
            "time_aggregation": "Average",
            "time_grain": "PT1M",
            "time_window": "PT5M",
        },
        "scale_action": {
            "cooldown": "PT5M",
            "direction": direction,
            "type": "ChangeCount",
            "value": "1",
        },
    }
