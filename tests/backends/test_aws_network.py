"""Restricted egress on AWS (issue #24), recorded under Pulumi mocks.

With ``security.network.egress: none`` or ``private-only`` every function runs in a VPC with no
internet or NAT gateway, its security group sends HTTPS only to the VPC's endpoints, and the
endpoints are exactly the services the plan's code calls, the S3 gateway among them so that the
start-time model fetch and the claim check keep working. No high finding remains.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from plans import async_plan, sync_plan

from svai.backends.aws import AwsBackend
from svai.backends.aws.network import CIDR
from svai.backends.aws.rules import RULES
from svai.backends.preview import record
from svai.backends.rules import evaluate
from svai.compiler.bill import deployment_cost
from svai.compiler.catalog import load_catalog
from svai.compiler.egress import aws_endpoints
from svai.compiler.recommendation import Workload
from svai.ir import DeploymentPlan

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
    assert sorted(services) == list(aws_endpoints(plan))
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
    interface = [e for e in aws_endpoints(plan) if e not in ("s3", "dynamodb")]
    price = catalog.resource("aws.vpc.endpoint").price("usd_per_month")
    assert dict(bill.breakdown)["aws.vpc.endpoint"] == pytest.approx(len(interface) * price)
    assert dict(bill.resources)["aws.vpc.endpoint"] == len(aws_endpoints(plan))
    plain = deployment_cost(async_plan("aws"), workload, catalog)
    assert "aws.vpc.endpoint" not in dict(plain.breakdown)
