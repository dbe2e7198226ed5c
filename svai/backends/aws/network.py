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
(:func:`model_vpc_config`); its container reaches S3 (the start-time fetch) and
Secrets Manager through the endpoints above, while SageMaker itself pulls the image, downloads
``model_data_url`` through the S3 gateway endpoint and ships the container's logs. Its role gets
the network-interface permissions SageMaker documents for VPC mode. Serverless Inference takes no
VPC configuration, so a serverless endpoint stays outside (rule ``SVAI_AWS_035`` refuses it).

:func:`network_group` and :func:`grant` lower all of it to blueprint resources (pure); the
release gate of :mod:`svai.backends.aws.deployments` joins it with :func:`vpc_config` and
:func:`grant` too.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from svai.backends.aws import arguments as args
from svai.backends.aws.policy import policy_document
from svai.backends.blueprint import Concat, Group, Ref, Rendered, ResourceSpec
from svai.compiler.egress import free_endpoints, private_endpoints
from svai.ir import DeploymentPlan

__all__ = [
    "CIDR",
    "Runs",
    "grant",
    "model_vpc_config",
    "network_group",
    "vpc_config",
]

CIDR = "10.42.0.0/16"
"""The VPC's address range; nothing outside it is routed."""

_SUBNETS = (("a", "10.42.0.0/20"), ("b", "10.42.16.0/20"))
_SUBNET_IDS = [Ref(f"subnet:{zone}", "id") for zone, _ in _SUBNETS]
_FUNCTIONS = "security-group:functions"
_EC2 = "aws:ec2/"
_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"

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


def network_group(plan: DeploymentPlan, *, bucket_arn: Any) -> Group:
    """The ``PrivateNetwork`` group: VPC, subnets, endpoints and security groups.

    Args:
        plan: The deployment plan (its region, stores, queue and secrets).
        bucket_arn: The deployment's bucket, the only one the S3 endpoint lets through.
    """
    tags = args.tags(plan)
    vpc = Ref("vpc", "id")
    routes = Ref("routes", "id")
    specs = [
        ResourceSpec(
            "vpc",
            f"{_EC2}vpc:Vpc",
            f"{plan.name}-vpc",
            {
                "cidr_block": CIDR,
                "enable_dns_support": True,  # interface endpoints answer the services' own names
                "enable_dns_hostnames": True,
                "tags": tags,
            },
        ),
        ResourceSpec(
            "routes",
            f"{_EC2}routeTable:RouteTable",
            f"{plan.name}-private-routes",
            {"vpc_id": vpc, "tags": tags},
        ),
    ]
    for zone, block in _SUBNETS:
        subnet = {
            "vpc_id": vpc,
            "cidr_block": block,
            "availability_zone": f"{plan.region}{zone}",
            "map_public_ip_on_launch": False,
            "tags": tags,
        }
        association = {"subnet_id": Ref(f"subnet:{zone}", "id"), "route_table_id": routes}
        specs += [
            ResourceSpec(
                f"subnet:{zone}", f"{_EC2}subnet:Subnet", f"{plan.name}-private-{zone}", subnet
            ),
            ResourceSpec(
                f"routes:{zone}",
                f"{_EC2}routeTableAssociation:RouteTableAssociation",
                f"{plan.name}-private-{zone}-routes",
                association,
            ),
        ]
    services = private_endpoints(plan)
    gateways = [name for name in services if name in free_endpoints(plan.cloud)]
    for name in gateways:
        gateway = {
            "vpc_id": vpc,
            "service_name": f"com.amazonaws.{plan.region}.{name}",
            "vpc_endpoint_type": "Gateway",
            "route_table_ids": [routes],
            "policy": _bucket_only(bucket_arn) if name == "s3" else None,
            "tags": tags,
        }
        specs.append(_endpoint(plan, name, gateway))
    functions = {
        "vpc_id": vpc,
        "description": f"svai {plan.name}: {_members(plan)}; HTTPS to the VPC endpoints only",
        "egress": [
            {
                **_HTTPS,
                "prefix_list_ids": [Ref(f"endpoint:{name}", "prefix_list_id") for name in gateways],
            },
            {**_HTTPS, "cidr_blocks": [CIDR], "description": "interface endpoints"},
        ],
        "tags": tags,
    }
    endpoints = {
        "vpc_id": vpc,
        "description": f"svai {plan.name}: interface endpoints; HTTPS from the functions only",
        "ingress": [{**_HTTPS, "security_groups": [Ref(_FUNCTIONS, "id")]}],
        "tags": tags,
    }
    group = f"{_EC2}securityGroup:SecurityGroup"
    specs += [
        ResourceSpec(_FUNCTIONS, group, f"{plan.name}-functions", functions),
        ResourceSpec("security-group:endpoints", group, f"{plan.name}-endpoints", endpoints),
    ]
    for name in services:
        if name in gateways:
            continue
        interface = {
            "vpc_id": vpc,
            "service_name": f"com.amazonaws.{plan.region}.{name}",
            "vpc_endpoint_type": "Interface",
            "private_dns_enabled": True,
            "subnet_ids": _SUBNET_IDS,
            "security_group_ids": [Ref("security-group:endpoints", "id")],
            "tags": tags,
        }
        specs.append(_endpoint(plan, name, interface))
    return Group("PrivateNetwork", f"{plan.name}-network", tuple(specs))


def _endpoint(plan: DeploymentPlan, service: str, endpoint: dict[str, Any]) -> ResourceSpec:
    return ResourceSpec(
        f"endpoint:{service}",
        f"{_EC2}vpcEndpoint:VpcEndpoint",
        f"{plan.name}-endpoint-{service.replace('.', '-')}",
        endpoint,
    )


def vpc_config() -> dict[str, Any]:
    """The ``vpc_config`` argument of a function placed in the network."""
    return {"subnet_ids": list(_SUBNET_IDS), "security_group_ids": [Ref(_FUNCTIONS, "id")]}


def model_vpc_config() -> dict[str, Any]:
    """The ``vpc_config`` argument of a SageMaker model placed in the network."""
    return {"subnets": list(_SUBNET_IDS), "security_group_ids": [Ref(_FUNCTIONS, "id")]}


def grant(
    key: str, name: str, role: Any, account: Any, region: str, *, runs: Runs = "function"
) -> ResourceSpec:
    """The network-interface permissions the service needs to attach what ``role`` ``runs``.

    A function's are those of ``AWSLambdaVPCAccessExecutionRole``; an endpoint's those
    SageMaker documents for models in a VPC. Creating, deleting and sharing an interface
    are scoped to this account's interfaces (creating also to these subnets and security
    group); EC2's Describe calls take no resource scope.

    Args:
        key: The policy's key in the blueprint.
        name: Its logical name.
        role: The role's id (a :class:`Ref`).
        account: The account id.
        region: The plan's region.
        runs: What the role's interfaces are for.
    """
    interfaces = Concat(("arn:aws:ec2:", region, ":", account, ":network-interface/*"))
    manage, describe = _INTERFACE_ACTIONS[runs]

    def document(values: tuple[Any, ...]) -> str:
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

    subnets = tuple(Ref(f"subnet:{zone}", "arn") for zone, _ in _SUBNETS)
    policy = Rendered((interfaces, Ref(_FUNCTIONS, "arn"), *subnets), document)
    return ResourceSpec(key, _ROLE_POLICY, name, {"role": role, "policy": policy})


def _members(plan: DeploymentPlan) -> str:
    # Said as it is: a SageMaker model's containers share the functions' group.
    if any(s.compute.kind == "endpoint" for s in plan.services):
        return "functions and model containers"
    return "functions"


def _bucket_only(bucket_arn: Any) -> Rendered:
    def document(arns: tuple[Any, ...]) -> str:
        statement = {
            "Sid": "TheDeploymentsBucketOnly",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            "Resource": [f"{arns[0]}/*"],
        }
        return json.dumps(policy_document([statement]), sort_keys=True)

    return Rendered((bucket_arn,), document)
