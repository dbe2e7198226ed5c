"""Restricted egress on GCP (issue #24), recorded under Pulumi mocks.

With ``security.network.egress: none`` or ``private-only`` every Cloud Run service sends all its
traffic into a VPC subnet with Private Google Access, the network denies every egress but HTTPS
to ``private.googleapis.com``, and a private DNS zone maps ``*.googleapis.com`` there, so Cloud
Storage (the start-time model fetch, claim checks) and the other Google APIs stay reachable. No
high finding remains. Cloud Run functions join the same subnet through Direct VPC egress; a
Vertex AI endpoint, whose container's egress a deployment cannot restrict, keeps its refusal.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from plans import async_plan, sync_plan

from svai.backends.gcp import GcpBackend
from svai.backends.gcp import tokens as T
from svai.backends.gcp.network import GOOGLE_APIS_RANGE, SUBNET_RANGE
from svai.backends.gcp.rules import RULES
from svai.backends.preview import record
from svai.backends.rules import evaluate
from svai.compiler.bill import deployment_cost
from svai.compiler.catalog import load_catalog
from svai.compiler.recommendation import Workload


def _by_type(resources: tuple[Any, ...]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for r in resources:
        out.setdefault(r.type, []).append(r)
    return out


@pytest.mark.parametrize("egress", ["none", "private-only"])
def test_restricted_egress_is_built_for_cloud_run(egress: str) -> None:
    plan = dataclasses.replace(sync_plan("gcp", cache=True), egress=egress)
    resources = record(lambda: GcpBackend(billing_account="0-0-0").program(plan))
    found = _by_type(resources)
    assert [f for f in evaluate(RULES, resources, plan) if f.severity == "high"] == []
    (network,) = found[T.NETWORK]
    assert network.inputs["autoCreateSubnetworks"] is False
    (subnet,) = found[T.SUBNETWORK]
    assert subnet.inputs["privateIpGoogleAccess"] is True
    assert subnet.inputs["ipCidrRange"] == SUBNET_RANGE
    rules = {f.name: f.inputs for f in found[T.FIREWALL]}
    deny, allow = rules["firewall-deny-egress"], rules["firewall-allow-google-apis"]
    assert deny["direction"] == allow["direction"] == "EGRESS"
    assert deny["denies"] == [{"protocol": "all"}] and deny["destinationRanges"] == ["0.0.0.0/0"]
    assert allow["allows"] == [{"protocol": "tcp", "ports": ["443"]}]
    assert (
        allow["destinationRanges"] == [GOOGLE_APIS_RANGE] and allow["priority"] < deny["priority"]
    )
    (zone,) = found[T.DNS_ZONE]
    assert zone.inputs["dnsName"] == "googleapis.com." and zone.inputs["visibility"] == "private"
    records = {r.inputs["name"]: r.inputs for r in found[T.DNS_RECORD]}
    # storage.googleapis.com (the fetch path) and every other API resolve to the private range.
    assert records["*.googleapis.com."]["rrdatas"] == ["private.googleapis.com."]
    assert records["private.googleapis.com."]["type"] == "A"
    for service in found[T.RUN_SERVICE]:
        access = service.inputs["template"]["vpcAccess"]
        assert access["egress"] == "ALL_TRAFFIC"
        (interface,) = access["networkInterfaces"]
        assert interface["subnetwork"] and interface["network"]


def test_unrestricted_egress_builds_no_network() -> None:
    resources = record(lambda: GcpBackend(billing_account="0-0-0").program(sync_plan("gcp")))
    found = _by_type(resources)
    assert not any(t in found for t in (T.NETWORK, T.FIREWALL, T.DNS_ZONE))
    assert all("vpcAccess" not in s.inputs["template"] for s in found[T.RUN_SERVICE])


def test_the_bill_prices_the_private_zone() -> None:
    workload = Workload(predictions=1e6, model_latency_s=0.1, artifact_mb=40, image_mb=500)
    catalog = load_catalog()
    restricted = dataclasses.replace(sync_plan("gcp"), egress="none")
    zone = catalog.resource("gcp.dns.zone").price("usd_per_month")
    assert dict(deployment_cost(restricted, workload, catalog).breakdown)["gcp.dns.zone"] == zone
    assert "gcp.dns.zone" not in dict(
        deployment_cost(sync_plan("gcp"), workload, catalog).breakdown
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("egress", ["none", "private-only"])
def test_cloud_run_functions_send_all_traffic_into_the_same_subnet(mode: str, egress: str) -> None:
    make = sync_plan if mode == "sync" else async_plan
    plan = dataclasses.replace(make("gcp", "gcp.cloudrun.functions"), egress=egress)
    resources = record(lambda: GcpBackend(billing_account="0-0-0").program(plan))
    found = _by_type(resources)
    assert [f for f in evaluate(RULES, resources, plan) if f.severity == "high"] == []
    (subnet,) = found[T.SUBNETWORK]
    assert subnet.inputs["privateIpGoogleAccess"] is True
    assert {f.name for f in found[T.FIREWALL]} == {
        "firewall-deny-egress",
        "firewall-allow-google-apis",
    }
    functions = found[T.FUNCTION]
    assert len(functions) == (1 if mode == "sync" else 3)
    for function in functions:
        config = function.inputs["serviceConfig"]
        assert config["directVpcEgress"] == "VPC_EGRESS_ALL_TRAFFIC"
        (interface,) = config["directVpcNetworkInterfaces"]
        assert interface["subnetwork"].endswith("-services") and interface["network"]
        # Direct VPC egress: no connector and no connector setting.
        assert "vpcConnector" not in config
    assert not any(r.type.startswith("gcp:vpcaccess/") for r in resources)
    # The fetch path (Cloud Storage) resolves to the private range like every Google API.
    records = {r.inputs["name"]: r.inputs for r in found[T.DNS_RECORD]}
    assert records["*.googleapis.com."]["rrdatas"] == ["private.googleapis.com."]


def test_functions_cost_no_more_than_the_private_zone() -> None:
    # Direct VPC egress has no connector instances: the bill adds the DNS zone only.
    workload = Workload(predictions=1e6, model_latency_s=0.1, artifact_mb=40, image_mb=500)
    catalog = load_catalog()
    plain = sync_plan("gcp", "gcp.cloudrun.functions")
    restricted = dataclasses.replace(plain, egress="none")
    before = dict(deployment_cost(plain, workload, catalog).breakdown)
    after = dict(deployment_cost(restricted, workload, catalog).breakdown)
    assert set(after) - set(before) == {"gcp.dns.zone"}
    assert after["gcp.dns.zone"] == catalog.resource("gcp.dns.zone").price("usd_per_month")


@pytest.mark.parametrize("egress", ["none", "private-only"])
def test_a_vertex_endpoint_keeps_its_refusal_with_the_reason(egress: str) -> None:
    plan = dataclasses.replace(sync_plan("gcp", "gcp.vertex.online_prediction"), egress=egress)
    resources = record(lambda: GcpBackend(billing_account="0-0-0").program(plan))
    (finding,) = [f for f in evaluate(RULES, resources, plan) if f.severity == "high"]
    assert finding.rule == "SVAI_GCP_019"
    assert "VPC Service Controls" in finding.message and "organization-level" in finding.message
    assert "gcp.cloudrun.service" in finding.hint
