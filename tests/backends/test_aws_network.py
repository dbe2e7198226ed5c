"""Restricted egress on AWS (issue #24), recorded under Pulumi mocks.

With ``security.network.egress: none`` or ``private-only`` every function runs in a VPC with no
internet or NAT gateway, its security group sends HTTPS only to the VPC's endpoints, and the
endpoints are exactly the services the plan's code calls, the S3 gateway among them so that the
start-time model fetch and the claim check keep working. No high finding remains.

A real-time SageMaker endpoint's model joins the same subnets and security group, isolated from
the network when its container needs neither the start-time fetch nor a secret; a serverless
endpoint, which takes no VPC configuration, keeps its refusal. The submit function learns SQS's
limit from the catalog, where the claim check starts.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from plans import async_plan, sync_plan

from svai import api
from svai.backends.aws import AwsBackend
from svai.backends.aws.network import CIDR
from svai.backends.aws.rules import RULES
from svai.backends.claims import MESSAGE_BYTES_ENV
from svai.backends.preview import record
from svai.backends.rules import evaluate
from svai.backends.start_fetch import BUCKET_ENV
from svai.compiler.bill import deployment_cost
from svai.compiler.catalog import load_catalog
from svai.compiler.egress import private_endpoints
from svai.compiler.lower import identity_for
from svai.compiler.recommendation import Workload
from svai.ir import DeploymentPlan

ROOT = Path(__file__).parents[2]
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
GROUP = "aws:ec2/securityGroup:SecurityGroup"
FUNCTION = "aws:lambda/function:Function"

PLANS = {
    "sync-none": lambda: dataclasses.replace(sync_plan("aws"), egress="none"),
    "sync-private-only": lambda: dataclasses.replace(sync_plan("aws"), egress="private-only"),
    "async-none": lambda: dataclasses.replace(async_plan("aws"), egress="none"),
    "async-private": lambda: dataclasses.replace(
        async_plan("aws"), egress="private-only", private_network=True
    ),
}


def _record(plan: DeploymentPlan) -> tuple[Any, ...]:
    return record(lambda: AwsBackend().program(plan))


@pytest.mark.parametrize("name", sorted(PLANS))
def test_restricted_egress_is_built_with_the_endpoints_the_code_uses(name: str) -> None:
    plan = PLANS[name]()
    resources = _record(plan)
    by_type: dict[str, list[Any]] = {}
    for r in resources:
        by_type.setdefault(r.type, []).append(r)
    assert [f for f in evaluate(RULES, resources, plan) if f.severity == "high"] == []
    assert not by_type.get("aws:ec2/natGateway:NatGateway")
    assert not by_type.get("aws:ec2/internetGateway:InternetGateway")
    (vpc,) = by_type["aws:ec2/vpc:Vpc"]
    assert vpc.inputs["cidrBlock"] == CIDR and vpc.inputs["enableDnsHostnames"] is True
    subnets = by_type["aws:ec2/subnet:Subnet"]
    assert len({s.inputs["availabilityZone"] for s in subnets}) == 2
    assert not any(s.inputs["mapPublicIpOnLaunch"] for s in subnets)
    services = {
        e.inputs["serviceName"].removeprefix(f"com.amazonaws.{plan.region}."): e
        for e in by_type[ENDPOINT]
    }
    assert sorted(services) == list(private_endpoints(plan))
    assert ("dynamodb" in services) == bool(plan.stores)
    assert ("sqs" in services) == (plan.queue is not None)
    # The fetch path: S3 through its gateway endpoint, for the deployment's bucket only.
    s3 = services["s3"]
    assert s3.inputs["vpcEndpointType"] == "Gateway" and s3.inputs["routeTableIds"]
    (statement,) = json.loads(s3.inputs["policy"])["Statement"]
    assert statement["Resource"] == [f"arn:aws:s3:::{plan.name}-artifacts/*"]
    for endpoint in services.values():
        if endpoint.inputs["vpcEndpointType"] == "Interface":
            assert endpoint.inputs["privateDnsEnabled"] is True
    functions_group = next(g for g in by_type[GROUP] if g.name.endswith("-functions"))
    for rule in functions_group.inputs["egress"]:
        assert rule["fromPort"] == rule["toPort"] == 443
        assert rule.get("cidrBlocks", [CIDR]) == [CIDR]
    for fn in by_type[FUNCTION]:
        config = fn.inputs["vpcConfig"]
        assert len(config["subnetIds"]) == 2 and len(config["securityGroupIds"]) == 1
    grants = [r for r in by_type["aws:iam/rolePolicy:RolePolicy"] if r.name.endswith("vpc-access")]
    assert len(grants) == len(by_type[FUNCTION])
    for grant in grants:
        actions = {a for s in json.loads(grant.inputs["policy"])["Statement"] for a in s["Action"]}
        assert "ec2:CreateNetworkInterface" in actions and "ec2:DeleteNetworkInterface" in actions


def test_unrestricted_egress_builds_no_network() -> None:
    resources = _record(sync_plan("aws"))
    assert not [r for r in resources if r.type.startswith("aws:ec2/")]
    assert not any("vpcConfig" in r.inputs for r in resources if r.type == FUNCTION)


def test_the_bill_prices_the_interface_endpoints_only() -> None:
    plan = PLANS["async-none"]()
    workload = Workload(predictions=1e6, model_latency_s=0.1, artifact_mb=40, image_mb=500)
    catalog = load_catalog()
    bill = deployment_cost(plan, workload, catalog)
    interface = [e for e in private_endpoints(plan) if e not in ("s3", "dynamodb")]
    price = catalog.resource("aws.vpc.endpoint").price("usd_per_month")
    assert dict(bill.breakdown)["aws.vpc.endpoint"] == pytest.approx(len(interface) * price)
    assert dict(bill.resources)["aws.vpc.endpoint"] == len(private_endpoints(plan))
    plain = deployment_cost(async_plan("aws"), workload, catalog)
    assert "aws.vpc.endpoint" not in dict(plain.breakdown)


MODEL = "aws:sagemaker/model:Model"
ENDPOINT_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
}
"""What SageMaker documents for a model in a VPC: the endpoint role's grant, exactly."""


def _of(resources: tuple[Any, ...], kind: str) -> list[Any]:
    return [r for r in resources if r.type == kind]


def _without_secrets(plan: DeploymentPlan) -> DeploymentPlan:
    stores = plan.stores
    return dataclasses.replace(
        plan, secrets=(), identities=tuple(identity_for(s, stores, ()) for s in plan.services)
    )


def _start_fetch_build(tmp_path: Path) -> str:
    """A build folder whose manifest leaves one weights file to the start-time fetch."""
    obj = {"key": "models/sha256/" + "ab" * 32, "sha256": "ab" * 32, "bytes": 10, "upload": "w"}
    (tmp_path / "manifest.json").write_text(json.dumps({"start_fetch": {"objects": [obj]}}))
    return str(tmp_path)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("egress", ["none", "private-only"])
def test_a_realtime_endpoint_runs_in_the_private_subnets(mode: str, egress: str) -> None:
    make = sync_plan if mode == "sync" else async_plan
    plan = dataclasses.replace(make("aws", "aws.sagemaker.realtime"), egress=egress)
    resources = _record(plan)
    assert [f for f in evaluate(RULES, resources, plan) if f.severity == "high"] == []
    group = next(g for g in _of(resources, GROUP) if g.name.endswith("-functions"))
    assert "model containers" in group.inputs["description"]
    (function,) = [f for f in _of(resources, FUNCTION) if "-proxy-" in f.name]
    subnets = function.inputs["vpcConfig"]["subnetIds"]
    models = _of(resources, MODEL)
    assert models
    for model in models:
        # The proxy function's subnets and HTTPS-only group: one private network.
        assert model.inputs["vpcConfig"] == {
            "subnets": subnets,
            "securityGroupIds": function.inputs["vpcConfig"]["securityGroupIds"],
        }
        # The sample plans carry a secret, read inside the container at cold start.
        assert model.inputs["enableNetworkIsolation"] is False
        assert "SVAI_SECRET_HF_TOKEN" in model.inputs["primaryContainer"]["environment"]
    services = {e.inputs["serviceName"].rsplit(".", 1)[-1] for e in _of(resources, ENDPOINT)}
    # S3 for the fetch, Secrets Manager for the container, SageMaker Runtime for the proxy.
    assert {"s3", "secretsmanager", "runtime"} <= services
    endpoint = "api" if mode == "sync" else "worker"
    (grant,) = [r for r in resources if r.name == f"{plan.name}-{endpoint}-vpc-access"]
    statements = json.loads(grant.inputs["policy"])["Statement"]
    assert {a for s in statements for a in s["Action"]} == ENDPOINT_ACTIONS
    for statement in statements:
        # Only EC2's Describe calls, which take no resource scope, are granted on "*".
        if statement["Resource"] == "*":
            assert all(a.startswith("ec2:Describe") for a in statement["Action"])
        else:
            assert all(f":{plan.region}:123456789012:" in arn for arn in statement["Resource"])


@pytest.mark.parametrize(
    ("secrets", "fetch", "isolated"),
    [(False, False, True), (True, False, False), (False, True, False)],
    ids=["nothing-inside", "secrets", "start-fetch"],
)
def test_network_isolation_only_where_the_container_needs_no_network(
    tmp_path: Path, secrets: bool, fetch: bool, isolated: bool
) -> None:
    plan = dataclasses.replace(sync_plan("aws", "aws.sagemaker.realtime"), egress="none")
    plan = plan if secrets else _without_secrets(plan)
    build = _start_fetch_build(tmp_path) if fetch else str(tmp_path)
    resources = record(lambda: AwsBackend(build_dir=build).program(plan))
    assert [f for f in evaluate(RULES, resources, plan) if f.severity == "high"] == []
    (model,) = _of(resources, MODEL)
    assert model.inputs["enableNetworkIsolation"] is isolated
    environment = model.inputs["primaryContainer"]["environment"]
    # The fetch path: the bucket named to the runtime, read on the weights' objects only, and
    # the S3 gateway endpoint letting the deployment's bucket through.
    assert (BUCKET_ENV in environment) == fetch
    reads = [r for r in resources if r.name.endswith("-model-read")]
    assert len(reads) == int(fetch)
    assert any(e.inputs["serviceName"].endswith(".s3") for e in _of(resources, ENDPOINT))


def test_a_serverless_endpoint_keeps_its_refusal_with_the_reason() -> None:
    plan = dataclasses.replace(sync_plan("aws", "aws.sagemaker.serverless"), egress="private-only")
    resources = _record(plan)
    (model,) = _of(resources, MODEL)
    assert "vpcConfig" not in model.inputs and "enableNetworkIsolation" not in model.inputs
    (finding,) = [f for f in evaluate(RULES, resources, plan) if f.severity == "high"]
    assert finding.rule == "SVAI_AWS_035"
    assert "Serverless Inference takes no VPC configuration" in finding.message
    assert "aws.sagemaker.realtime" in finding.message and "aws.sagemaker.realtime" in finding.hint
    # The proxy function in front of it is still placed in the VPC.
    assert all(f.inputs.get("vpcConfig") for f in _of(resources, FUNCTION))


def test_the_llm_example_endpoint_is_built_with_no_high_finding() -> None:
    _, result = api.plan(ROOT / "examples" / "llm-gpu" / "svai.yaml")
    (target,) = [t for t in result.targets if t.plan.cloud == "aws"]
    assert target.plan.egress == "private-only"
    assert {s.compute.offering for s in target.plan.services} == {"aws.sagemaker.realtime"}
    assert not [f for f in target.findings if f.severity == "high"]
    (model,) = [r for r in target.resources if r.type == MODEL]
    assert len(model.inputs["vpcConfig"]["subnets"]) == 2
    # The bill prices the interface endpoints the proxy and the container use.
    interface = [e for e in private_endpoints(target.plan) if e not in ("s3", "dynamodb")]
    price = load_catalog().resource("aws.vpc.endpoint").price("usd_per_month")
    assert dict(target.cost.breakdown)["aws.vpc.endpoint"] == pytest.approx(len(interface) * price)


def test_the_submit_function_learns_sqs_limit_from_the_catalog() -> None:
    plan = PLANS["async-none"]()
    resources = _record(plan)
    limits = {
        f.name: f.inputs["environment"]["variables"].get(MESSAGE_BYTES_ENV)
        for f in _of(resources, FUNCTION)
    }
    limit = str(load_catalog().queue_message_limit("aws")[0])
    assert limits == {
        f"{plan.name}-submit-fn": limit,
        f"{plan.name}-status-fn": None,
        f"{plan.name}-worker-fn": None,
    }
    # Without it the front would never claim-check: the rule refuses the plan.
    stripped = tuple(
        dataclasses.replace(
            r,
            inputs={
                **r.inputs,
                "environment": {
                    "variables": {
                        k: v
                        for k, v in r.inputs["environment"]["variables"].items()
                        if k != MESSAGE_BYTES_ENV
                    }
                },
            },
        )
        if r.type == FUNCTION
        else r
        for r in resources
    )
    big = dataclasses.replace(
        plan, entry=dataclasses.replace(plan.entry, max_payload_bytes=20 * 2**20)
    )
    assert "SVAI_AWS_036" not in {f.rule for f in evaluate(RULES, resources, big)}
    assert "SVAI_AWS_036" in {f.rule for f in evaluate(RULES, stripped, big)}
