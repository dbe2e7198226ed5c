"""Restricted egress on Azure (issue #24), planned from every example under Pulumi mocks.

With ``security.network.egress: none`` or ``private-only`` Container Apps run in a VNet-integrated
workload-profiles environment and function apps route all their traffic into the VNet, whose
integrated subnets carry a network security group that denies the internet and allows only the
VNet and the service tags the platform needs. Each data service the plan uses gets a private
endpoint and its ``privatelink`` zone (the artifact storage among them, so that the start-time
model fetch and claim checks keep working), the registry is Premium with its own endpoint, and
telemetry goes through an Azure Monitor Private Link Scope. Azure ML deployments leave through
their workspace's managed network (approved outbound only) and refuse public egress. No high
finding remains, and the bill prices the new endpoints, zones and the Premium registry.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
from pathlib import Path

import pytest
import yaml
from plans import async_plan, sync_plan

from svai import api
from svai.backends.azure import AzureBackend
from svai.backends.azure.network import ADDRESS_SPACE, EGRESS_RULES, INTEGRATED_SUBNETS
from svai.backends.azure.rules import RULES
from svai.backends.base import RecordedResource
from svai.backends.preview import record
from svai.backends.rules import evaluate, high_findings
from svai.compiler.bill import deployment_cost
from svai.compiler.catalog import load_catalog
from svai.compiler.egress import private_endpoints, private_zones
from svai.compiler.planned import PlannedTarget
from svai.compiler.recommendation import Workload
from svai.ir import DeploymentPlan

EXAMPLES = Path(__file__).parents[2] / "examples"
APP = "azure-native:app:ContainerApp"
ENVIRONMENT = "azure-native:app:ManagedEnvironment"
WEB = "azure-native:web:WebApp"
NSG = "azure-native:network:NetworkSecurityGroup"
VNET = "azure-native:network:VirtualNetwork"
ENDPOINT = "azure-native:network:PrivateEndpoint"
ZONE = "azure-native:privatedns:PrivateZone"
REGISTRY = "azure-native:containerregistry:Registry"
STORAGE = "azure-native:storage:StorageAccount"
SCOPE = "azure-native:monitor:PrivateLinkScope"
SCOPED = "azure-native:monitor:PrivateLinkScopedResource"
WORKSPACE = "azure-native:machinelearningservices:Workspace"
DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"

# (example, runtime): llm-gpu twice, for Azure ML (auto) and Container Apps serverless GPU.
EXAMPLE_TARGETS = [
    ("doc-pipeline-async", None),
    ("fraud-sklearn", None),
    ("llm-gpu", None),
    ("llm-gpu", "container"),
    ("minilm-embeddings", None),
]
CASES = [
    (name, runtime, egress)
    for name, runtime in EXAMPLE_TARGETS
    for egress in ("none", "private-only")
]


def _by_type(resources: tuple[RecordedResource, ...]) -> dict[str, list[RecordedResource]]:
    out: dict[str, list[RecordedResource]] = {}
    for r in resources:
        out.setdefault(r.type, []).append(r)
    return out


def _links(resources: tuple[RecordedResource, ...]) -> list[str]:
    """The private-link group id of every recorded private endpoint, sorted."""
    return sorted(
        e.inputs["privateLinkServiceConnections"][0]["groupIds"][0]
        for e in resources
        if e.type == ENDPOINT
    )


@functools.cache
def _planned(example: str, runtime: str | None, egress: str, folder: Path) -> PlannedTarget:
    """Plan ``example``'s Azure target alone with ``egress`` (an Azure target added if none)."""
    project = folder / f"{example}-{runtime or 'auto'}-{egress}"
    shutil.copytree(EXAMPLES / example, project)
    spec_path = project / "svai.yaml"
    document = yaml.safe_load(spec_path.read_text())
    document.setdefault("security", {}).setdefault("network", {})["egress"] = egress
    azure = [t for t in document["targets"] if t["cloud"] == "azure"]
    target = azure[0] if azure else {"cloud": "azure", "region": "westeurope"}
    if runtime is not None:
        target["runtime"] = runtime
    document["targets"] = [target]
    spec_path.write_text(yaml.safe_dump(document, sort_keys=False))
    _, result = api.plan(spec_path)
    (planned,) = result.targets
    return planned


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("azure-egress")


def _assert_vnet_egress(plan: DeploymentPlan, found: dict[str, list[RecordedResource]]) -> None:
    """Container Apps and function apps leave only through the NSG'd subnets of the VNet."""
    (vnet,) = found[VNET]
    assert vnet.inputs["addressSpace"]["addressPrefixes"] == [ADDRESS_SPACE]
    (nsg,) = found[NSG]
    subnets = {s["name"]: s for s in vnet.inputs["subnets"]}
    for name in INTEGRATED_SUBNETS:
        assert subnets[name]["networkSecurityGroup"]["id"], name
    assert "networkSecurityGroup" not in subnets["endpoints"]
    rules = sorted(nsg.inputs["securityRules"], key=lambda r: r["priority"])
    *allows, deny = rules
    assert (deny["access"], deny["direction"]) == ("Deny", "Outbound")
    assert deny["destinationAddressPrefix"] == "Internet" and deny["protocol"] == "*"
    assert all(a["access"] == "Allow" and a["direction"] == "Outbound" for a in allows)
    # The VNet (the private endpoints) and Entra ID tokens always; Microsoft's registry (the
    # Container Apps system images) only with Container Apps; nothing allows the internet.
    apps = bool(found.get(APP))
    expected = [
        (name, destination)
        for name, destination, _, _ in EGRESS_RULES
        if apps or destination in ("VirtualNetwork", "AzureActiveDirectory")
    ]
    assert [(a["name"], a["destinationAddressPrefix"]) for a in allows] == expected
    for environment in found.get(ENVIRONMENT, []):
        config = environment.inputs["vnetConfiguration"]
        assert config["infrastructureSubnetId"].endswith("/subnets/apps")
        assert config["internal"] is plan.private_network
    for app in found.get(WEB, []):
        assert app.inputs["virtualNetworkSubnetId"].endswith("/subnets/functions")
        assert app.inputs["siteConfig"]["vnetRouteAllEnabled"] is True
    # Telemetry reaches Log Analytics and Application Insights through the scope only.
    (scope,) = found[SCOPE]
    modes = scope.inputs["accessModeSettings"]
    assert modes == {"ingestionAccessMode": "PrivateOnly", "queryAccessMode": "PrivateOnly"}
    assert sorted(s.inputs["name"] for s in found[SCOPED]) == ["insights", "logs"]


@pytest.mark.parametrize(
    ("example", "runtime", "egress"), CASES, ids=[f"{e}-{r or 'auto'}-{g}" for e, r, g in CASES]
)
def test_every_example_builds_restricted_egress_on_azure(
    example: str, runtime: str | None, egress: str, folder: Path
) -> None:
    planned = _planned(example, runtime, egress, folder)
    plan, resources = planned.plan, planned.resources
    assert plan.egress == egress
    assert high_findings(planned.findings) == [], [f.message for f in planned.findings]
    found = _by_type(resources)
    in_vnet = any(s.compute.kind != "endpoint" for s in plan.services)
    vnet = in_vnet or plan.private_network
    assert bool(found.get(VNET)) == vnet
    if in_vnet:
        _assert_vnet_egress(plan, found)
    else:  # Azure ML alone: its managed network restricts egress, the VNet is for callers
        assert not found.get(NSG) and not found.get(SCOPE)
    if vnet:
        # Exactly the private endpoints the plan's services use, each zone once.
        assert _links(resources) == list(private_endpoints(plan))
        assert "blob" in _links(resources)  # the fetch path: the artifact storage, privately
        assert sorted(z.inputs["privateZoneName"] for z in found[ZONE]) == list(private_zones(plan))
        assert ("Sql" in _links(resources)) == bool(plan.stores)
        assert ("namespace" in _links(resources)) == (plan.queue is not None)
        assert ("vault" in _links(resources)) == bool(plan.private_network or plan.secrets)
    for workspace in found.get(WORKSPACE, []):
        assert workspace.inputs["managedNetwork"] == {"isolationMode": "AllowOnlyApprovedOutbound"}
    for deployment in found.get(DEPLOYMENT, []):
        assert deployment.inputs["properties"]["egressPublicNetworkAccess"] == "Disabled"
    # The registry: Premium (private endpoints need it), with its endpoint in the VNet.
    for registry in found.get(REGISTRY, []):
        assert registry.inputs["sku"] == {"name": "Premium"}
        access = "Disabled" if plan.private_network else "Enabled"
        assert registry.inputs["publicNetworkAccess"] == access
        assert ("registry" in _links(resources)) == vnet
    # The bill: the endpoints and zones the backend built, and the Premium registry.
    assert planned.cost is not None
    lines = dict(planned.cost.breakdown)
    catalog = load_catalog().in_region("azure", plan.region)
    if vnet:
        endpoint = catalog.resource("azure.private_endpoint").price("usd_per_month")
        zone = catalog.resource("azure.private_dns").price("usd_per_month")
        assert lines["azure.private_endpoint"] == pytest.approx(len(found[ENDPOINT]) * endpoint)
        assert lines["azure.private_dns"] == pytest.approx(len(found[ZONE]) * zone)
    if found.get(REGISTRY):
        premium = catalog.resource("azure.acr").price("private_usd_per_month")
        assert lines["azure.acr"] == pytest.approx(premium)


def test_unrestricted_public_plans_build_no_network() -> None:
    plan = sync_plan("azure", "azure.containerapps.consumption")
    found = _by_type(record(lambda: AzureBackend().program(plan)))
    assert not any(t in found for t in (VNET, NSG, ENDPOINT, ZONE, SCOPE))
    assert "vnetConfiguration" not in found[ENVIRONMENT][0].inputs
    assert found[REGISTRY][0].inputs["sku"] == {"name": "Basic"}


def test_service_bus_takes_premium_for_its_endpoint_under_restricted_egress() -> None:
    plan = dataclasses.replace(async_plan("azure"), egress="none")
    found = _by_type(record(lambda: AzureBackend().program(plan)))
    (namespace,) = found["azure-native:servicebus:Namespace"]
    assert namespace.inputs["sku"]["name"] == "Premium"
    # Inbound stays as the spec says: egress restricts where the services call, not who calls.
    assert namespace.inputs["publicNetworkAccess"] == "Enabled"
    assert {s.inputs["publicNetworkAccess"] for s in found[STORAGE]} == {"Enabled"}
    workload = Workload(predictions=1e6, model_latency_s=0.1, artifact_mb=40, image_mb=500)
    catalog = load_catalog()
    row = catalog.resource("azure.servicebus")
    restricted = dict(deployment_cost(plan, workload, catalog).breakdown)["azure.servicebus"]
    plain = dict(deployment_cost(async_plan("azure"), workload, catalog).breakdown)
    assert restricted - plain["azure.servicebus"] == pytest.approx(
        row.price("private_base_usd_per_month") - row.price("base_usd_per_month")
    )


def test_the_async_plan_gets_an_endpoint_per_service_used_and_each_zone_once() -> None:
    plan = dataclasses.replace(
        async_plan("azure", "azure.containerapps.consumption"), egress="none"
    )
    resources = record(lambda: AzureBackend().program(plan))
    # Artifact storage and the two function apps' host storage; vault (secrets), Cosmos DB
    # (stores), Service Bus (queue), the registry (the worker's image) and Azure Monitor.
    assert _links(resources) == [
        "Sql", "azuremonitor", "blob", "blob", "blob", "namespace", "registry", "vault",
    ]  # fmt: skip
    zones = sorted(z.inputs["privateZoneName"] for z in resources if z.type == ZONE)
    # Azure Monitor's scope registers in the blob zone too: it is created once.
    assert zones == [
        "privatelink.agentsvc.azure-automation.net",
        "privatelink.azurecr.io",
        "privatelink.blob.core.windows.net",
        "privatelink.documents.azure.com",
        "privatelink.monitor.azure.com",
        "privatelink.ods.opinsights.azure.com",
        "privatelink.oms.opinsights.azure.com",
        "privatelink.servicebus.windows.net",
        "privatelink.vaultcore.azure.net",
    ]
    links = [r for r in resources if r.type == "azure-native:privatedns:VirtualNetworkLink"]
    assert len(links) == len(zones)


def test_a_build_that_lets_the_internet_out_is_refused_with_the_reason() -> None:
    plan = dataclasses.replace(sync_plan("azure", "azure.containerapps.consumption"), egress="none")
    resources = record(lambda: AzureBackend().program(plan))
    opened = tuple(
        dataclasses.replace(
            r,
            inputs={
                **r.inputs,
                "securityRules": [
                    {**rule, "access": "Allow"} for rule in r.inputs["securityRules"]
                ],
            },
        )
        if r.type == NSG
        else r
        for r in resources
    )
    (finding,) = high_findings(evaluate(RULES, opened, plan))
    assert finding.rule == "SVAI_AZ_030"
    assert "network security group does not deny the internet" in finding.message
    assert high_findings(evaluate(RULES, resources, plan)) == []
