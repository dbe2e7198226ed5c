"""Restricted egress on AWS: the Lambda functions in a VPC with no route out but VPC endpoints.

Built when the spec sets ``security.network.egress: none | private-only``. The VPC has two
private subnets (two Availability Zones, as Lambda recommends), no internet gateway and no NAT
gateway, so nothing leaves it except through an endpoint, and endpoints exist for exactly the
services the deployment's functions call:

* S3 (gateway): the start-time model fetch and claim-checked job bodies; its endpoint policy
  allows the deployment's bucket only, so no other bucket can be written to or read from;
* DynamoDB (gateway): the job records, the idempotency and cache tables, when the plan has any;
* SQS (interface): the front's sends and the worker's visibility changes, for async plans;
* Secrets Manager (interface): secrets resolved at cold start, when the plan has any;
* CloudWatch Logs and X-Ray (interface): logs and traces the runtime sends itself;
* SageMaker Runtime (interface): a proxy function's calls to its endpoint.

The functions' security group sends HTTPS only, to the gateway endpoints' prefix lists and to
the interface endpoints' security group; the interface endpoints accept HTTPS only from the
functions. Each function role gets what ``AWSLambdaVPCAccessExecutionRole`` grants, scoped to
this account's network interfaces where EC2 allows a scope.

A real-time SageMaker endpoint's model runs in the same subnets under the same security group
(:meth:`PrivateNetwork.model_vpc_config`); its container reaches S3 (the start-time fetch) and
Secrets Manager through the endpoints above, while SageMaker itself pulls the image, downloads
``model_data_url`` through the S3 gateway endpoint and ships the container's logs. Its role gets
the network-interface permissions SageMaker documents for VPC mode. Serverless Inference takes no
VPC configuration, so a serverless endpoint stays outside (rule ``SVAI_AWS_035`` refuses it).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import pulumi

from svai.backends.aws import lowering as args
from svai.backends.aws.policy import policy_document
from svai.backends.aws.provider import AwsResource, res
from svai.compiler.egress import AWS_GATEWAY_ENDPOINTS as _GATEWAY
from svai.compiler.egress import aws_endpoints
from svai.ir import DeploymentPlan

__all__ = ["CIDR", "PrivateNetwork", "Runs"]

CIDR = "10.42.0.0/16"
"""The VPC's address range; nothing outside it is routed."""

_SUBNETS = (("a", "10.42.0.0/20"), ("b", "10.42.16.0/20"))

Runs = Literal["function", "endpoint"]
"""What a role's network interfaces are for: a Lambda function or a SageMaker model."""

_INTERFACE_ACTIONS: dict[Runs, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # AWSLambdaVPCAccessExecutionRole, less its log actions (the function's policy has them).
    "function": (
        (
            "ec2:AssignPrivateIpAddresses",
            "ec2:DeleteNetworkInterface",
            "ec2:UnassignPrivateIpAddresses",
        ),
        ("ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"),
    ),
    # SageMaker's documented set for hosting a model in a VPC (beside CreateNetworkInterface).
    "endpoint": (
        ("ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface"),
        (
            "ec2:DescribeDhcpOptions",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSubnets",
            "ec2:DescribeVpcs",
        ),
    ),
}
_HTTPS = {"protocol": "tcp", "from_port": 443, "to_port": 443}


class PrivateNetwork(pulumi.ComponentResource):
    """The VPC, subnets, endpoints and security groups the functions run in.

    Attributes:
        subnet_ids: The private subnets (one per Availability Zone).
        security_group_id: The functions' security group.
        subnet_arns: Their ARNs, for the functions' network-interface grant.
        security_group_arn: Its ARN, likewise.
    """

    def __init__(
        self,
        plan: DeploymentPlan,
        *,
        bucket_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Create the network of ``plan``.

        Args:
            plan: The deployment plan (its region, stores, queue and secrets).
            bucket_arn: The deployment's bucket, the only one the S3 endpoint lets through.
            opts: Pulumi options of the component.
        """
        super().__init__("svai:aws:PrivateNetwork", f"{plan.name}-network", None, opts)
        tags = args.tags(plan)
        child = pulumi.ResourceOptions(parent=self)
        vpc = res.ec2.Vpc(
            f"{plan.name}-vpc",
            cidr_block=CIDR,
            enable_dns_support=True,  # interface endpoints answer the services' own names
            enable_dns_hostnames=True,
            tags=tags,
            opts=child,
        )
        routes = res.ec2.RouteTable(
            f"{plan.name}-private-routes", vpc_id=vpc.id, tags=tags, opts=child
        )
        subnets: list[AwsResource] = []
        for zone, block in _SUBNETS:
            subnet = res.ec2.Subnet(
                f"{plan.name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=block,
                availability_zone=f"{plan.region}{zone}",
                map_public_ip_on_launch=False,
                tags=tags,
                opts=child,
            )
            res.ec2.RouteTableAssociation(
                f"{plan.name}-private-{zone}-routes",
                subnet_id=subnet.id,
                route_table_id=routes.id,
                opts=child,
            )
            subnets.append(subnet)
        services = aws_endpoints(plan)
        gateways = [
            res.ec2.VpcEndpoint(
                f"{plan.name}-endpoint-{name}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{plan.region}.{name}",
                vpc_endpoint_type="Gateway",
                route_table_ids=[routes.id],
                policy=_bucket_only(bucket_arn) if name == "s3" else None,
                tags=tags,
                opts=child,
            )
            for name in services
            if name in _GATEWAY
        ]
        functions = res.ec2.SecurityGroup(
            f"{plan.name}-functions",
            vpc_id=vpc.id,
            description=f"svai {plan.name}: {_members(plan)}; HTTPS to the VPC endpoints only",
            egress=[
                {**_HTTPS, "prefix_list_ids": [g.prefix_list_id for g in gateways]},
                {**_HTTPS, "cidr_blocks": [CIDR], "description": "interface endpoints"},
            ],
            tags=tags,
            opts=child,
        )
        endpoints = res.ec2.SecurityGroup(
            f"{plan.name}-endpoints",
            vpc_id=vpc.id,
            description=f"svai {plan.name}: interface endpoints; HTTPS from the functions only",
            ingress=[{**_HTTPS, "security_groups": [functions.id]}],
            tags=tags,
            opts=child,
        )
        for name in services:
            if name in _GATEWAY:
                continue
            res.ec2.VpcEndpoint(
                f"{plan.name}-endpoint-{name.replace('.', '-')}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{plan.region}.{name}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in subnets],
                security_group_ids=[endpoints.id],
                tags=tags,
                opts=child,
            )
        self.subnet_ids = [s.id for s in subnets]
        self.subnet_arns = [s.arn for s in subnets]
        self.security_group_id = functions.id
        self.security_group_arn = functions.arn
        self.register_outputs({"vpc": vpc.id})

    def vpc_config(self) -> dict[str, Any]:
        """The ``vpc_config`` argument of a function placed in this network."""
        return {"subnet_ids": self.subnet_ids, "security_group_ids": [self.security_group_id]}

    def model_vpc_config(self) -> dict[str, Any]:
        """The ``vpc_config`` argument of a SageMaker model placed in this network."""
        return {"subnets": self.subnet_ids, "security_group_ids": [self.security_group_id]}

    def grant(
        self,
        name: str,
        role: AwsResource,
        account: pulumi.Input[str],
        region: str,
        parent: pulumi.Resource,
        *,
        runs: Runs = "function",
    ) -> AwsResource:
        """The network-interface permissions the service needs to attach what ``role`` ``runs``.

        A function's are those of ``AWSLambdaVPCAccessExecutionRole``; an endpoint's those
        SageMaker documents for models in a VPC. Creating, deleting and sharing an interface
        are scoped to this account's interfaces (creating also to these subnets and security
        group); EC2's Describe calls take no resource scope.
        """
        interfaces = pulumi.Output.concat(
            "arn:aws:ec2:", region, ":", account, ":network-interface/*"
        )
        manage, describe = _INTERFACE_ACTIONS[runs]

        def document(values: list[Any]) -> str:
            eni, group, *subnet_arns = values
            statements = [
                {
                    "Sid": "AttachToTheVpc",
                    "Effect": "Allow",
                    "Action": ["ec2:CreateNetworkInterface"],
                    "Resource": sorted([eni, group, *subnet_arns]),
                },
                {
                    "Sid": "ManageItsInterfaces",
                    "Effect": "Allow",
                    "Action": list(manage),
                    "Resource": [eni],
                },
                {
                    "Sid": "DescribeTheVpc",
                    "Effect": "Allow",
                    "Action": list(describe),
                    "Resource": "*",
                },
            ]
            return json.dumps(policy_document(statements), sort_keys=True)

        values = pulumi.Output.all(interfaces, self.security_group_arn, *self.subnet_arns)
        policy: AwsResource = res.iam.RolePolicy(
            name,
            role=role.id,
            policy=values.apply(document),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        return policy


def _members(plan: DeploymentPlan) -> str:
    # Said as it is: a SageMaker model's containers share the functions' group.
    if any(s.compute.kind == "endpoint" for s in plan.services):
        return "functions and model containers"
    return "functions"


def _bucket_only(bucket_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    def document(arn: str) -> str:
        statement = {
            "Sid": "TheDeploymentsBucketOnly",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            "Resource": [f"{arn}/*"],
        }
        return json.dumps(policy_document([statement]), sort_keys=True)

    return pulumi.Output.from_input(bucket_arn).apply(document)
