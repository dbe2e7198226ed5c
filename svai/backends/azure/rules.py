"""Azure infrastructure rules (``SVAI_AZ_###``) over the resources the backend recorded.

Each rule reads recorded inputs (camelCase, as Pulumi received them) and names the closest
Checkov id where one exists. Defaults of the backend pass every rule; each rule has a test
mutant that makes exactly that rule fire.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from svai.backends.azure.roles import BROAD_ROLES
from svai.backends.base import Finding, RecordedResource, Rule, Severity
from svai.backends.claims import MESSAGE_BYTES_ENV, PAYLOAD_BUCKET_ENV, PREFIX, message_limit
from svai.backends.rules import by_type, egress_not_built, fail, get_path, oversized_jobs
from svai.ir import DeploymentPlan

__all__ = ["RULES", "TAGGABLE", "iso_seconds"]

STORAGE = "azure-native:storage:StorageAccount"
CONTAINER = "azure-native:storage:BlobContainer"
MANAGEMENT_POLICY = "azure-native:storage:ManagementPolicy"
VAULT = "azure-native:keyvault:Vault"
QUEUE = "azure-native:servicebus:Queue"
NAMESPACE = "azure-native:servicebus:Namespace"
CONTAINER_APP = "azure-native:app:ContainerApp"
AUTH_CONFIG = "azure-native:app:ContainerAppsAuthConfig"
WEB_APP = "azure-native:web:WebApp"
WEB_AUTH = "azure-native:web:WebAppAuthSettingsV2"
ROLE = "azure-native:authorization:RoleAssignment"
METRIC_ALERT = "azure-native:monitor:MetricAlert"
LOG_ALERT = "azure-native:monitor:ScheduledQueryRule"
WORKSPACE = "azure-native:operationalinsights:Workspace"
INSIGHTS = "azure-native:applicationinsights:Component"
BUDGET = "azure-native:consumption:Budget"
COSMOS = "azure-native:cosmosdb:DatabaseAccount"
REGISTRY = "azure-native:containerregistry:Registry"
ONLINE_DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
ONLINE_ENDPOINT = "azure-native:machinelearningservices:OnlineEndpoint"
AUTOSCALE = "azure-native:monitor:AutoscaleSetting"
ENVIRONMENT = "azure-native:app:ManagedEnvironment"
ML_WORKSPACE = "azure-native:machinelearningservices:Workspace"
VNET = "azure-native:network:VirtualNetwork"
NSG = "azure-native:network:NetworkSecurityGroup"
PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"

TAGGABLE = frozenset(
    {
        "azure-native:resources:ResourceGroup",
        "azure-native:managedidentity:UserAssignedIdentity",
        STORAGE,
        VAULT,
        WORKSPACE,
        INSIGHTS,
        "azure-native:monitor:ActionGroup",
        REGISTRY,
        ENVIRONMENT,
        CONTAINER_APP,
        "azure-native:web:AppServicePlan",
        WEB_APP,
        ML_WORKSPACE,
        "azure-native:machinelearningservices:OnlineEndpoint",
        ONLINE_DEPLOYMENT,
        AUTOSCALE,
        NAMESPACE,
        COSMOS,
        "azure-native:cosmosdb:SqlResourceSqlDatabase",
        "azure-native:cosmosdb:SqlResourceSqlContainer",
        METRIC_ALERT,
        LOG_ALERT,
        NSG,
        "azure-native:monitor:PrivateLinkScope",
    }
)
"""Types whose resources take ``tags``; every one must carry the model version."""

_BROAD_SCOPE = re.compile(r"^/subscriptions/[^/]+(/resourceGroups/[^/]+)?/?$", re.IGNORECASE)
_ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_MAX_LOCK_S = 300


def iso_seconds(text: Any) -> float | None:
    """Return the seconds of an ISO 8601 duration (``PT2M30S``), ``None`` when unreadable."""
    match = _ISO.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


Check = Callable[[Sequence[RecordedResource], DeploymentPlan], Iterable[Finding]]


def _each(token: str, test: Callable[[RecordedResource], str | None]) -> Check:
    """A check that applies ``test`` to every resource of ``token`` (a message means failure)."""
    # A partial, not a closure: the loop lives in a module function that runs when a rule is
    # evaluated, where mutation testing can change it (``_each`` itself runs at import, before
    # mutmut switches a mutant on, so no test can see a change here).
    # pragma: no mutate block
    return functools.partial(_check_each, token, test)


def _check_each(
    token: str,
    test: Callable[[RecordedResource], str | None],
    resources: Sequence[RecordedResource],
    plan: DeploymentPlan,
) -> Iterator[Finding]:
    for resource in by_type(resources, token):
        message = test(resource)
        if message is not None:
            yield fail(message, resource.name)


def _https_only(r: RecordedResource) -> str | None:
    if r.inputs.get("enableHttpsTrafficOnly") is not True:
        return "storage account accepts plain HTTP (enableHttpsTrafficOnly is not true)"
    return None


def _storage_tls(r: RecordedResource) -> str | None:
    if r.inputs.get("minimumTlsVersion") not in ("TLS1_2", "TLS1_3"):
        return f"storage account allows TLS below 1.2 ({r.inputs.get('minimumTlsVersion')!r})"
    return None


def _no_public_blobs(r: RecordedResource) -> str | None:
    if r.inputs.get("allowBlobPublicAccess") is not False:
        return "storage account allows anonymous blob access (allowBlobPublicAccess is not false)"
    return None


def _private_container(r: RecordedResource) -> str | None:
    if r.inputs.get("publicAccess", "None") != "None":
        return f"blob container is public ({r.inputs.get('publicAccess')!r})"
    return None


def _purge_protection(r: RecordedResource) -> str | None:
    if get_path(r.inputs, "properties.enablePurgeProtection") is not True:
        return "Key Vault can be purged (enablePurgeProtection is not true)"
    return None


def _soft_delete(r: RecordedResource) -> str | None:
    if get_path(r.inputs, "properties.enableSoftDelete") is False:
        return "Key Vault soft delete is off"
    days = get_path(r.inputs, "properties.softDeleteRetentionInDays", 90)
    if not isinstance(days, int | float) or days < 7:
        return f"Key Vault soft-delete retention is {days!r} days (at least 7)"
    return None


def _vault_rbac(r: RecordedResource) -> str | None:
    if get_path(r.inputs, "properties.enableRbacAuthorization") is not True:
        return "Key Vault uses access policies instead of Azure RBAC"
    return None


def _dead_letter_on_expiry(r: RecordedResource) -> str | None:
    if r.inputs.get("deadLetteringOnMessageExpiration") is not True:
        return "expired jobs are dropped instead of dead-lettered"
    return None


def _max_delivery(resources: Sequence[RecordedResource], plan: DeploymentPlan) -> Iterator[Finding]:
    want = plan.queue.max_receive_count if plan.queue is not None else None
    for r in by_type(resources, QUEUE):
        got = r.inputs.get("maxDeliveryCount")
        if not isinstance(got, int) or got < 1:
            yield fail("maxDeliveryCount is not set: poison jobs are retried 10 times", r.name)
        elif want is not None and got != want:
            yield fail(f"maxDeliveryCount is {got}, the plan asks for {want}", r.name)


def _lock_duration(
    resources: Sequence[RecordedResource], plan: DeploymentPlan
) -> Iterator[Finding]:
    worker = next((s for s in plan.services if s.role == "worker"), None)
    need = min(_MAX_LOCK_S, worker.compute.timeout_s) if worker is not None else 0.0
    for r in by_type(resources, QUEUE):
        lock = iso_seconds(r.inputs.get("lockDuration"))
        if lock is None or lock > _MAX_LOCK_S or lock < need:
            yield fail(
                f"lockDuration {r.inputs.get('lockDuration')!r} does not cover the worker "
                f"timeout ({need:g} s, at most 300 s; longer jobs renew their lock)",
                r.name,
            )


def _auth_targets(resources: Sequence[RecordedResource], token: str, field: str) -> set[str]:
    """Names of the apps that a built-in authentication resource protects (and refuses 401)."""
    names: set[str] = set()
    for r in by_type(resources, token):
        action = get_path(r.inputs, "globalValidation.unauthenticatedClientAction")
        if get_path(r.inputs, "platform.enabled") is True and action == "Return401":
            names.add(str(r.inputs.get(field)))
    return names


def _no_open_ingress(
    resources: Sequence[RecordedResource], plan: DeploymentPlan
) -> Iterator[Finding]:
    if plan.entry.auth == "none":
        return
    protected = _auth_targets(resources, AUTH_CONFIG, "containerAppName")
    for r in by_type(resources, CONTAINER_APP):
        external = get_path(r.inputs, "configuration.ingress.external") is True
        names = {r.name, str(r.inputs.get("containerAppName"))}
        if external and not names & protected:
            yield fail(
                "Container App is reachable from the internet without authentication", r.name
            )
    web_protected = _auth_targets(resources, WEB_AUTH, "name")
    if plan.entry.auth in ("iam", "jwt"):
        for r in by_type(resources, WEB_APP):
            is_http = any(
                s.get("name") == "http"
                for s in get_path(r.inputs, "functionAppConfig.scaleAndConcurrency.alwaysReady", [])
            ) or get_path(r.inputs, "functionAppConfig.scaleAndConcurrency.triggers.http")
            if is_http and not {r.name, str(r.inputs.get("name"))} & web_protected:
                yield fail(
                    "function app serves HTTP without Entra ID / OIDC authentication", r.name
                )


def _narrow_scope(r: RecordedResource) -> str | None:
    scope = r.inputs.get("scope")
    if not isinstance(scope, str) or _BROAD_SCOPE.match(scope):
        return f"role assignment scope {scope!r} is a subscription or resource group"
    return None


def _no_broad_role(r: RecordedResource) -> str | None:
    role = str(r.inputs.get("roleDefinitionId")).rpartition("/")[2].lower()
    if role in BROAD_ROLES:
        return f"role assignment grants {BROAD_ROLES[role]}"
    return None


def _alerts_present(
    resources: Sequence[RecordedResource], plan: DeploymentPlan
) -> Iterator[Finding]:
    alerts = by_type(resources, METRIC_ALERT, LOG_ALERT)
    armed = {
        str(a.inputs.get("ruleName"))
        for a in alerts
        if a.inputs.get("enabled") is not False and a.inputs.get("actions")
    }
    for alarm in plan.alarms:
        if alarm.metric == "dlq_depth" and plan.queue is None:
            continue
        if f"{plan.name}-{alarm.name}" not in armed:
            yield fail(f"no enabled alert with an action for alarm {alarm.name!r} ({alarm.metric})")


def _max_replicas(resources: Sequence[RecordedResource], plan: DeploymentPlan) -> Iterator[Finding]:
    for r in by_type(resources, CONTAINER_APP):
        top = get_path(r.inputs, "template.scale.maxReplicas")
        low = get_path(r.inputs, "template.scale.minReplicas")
        if not isinstance(top, int) or top < 1 or (isinstance(low, int) and top < low):
            yield fail(f"Container App has no replica ceiling (maxReplicas {top!r})", r.name)
    for r in by_type(resources, WEB_APP):
        top = get_path(r.inputs, "functionAppConfig.scaleAndConcurrency.maximumInstanceCount")
        if not isinstance(top, int) or top < 1:
            yield fail(f"function app has no instance ceiling ({top!r})", r.name)
    deployments = by_type(resources, ONLINE_DEPLOYMENT)
    capped = [
        a
        for a in by_type(resources, AUTOSCALE)
        if get_path(a.inputs, "profiles.0.capacity.maximum") is not None
    ]
    if len(capped) < len(deployments):
        yield fail("an Azure ML deployment has no autoscale maximum")


def _log_retention(
    resources: Sequence[RecordedResource], plan: DeploymentPlan
) -> Iterator[Finding]:
    want = min(730, max(30, plan.log_retention_days))
    for r in by_type(resources, WORKSPACE):
        days = r.inputs.get("retentionInDays")
        if not isinstance(days, int) or days < want:
            yield fail(f"logs kept {days!r} days; the plan asks for {want}", r.name)


def _function_https(r: RecordedResource) -> str | None:
    if r.inputs.get("httpsOnly") is not True:
        return "function app accepts plain HTTP (httpsOnly is not true)"
    return None


def _function_tls(r: RecordedResource) -> str | None:
    if get_path(r.inputs, "siteConfig.minTlsVersion") not in ("1.2", "1.3"):
        return "function app allows TLS below 1.2"
    return None


def _secrets_by_reference(
    resources: Sequence[RecordedResource], plan: DeploymentPlan
) -> Iterator[Finding]:
    envs = {s.env for s in plan.secrets}
    for r in by_type(resources, CONTAINER_APP):
        for secret in get_path(r.inputs, "configuration.secrets") or []:
            if "value" in secret or not secret.get("keyVaultUrl"):
                yield fail(
                    f"Container App secret {secret.get('name')!r} is not a Key Vault reference",
                    r.name,
                )
        for container in get_path(r.inputs, "template.containers") or []:
            for var in container.get("env", []):
                if var.get("name") in envs and "secretRef" not in var:
                    yield fail(f"{var.get('name')} is passed as a plain value", r.name)
    for r in by_type(resources, WEB_APP):
        for setting in get_path(r.inputs, "siteConfig.appSettings") or []:
            value = str(setting.get("value"))
            if setting.get("name") in envs and not value.startswith("@Microsoft.KeyVault("):
                yield fail(
                    f"{setting.get('name')} is an app setting, not a Key Vault reference", r.name
                )


def _bus_local_auth(r: RecordedResource) -> str | None:
    if r.inputs.get("disableLocalAuth") is not True:
        return "Service Bus accepts SAS keys (disableLocalAuth is not true)"
    return None


def _cosmos_local_auth(r: RecordedResource) -> str | None:
    if r.inputs.get("disableLocalAuth") is not True:
        return "Cosmos DB accepts account keys (disableLocalAuth is not true)"
    return None


def _budget(resources: Sequence[RecordedResource], plan: DeploymentPlan) -> Iterator[Finding]:
    if plan.budget is None:
        return
    budgets = [b for b in by_type(resources, BUDGET) if b.inputs.get("notifications")]
    if not budgets:
        yield fail(f"no budget with notifications for {plan.budget.monthly_usd:g} USD/month")


def _tagged(resources: Sequence[RecordedResource], plan: DeploymentPlan) -> Iterator[Finding]:
    for r in resources:
        if r.type in TAGGABLE:
            tags = r.inputs.get("tags") or {}
            if tags.get("svai-model-version") != plan.model_version:
                yield fail("missing the svai-model-version tag", r.name)


def _registry_admin(r: RecordedResource) -> str | None:
    if r.inputs.get("adminUserEnabled") is not False:
        return "container registry admin user is enabled (shared password)"
    return None


def _shared_key(r: RecordedResource) -> str | None:
    if r.inputs.get("allowSharedKeyAccess") is not False:
        return "storage account accepts account keys and SAS (allowSharedKeyAccess is not false)"
    return None


def _insecure_ingress(r: RecordedResource) -> str | None:
    if get_path(r.inputs, "configuration.ingress.allowInsecure") is True:
        return "Container App ingress accepts plain HTTP"
    return None


def _artifact_cmk(resources: Sequence[RecordedResource], plan: DeploymentPlan) -> Iterator[Finding]:
    if plan.encryption.customer_key is None and not plan.encryption.create_key:
        return
    accounts = by_type(resources, STORAGE)
    keyed = [
        a for a in accounts if get_path(a.inputs, "encryption.keySource") == "Microsoft.Keyvault"
    ]
    if accounts and not keyed:
        yield fail("the artifact store is not encrypted with the plan's key", accounts[0].name)


def _auth_as_written(
    resources: Sequence[RecordedResource], plan: DeploymentPlan
) -> Iterator[Finding]:
    entry = plan.entry
    entra = "login.microsoftonline.com" in (entry.jwt_issuer or "")
    for r in by_type(resources, ONLINE_ENDPOINT):
        mode = get_path(r.inputs, "properties.authMode")  # pragma: no mutate (finding text only)
        if entry.auth == "jwt" and not entra:
            yield fail(
                f"the managed endpoint validates {mode} tokens, not JWTs from {entry.jwt_issuer}",
                r.name,
                "put API Management (validate-jwt) in front, or serve from Container Apps",
            )
        elif entry.auth == "none":
            yield fail(f"managed endpoints cannot be anonymous; callers need {mode}", r.name)
    if entry.auth == "api-key":
        for r in by_type(resources, AUTH_CONFIG):
            yield fail(
                "Container Apps has no API keys: callers need Entra ID tokens instead",
                r.name,
                "put API Management (subscription keys) in front, or use auth: iam",
            )


_PRIVATE_DATA = (
    STORAGE,
    VAULT,
    COSMOS,
    NAMESPACE,
    ML_WORKSPACE,
)


def _private_data(resources: Sequence[RecordedResource], plan: DeploymentPlan) -> Iterator[Finding]:
    if not plan.private_network:
        return
    for r in by_type(resources, *_PRIVATE_DATA):
        access = r.inputs.get("publicNetworkAccess") or get_path(
            r.inputs, "properties.publicNetworkAccess"
        )
        if access != "Disabled":
            yield fail("reachable from the internet although the plan is private", r.name)


def _denies_internet(nsg: RecordedResource) -> bool:
    """Whether ``nsg`` denies outbound internet traffic and no rule before it allows some."""
    rules = [r for r in nsg.inputs.get("securityRules") or [] if r.get("direction") == "Outbound"]
    internet = [r for r in rules if r.get("destinationAddressPrefix") in ("Internet", "*")]
    denies = [r["priority"] for r in internet if r.get("access") == "Deny"]
    allows = [r["priority"] for r in internet if r.get("access") == "Allow"]
    return bool(denies) and all(a > min(denies) for a in allows)


def _vnet_egress_missing(resources: Sequence[RecordedResource]) -> list[str]:
    """What the Container Apps and function apps lack to leave only through the VNet."""
    missing = []
    environments = by_type(resources, ENVIRONMENT)
    if any(
        not get_path(e.inputs, "vnetConfiguration.infrastructureSubnetId") for e in environments
    ):
        missing.append("the Container Apps environment is not VNet-integrated")
    apps = by_type(resources, WEB_APP)
    if any(
        not a.inputs.get("virtualNetworkSubnetId")
        or get_path(a.inputs, "siteConfig.vnetRouteAllEnabled") is not True
        for a in apps
    ):
        missing.append("a function app does not route all its traffic into the VNet")
    integrated = [
        subnet
        for vnet in by_type(resources, VNET)
        for subnet in vnet.inputs.get("subnets") or []
        if subnet.get("delegations")
    ]
    nsgs = by_type(resources, NSG)
    if not integrated or any(not s.get("networkSecurityGroup") for s in integrated):
        missing.append("the services' subnets have no network security group")
    elif not nsgs or not all(_denies_internet(n) for n in nsgs):
        missing.append("the subnets' network security group does not deny the internet")
    links = {
        group
        for endpoint in by_type(resources, PRIVATE_ENDPOINT)
        for connection in endpoint.inputs.get("privateLinkServiceConnections") or []
        for group in connection.get("groupIds") or []
    }
    if "blob" not in links:
        missing.append("the artifact storage (the model fetch's path) has no private endpoint")
    if environments and by_type(resources, REGISTRY) and "registry" not in links:
        missing.append("the container registry has no private endpoint")
    return missing


def _egress(resources: Sequence[RecordedResource], plan: DeploymentPlan) -> Iterator[Finding]:
    # Built: Container Apps and function apps send everything into the VNet, whose NSG denies
    # the internet and whose private endpoints reach storage (the model fetch) and the
    # registry; Azure ML workspaces let out only approved traffic, deployments no public egress.
    apps = by_type(resources, CONTAINER_APP, WEB_APP)
    missing = _vnet_egress_missing(resources) if apps else []
    if any(
        get_path(w.inputs, "managedNetwork.isolationMode") != "AllowOnlyApprovedOutbound"
        for w in by_type(resources, ML_WORKSPACE)
    ):
        missing.append("the Azure ML workspace's managed network allows any outbound traffic")
    if any(
        get_path(d.inputs, "properties.egressPublicNetworkAccess") != "Disabled"
        for d in by_type(resources, ONLINE_DEPLOYMENT)
    ):
        missing.append("an Azure ML deployment allows public egress")
    yield from egress_not_built(plan, not missing, "; ".join(missing))


def _private_registry(
    resources: Sequence[RecordedResource], plan: DeploymentPlan
) -> Iterator[Finding]:
    if not plan.private_network:
        return
    for r in by_type(resources, REGISTRY):
        if (
            get_path(r.inputs, "sku.name") != "Premium"
            or r.inputs.get("publicNetworkAccess") != "Disabled"
        ):
            yield fail(
                "the container registry is reachable from the internet although the plan is "
                "private (it needs the Premium tier, public network access disabled and a "
                "private endpoint)",
                r.name,
            )


def _env_names(resource: RecordedResource) -> set[str]:
    containers = get_path(resource.inputs, "template.containers") or []
    settings = get_path(resource.inputs, "siteConfig.appSettings") or []
    return {str(v.get("name")) for c in containers for v in c.get("env", [])} | {
        str(s.get("name")) for s in settings
    }


def _job_size(resources: Sequence[RecordedResource], plan: DeploymentPlan) -> Iterator[Finding]:
    # Built: a lifecycle rule expires the stored bodies, and the front knows the container and
    # the queue's limit.
    expiring = any(
        f"artifacts/{PREFIX}" in (get_path(rule, "definition.filters.prefixMatch") or [])
        for policy in by_type(resources, MANAGEMENT_POLICY)
        for rule in get_path(policy.inputs, "policy.rules", []) or []
    )
    fronts = [
        r
        for r in by_type(resources, CONTAINER_APP, WEB_APP)
        if {PAYLOAD_BUCKET_ENV, MESSAGE_BYTES_ENV} <= _env_names(r)
    ]
    if not (expiring and fronts):
        premium = any(
            get_path(n.inputs, "sku.name") == "Premium" for n in by_type(resources, NAMESPACE)
        )
        yield from oversized_jobs(
            plan,
            message_limit("azure", private=premium),
            "Service Bus",  # pragma: no mutate (the queue's name, for the finding's text)
        )


def _rule(
    number: int,
    severity: Severity,
    title: str,
    check: Check,
    checkov: str | None = None,
    hint: str = "",  # pragma: no mutate (read at import, as the body below)
) -> Rule:
    # Runs while the module is imported, before mutmut switches a mutant on: no test could see
    # a change here. The rule-table tests check what it builds (ids, clouds, Checkov ids).
    # pragma: no mutate block
    return Rule(f"SVAI_AZ_{number:03d}", severity, title, check, checkov, hint, ("azure",))


RULES: tuple[Rule, ...] = (
    _rule(
        1, "high", "Storage accounts accept HTTPS only", _each(STORAGE, _https_only), "CKV_AZURE_3"
    ),
    _rule(
        2, "high", "Storage accounts require TLS 1.2+", _each(STORAGE, _storage_tls), "CKV_AZURE_44"
    ),
    _rule(
        3,
        "high",
        "Storage accounts forbid anonymous blob access",
        _each(STORAGE, _no_public_blobs),
        "CKV_AZURE_190",
    ),
    _rule(
        4,
        "high",
        "Blob containers are private",
        _each(CONTAINER, _private_container),
        "CKV_AZURE_34",
    ),
    _rule(
        5,
        "high",
        "Key Vault has purge protection",
        _each(VAULT, _purge_protection),
        "CKV_AZURE_110",
    ),
    _rule(
        6,
        "medium",
        "Key Vault keeps deleted secrets recoverable",
        _each(VAULT, _soft_delete),
        "CKV_AZURE_42",
    ),
    _rule(7, "medium", "Key Vault uses Azure RBAC authorisation", _each(VAULT, _vault_rbac)),
    _rule(8, "high", "Expired jobs are dead-lettered", _each(QUEUE, _dead_letter_on_expiry)),
    _rule(9, "high", "maxDeliveryCount is set to the plan's retry budget", _max_delivery),
    _rule(10, "medium", "The queue lock covers the worker timeout (max 5 min)", _lock_duration),
    _rule(
        11,
        "high",
        "No external ingress without authentication unless the spec asks for none",
        _no_open_ingress,
        "CKV_AZURE_13",
        "set api.auth (iam/jwt) or auth: none explicitly",
    ),
    _rule(
        12,
        "high",
        "Role assignments target one resource, not a subscription or group",
        _each(ROLE, _narrow_scope),
    ),
    _rule(
        13,
        "high",
        "No Owner, Contributor or User Access Administrator grants",
        _each(ROLE, _no_broad_role),
    ),
    _rule(14, "medium", "Every plan alarm has an enabled alert with an action", _alerts_present),
    _rule(15, "medium", "Every service has a scale ceiling", _max_replicas),
    _rule(16, "medium", "Logs are kept as long as the plan asks (>= 30 days)", _log_retention),
    _rule(
        17,
        "high",
        "Function apps accept HTTPS only",
        _each(WEB_APP, _function_https),
        "CKV_AZURE_70",
    ),
    _rule(
        18, "high", "Function apps require TLS 1.2+", _each(WEB_APP, _function_tls), "CKV_AZURE_145"
    ),
    _rule(19, "high", "Secrets are Key Vault references, never values", _secrets_by_reference),
    _rule(
        20,
        "medium",
        "Service Bus refuses SAS keys",
        _each(NAMESPACE, _bus_local_auth),
        "CKV_AZURE_203",
    ),
    _rule(
        21,
        "medium",
        "Cosmos DB refuses account keys",
        _each(COSMOS, _cosmos_local_auth),
        "CKV_AZURE_140",
    ),
    _rule(22, "medium", "A budget with notifications watches the deployment", _budget),
    _rule(23, "low", "Every taggable resource carries the model version", _tagged),
    _rule(
        24,
        "medium",
        "Container registry admin user is disabled",
        _each(REGISTRY, _registry_admin),
        "CKV_AZURE_137",
    ),
    _rule(
        25,
        "medium",
        "Storage accounts refuse shared keys",
        _each(STORAGE, _shared_key),
        "CKV2_AZURE_40",
    ),
    _rule(
        26,
        "high",
        "Container App ingress refuses plain HTTP",
        _each(CONTAINER_APP, _insecure_ingress),
    ),
    _rule(
        27,
        "medium",
        "The artifact store uses the plan's customer-managed key",
        _artifact_cmk,
        "CKV2_AZURE_1",
    ),
    _rule(
        28,
        "medium",
        "The entry authenticates callers the way the spec says",
        _auth_as_written,
    ),
    _rule(
        29,
        "high",
        "On a private network, data services refuse public network access",
        _private_data,
        "CKV_AZURE_59",
    ),
    _rule(
        30,
        "high",
        "The outbound restriction the spec declares is built",
        _egress,
        None,
        "deploy this target with security.network.egress: all, or to a cloud that builds it",
    ),
    _rule(
        31,
        "high",
        "On a private network, the container registry is private",
        _private_registry,
        "CKV_AZURE_139",
        "keep the registry on Premium with public network access disabled, as svai builds it",
    ),
    _rule(
        32,
        "high",
        "Async payloads fit the queue's message limit",
        _job_size,
        None,
        "lower api.max_payload to the queue's limit",
    ),
)
"""Every Azure rule, in id order."""
