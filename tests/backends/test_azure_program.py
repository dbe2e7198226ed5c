"""The Azure backend's Pulumi program, recorded offline under the shared mocks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import pytest
from plans import CANARY_SECRET, VERSION, async_plan, sync_plan

from svai.backends.azure import AzureBackend
from svai.backends.azure.rules import TAGGABLE
from svai.backends.base import RecordedResource
from svai.backends.gate import automatic
from svai.backends.preview import record
from svai.backends.registry import get_backend
from svai.backends.rules import by_type
from svai.ir import DeploymentPlan

CA = "azure.containerapps.consumption"
FLEX = "azure.functions.flex_consumption"
ML = "azure.ml.managed_online_endpoint"
Resources = tuple[RecordedResource, ...]


def _gpu(plan: DeploymentPlan, gpu: str = "nvidia-t4") -> DeploymentPlan:
    api = plan.services[0]
    compute = dataclasses.replace(api.compute, gpu_type=gpu, gpu_count=1, memory_mb=16384, vcpu=4)
    return dataclasses.replace(plan, services=(dataclasses.replace(api, compute=compute),))


PLANS: dict[str, Callable[[], DeploymentPlan]] = {
    "ca-cpu": lambda: sync_plan("azure", CA, min_instances=2, max_instances=9),
    "ca-gpu": lambda: _gpu(sync_plan("azure", CA, min_instances=0, max_instances=3, canary=True)),
    "flex": lambda: sync_plan("azure", FLEX, min_instances=3, max_instances=150, cache=True),
    "ml": lambda: sync_plan("azure", ML, canary=True, auth="api-key"),
    "async-ca": lambda: async_plan("azure", CA, max_receive_count=7, worker_timeout_s=600),
    "async-flex": lambda: async_plan("azure", FLEX, auth="jwt"),
    "flex-open": lambda: sync_plan("azure", FLEX, auth="none"),
    "private": lambda: dataclasses.replace(async_plan("azure", CA), private_network=True),
}


def _backend() -> AzureBackend:
    return AzureBackend(today=lambda: dt.date(2026, 11, 27))


@cache
def recorded(key: str) -> Resources:
    """The recording of ``PLANS[key]`` (each plan is recorded once per test run).

    Every recording runs with the canary value in the secret's environment variable, where a
    careless program would pick it up.
    """
    plan = PLANS[key]()
    backend = _backend()
    before = os.environ.get("HF_TOKEN")
    os.environ["HF_TOKEN"] = CANARY_SECRET
    try:
        return record(lambda: backend.program(plan))
    finally:
        if before is None:
            del os.environ["HF_TOKEN"]
        else:
            os.environ["HF_TOKEN"] = before


def _one(
    resources: Sequence[RecordedResource], token: str, name: str | None = None
) -> dict[str, Any]:
    matches = [r for r in resources if r.type == token and (name is None or r.name == name)]
    assert len(matches) == 1, f"{token} {name}: {[m.name for m in matches]}"
    return dict(matches[0].inputs)


def test_registry_loads_the_azure_backend() -> None:
    backend = get_backend("azure")
    assert isinstance(backend, AzureBackend) and backend.cloud == "azure"
    assert [r.id for r in backend.rules()] == [f"SVAI_AZ_{i:03d}" for i in range(1, 33)]


@pytest.mark.parametrize("key", sorted(PLANS))
def test_every_resource_sits_in_one_svai_component(key: str) -> None:
    resources = recorded(key)
    components = [r for r in resources if r.type.startswith("svai:azure:")]
    assert components[0].type == "svai:azure:Foundation"
    assert components[-1].type == "svai:azure:Alerts"
    names = {c.name for c in components}
    for resource in resources:
        if resource not in components:
            assert resource.parent in names and resource.component == resource.parent


@pytest.mark.parametrize("key", sorted(PLANS))
def test_foundation_storage_and_vault_are_hardened(key: str) -> None:
    resources = recorded(key)
    for account in by_type(resources, "azure-native:storage:StorageAccount"):
        inputs = account.inputs
        assert inputs["enableHttpsTrafficOnly"] is True
        assert inputs["minimumTlsVersion"] == "TLS1_2"
        assert inputs["allowBlobPublicAccess"] is False
        assert inputs["allowSharedKeyAccess"] is False
    for container in by_type(resources, "azure-native:storage:BlobContainer"):
        assert container.inputs["publicAccess"] == "None"
    artifacts = by_type(resources, "azure-native:storage:StorageAccount")[0].inputs
    assert artifacts["encryption"]["keySource"] == "Microsoft.Keyvault"
    assert artifacts["encryption"]["keyVaultProperties"]["keyName"] == "artifacts"
    assert artifacts["encryption"]["requireInfrastructureEncryption"] is True
    key = _one(resources, "azure-native:keyvault:Key")
    assert key["properties"]["kty"] == "RSA" and key["properties"]["keySize"] == 3072
    blob = _one(resources, "azure-native:storage:BlobServiceProperties")
    assert blob["isVersioningEnabled"] is True
    vault = _one(resources, "azure-native:keyvault:Vault")["properties"]
    assert vault["enableRbacAuthorization"] is True
    assert vault["enableSoftDelete"] is True and vault["enablePurgeProtection"] is True
    assert vault["tenantId"] == "00000000-0000-0000-0000-000000000001"


@pytest.mark.parametrize("key", sorted(PLANS))
def test_every_taggable_resource_carries_the_model_version(key: str) -> None:
    taggable = [r for r in recorded(key) if r.type in TAGGABLE]
    assert len(taggable) > 10
    for resource in taggable:
        assert resource.inputs["tags"]["svai-model-version"] == VERSION, resource.name


@pytest.mark.parametrize("key", sorted(PLANS))
def test_one_identity_per_service_and_narrow_role_assignments(key: str) -> None:
    plan = PLANS[key]()
    resources = recorded(key)
    identities = by_type(resources, "azure-native:managedidentity:UserAssignedIdentity")
    # One per service, plus the artifact store's key identity (and the release gate's, on a
    # canary plan in a Container Apps environment: svai.backends.azure.gate).
    environment = by_type(resources, "azure-native:app:ManagedEnvironment")
    gate = [f"id-{plan.name}-gate"] if automatic(plan) and environment else []
    assert sorted(i.inputs["resourceName"] for i in identities) == sorted(
        [f"id-{plan.name}-{s.name}" for s in plan.services] + [f"id-{plan.name}-storage", *gate]
    )
    for grant in by_type(resources, "azure-native:authorization:RoleAssignment"):
        scope = grant.inputs["scope"]
        assert "/providers/" in scope, scope  # one resource, never a subscription or group
        assert grant.inputs["roleDefinitionId"].startswith("/subscriptions/00000000-")


def test_container_app_cpu_scales_on_http_concurrency_with_probes() -> None:
    resources = recorded("ca-cpu")
    app = _one(resources, "azure-native:app:ContainerApp")
    scale = app["template"]["scale"]
    assert (scale["minReplicas"], scale["maxReplicas"]) == (2, 9)
    assert scale["rules"] == [
        {"http": {"metadata": {"concurrentRequests": "8"}}, "name": "http-concurrency"}
    ]
    container = app["template"]["containers"][0]
    probes = {p["type"]: p["httpGet"]["path"] for p in container["probes"]}
    assert probes == {"Startup": "/readyz", "Readiness": "/readyz", "Liveness": "/healthz"}
    assert app["workloadProfileName"] == "Consumption"
    assert app["identity"]["type"] == "UserAssigned"
    ingress = app["configuration"]["ingress"]
    assert ingress["external"] is True and ingress["allowInsecure"] is False
    assert ingress["traffic"] == [{"latestRevision": True, "weight": 100}]
    auth = _one(resources, "azure-native:app:ContainerAppsAuthConfig")
    assert auth["globalValidation"]["unauthenticatedClientAction"] == "Return401"
    assert auth["containerAppName"] == "sentiment-api"
    entra = auth["identityProviders"]["azureActiveDirectory"]
    assert entra["registration"]["openIdIssuer"].startswith("https://login.microsoftonline.com/")


def test_container_app_secrets_are_key_vault_references() -> None:
    app = _one(recorded("ca-cpu"), "azure-native:app:ContainerApp")
    (secret,) = app["configuration"]["secrets"]
    assert secret["keyVaultUrl"] == "https://svai-vault.vault.azure.net/secrets/hf-token"
    assert secret["identity"].endswith("sentiment-api-identity") and "value" not in secret
    env = app["template"]["containers"][0]["env"]
    assert {"name": "HF_TOKEN", "secretRef": "hf-token"} in env


def test_gpu_container_app_runs_on_a_serverless_gpu_profile_with_a_canary_split() -> None:
    resources = recorded("ca-gpu")
    environment = _one(resources, "azure-native:app:ManagedEnvironment")
    assert {"name": "gpu-t4", "workloadProfileType": "Consumption-GPU-NC8as-T4"} in environment[
        "workloadProfiles"
    ]
    app = _one(resources, "azure-native:app:ContainerApp")
    assert app["workloadProfileName"] == "gpu-t4"
    assert app["template"]["scale"]["minReplicas"] == 0
    assert app["template"]["containers"][0]["resources"] == {"cpu": 4, "memory": "16Gi"}
    assert app["configuration"]["activeRevisionsMode"] == "Multiple"
    weights = {t["revisionName"]: t["weight"] for t in app["configuration"]["ingress"]["traffic"]}
    assert weights == {"ca-sentiment-api--mv-0a1b2c3d4e5f": 90, f"ca-sentiment-api--{VERSION}": 10}


def test_functions_flex_maps_warm_pool_guard_and_identity_storage() -> None:
    resources = recorded("flex")
    plan = _one(resources, "azure-native:web:AppServicePlan")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    app = _one(resources, "azure-native:web:WebApp")
    assert app["kind"] == "functionapp,linux" and app["httpsOnly"] is True
    config = app["functionAppConfig"]
    scale = config["scaleAndConcurrency"]
    assert scale["alwaysReady"] == [{"instanceCount": 3, "name": "http"}]
    assert scale["maximumInstanceCount"] == 150
    assert scale["instanceMemoryMB"] == 4096
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"]["type"] == "UserAssignedIdentity"
    settings = {s["name"]: s["value"] for s in app["siteConfig"]["appSettings"]}
    assert settings["HF_TOKEN"] == (
        "@Microsoft.KeyVault(SecretUri=https://svai-vault.vault.azure.net/secrets/hf-token)"
    )
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert app["siteConfig"]["minTlsVersion"] == "1.2"
    # The code it runs: `svai build`'s zip, uploaded as the package blob OneDeploy would write.
    package = _one(resources, "azure-native:storage:Blob")
    host = _one(resources, "azure-native:storage:StorageAccount", "sentiment-api-host-storage")
    assert storage["value"] == f"https://{host['accountName']}.blob.core.windows.net/deployment"
    assert package["accountName"] == "sentiment-api-host-storage"  # its name output, under mocks
    assert (package["containerName"], package["blobName"]) == ("deployment", "released-package.zip")
    assert package["source"] == "<asset:path:.svai/build/azure/function.zip>"
    assert package["contentType"] == "application/zip"
    auth = _one(resources, "azure-native:web:WebAppAuthSettingsV2")
    assert auth["globalValidation"]["unauthenticatedClientAction"] == "Return401"


def test_functions_open_to_all_only_when_the_spec_says_none() -> None:
    resources = recorded("flex-open")
    assert not by_type(resources, "azure-native:web:WebAppAuthSettingsV2")
    assert by_type(recorded("flex"), "azure-native:web:WebAppAuthSettingsV2")


def test_ml_endpoint_with_split_and_autoscale() -> None:
    resources = recorded("ml")
    _one(resources, "azure-native:machinelearningservices:Workspace")
    endpoint = _one(resources, "azure-native:machinelearningservices:OnlineEndpoint")
    assert endpoint["properties"]["authMode"] == "Key"
    assert endpoint["properties"]["traffic"] == {"v-mv-0a1b2c3d4e5f": 90, f"v-{VERSION}": 10}
    deployments = by_type(resources, "azure-native:machinelearningservices:OnlineDeployment")
    assert sorted(d.inputs["deploymentName"] for d in deployments) == sorted(
        endpoint["properties"]["traffic"]
    )
    for deployment in deployments:
        props = deployment.inputs["properties"]
        assert props["endpointComputeType"] == "Managed"
        assert props["instanceType"] == "Standard_DS3_v2"
        assert props["requestSettings"]["requestTimeout"] == "PT30S"
        assert deployment.inputs["sku"]["capacity"] == 1
    versions = {
        d.inputs["properties"]["environmentVariables"]["SVAI_MODEL_VERSION"] for d in deployments
    }
    assert versions == {"mv-0a1b2c3d4e5f", VERSION}
    assert len(by_type(resources, "azure-native:monitor:AutoscaleSetting")) == 2


def test_async_container_worker_scales_on_the_queue_with_its_identity() -> None:
    resources = recorded("async-ca")
    queue = _one(resources, "azure-native:servicebus:Queue")
    assert queue["maxDeliveryCount"] == 7
    assert queue["deadLetteringOnMessageExpiration"] is True
    assert queue["lockDuration"] == "PT5M"  # a 10-minute worker: capped, and it renews its lock
    namespace = _one(resources, "azure-native:servicebus:Namespace")
    assert namespace["disableLocalAuth"] is True
    worker = _one(resources, "azure-native:app:ContainerApp", "summarize-worker")
    assert "ingress" not in worker["configuration"]
    (rule,) = worker["template"]["scale"]["rules"]
    assert rule["custom"]["type"] == "azure-servicebus"
    assert rule["custom"]["metadata"]["queueName"] == "jobs"
    assert rule["custom"]["identity"].endswith("summarize-worker-identity")
    env = {e["name"]: e.get("value") for e in worker["template"]["containers"][0]["env"]}
    assert env["SVAI_LOCK_RENEW_S"] == "150"  # half the 300 s lock: renewed while it runs
    alert = _one(resources, "azure-native:monitor:MetricAlert")
    criterion = alert["criteria"]["allOf"][0]
    assert criterion["metricName"] == "DeadletteredMessages"
    assert criterion["dimensions"][0]["values"] == ["jobs"]


def test_async_stores_are_serverless_cosmos_containers_with_ttl() -> None:
    resources = recorded("async-flex")
    account = _one(resources, "azure-native:cosmosdb:DatabaseAccount")
    assert account["capabilities"] == [{"name": "EnableServerless"}]
    assert account["disableLocalAuth"] is True
    container = _one(resources, "azure-native:cosmosdb:SqlResourceSqlContainer")
    assert container["resource"]["defaultTtl"] == 86400
    grants = by_type(resources, "azure-native:cosmosdb:SqlResourceSqlRoleAssignment")
    scopes = {g.inputs["scope"].rsplit("/", 1)[-1] for g in grants}
    assert scopes == {"results"}
    worker = _one(resources, "azure-native:web:WebApp", "summarize-worker-app")
    settings = {s["name"]: s["value"] for s in worker["siteConfig"]["appSettings"]}
    assert settings["ServiceBusConnection__credential"] == "managedidentity"
    assert "triggers" not in worker["functionAppConfig"]["scaleAndConcurrency"]


@pytest.mark.parametrize("key", sorted(PLANS))
def test_every_alarm_becomes_an_alert_calling_the_action_group(key: str) -> None:
    plan = PLANS[key]()
    resources = recorded(key)
    alerts = by_type(
        resources, "azure-native:monitor:ScheduledQueryRule", "azure-native:monitor:MetricAlert"
    )
    assert sorted(a.inputs["ruleName"] for a in alerts) == sorted(
        f"{plan.name}-{alarm.name}" for alarm in plan.alarms
    )
    assert all(a.inputs["actions"] for a in alerts)
    p95 = next(a for a in alerts if a.inputs["ruleName"].endswith("latency-p95"))
    criterion = p95.inputs["criteria"]["allOf"][0]
    assert criterion["threshold"] == 500  # milliseconds
    # Each log alert reads where the watched app's numbers really land, naming that app.
    apps = {
        "azure-native:app:ContainerApp": ("containerAppName", "ContainerAppConsoleLogs", "logs"),
        "azure-native:web:WebApp": ("name", "requests", "insights"),
        "azure-native:machinelearningservices:OnlineEndpoint": (
            "endpointName",
            "AmlOnlineEndpointConsoleLog",
            "logs",
        ),
    }
    watched = [
        (r.inputs[field], table, scope)
        for r in resources
        if r.type in apps
        for field, table, scope in [apps[r.type]]
        if r.name.endswith(("-api", "-worker", "-app", "-endpoint"))
    ]
    query, scopes = criterion["query"], p95.inputs["scopes"]
    assert any(
        query.startswith(table) and f'{app}"' in query and scopes[0].endswith(f"-{scope}")
        for app, table, scope in watched
    ), (query, scopes, watched)
    assert "percentile(" in query and ", 95)" in query
    sources = {
        r.inputs["resourceUri"].rsplit("/", 1)[-1]
        for r in by_type(resources, "azure-native:monitor:DiagnosticSetting")
        if r.inputs.get("logAnalyticsDestinationType") == "Dedicated"
    }
    if "ContainerAppConsoleLogs" in query:
        assert any(s.endswith("-environment") for s in sources)
    if "AmlOnlineEndpointConsoleLog" in query:
        assert any(s.endswith("-endpoint") for s in sources)
    budget = _one(resources, "azure-native:consumption:Budget")
    assert budget["amount"] == 200 and budget["timeGrain"] == "Monthly"
    assert {n["thresholdType"] for n in budget["notifications"].values()} == {
        "Forecasted",
        "Actual",
    }
    logs = _one(resources, "azure-native:operationalinsights:Workspace")
    assert logs["retentionInDays"] == 30
    insights = _one(resources, "azure-native:applicationinsights:Component")
    assert insights["disableLocalAuth"] is True


def test_recording_is_deterministic() -> None:
    plan = PLANS["ca-cpu"]()
    backend = _backend()
    again = record(lambda: backend.program(plan))
    assert again == recorded("ca-cpu")


@pytest.mark.parametrize("key", sorted(PLANS))
def test_canary_secret_never_reaches_recorded_inputs(key: str) -> None:
    text = json.dumps([dict(r.inputs) for r in recorded(key)])
    assert CANARY_SECRET not in text
    assert "hf-token" in text  # the reference is there, only the value is not


def test_private_plan_reaches_data_services_through_private_endpoints() -> None:
    resources = recorded("private")
    environment = _one(resources, "azure-native:app:ManagedEnvironment")
    assert environment["vnetConfiguration"]["internal"] is True
    assert environment["vnetConfiguration"]["infrastructureSubnetId"].endswith("/subnets/apps")
    vnet = _one(resources, "azure-native:network:VirtualNetwork")
    assert [s["name"] for s in vnet["subnets"]] == ["apps", "functions", "endpoints"]
    groups = sorted(
        e.inputs["privateLinkServiceConnections"][0]["groupIds"][0]
        for e in by_type(resources, "azure-native:network:PrivateEndpoint")
    )
    assert groups == [
        "Sql", "blob", "blob", "blob", "namespace", "registry", "sites", "sites", "vault",
    ]  # fmt: skip
    for token in (
        "azure-native:storage:StorageAccount",
        "azure-native:cosmosdb:DatabaseAccount",
        "azure-native:containerregistry:Registry",
    ):
        assert {r.inputs["publicNetworkAccess"] for r in by_type(resources, token)} == {"Disabled"}
    assert _one(resources, "azure-native:servicebus:Namespace")["sku"]["name"] == "Premium"
    assert _one(resources, "azure-native:containerregistry:Registry")["sku"]["name"] == "Premium"
    # network.private alone restricts who may call in, not where the services may call out.
    assert not by_type(resources, "azure-native:network:NetworkSecurityGroup")
    fronts = by_type(resources, "azure-native:web:WebApp")
    assert all(f.inputs["virtualNetworkSubnetId"].endswith("/subnets/functions") for f in fronts)
    links = by_type(resources, "azure-native:privatedns:VirtualNetworkLink")
    assert len(links) == len(by_type(resources, "azure-native:privatedns:PrivateZone")) == 6
