"""pulumi-aws resources registered by type token, without importing pulumi-aws's Python classes.

The generated classes of pulumi-aws cost about half a second of imports per process (``s3``
alone defines thousands of typed argument classes), more than everything else ``svai plan``
does. The engine needs only what those classes send: the type token, camelCase inputs and the
provider version, so :class:`AwsResource` sends exactly that, and the provider plugin of the
installed pulumi-aws does the work on ``apply``. Outputs are read with the SDK's snake_case
names (``bucket.arn``, ``alias.invoke_arn``).

``res`` mirrors the module layout of ``pulumi_aws`` for the resources svai builds, so the
components read like ordinary pulumi-aws code: ``res.s3.Bucket(name, force_destroy=False)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from svai.backends.aws.cloud import CLOUD
from svai.backends.tokens import Provider, TokenResource

__all__ = ["AWS", "AwsResource", "caller_account", "plugin_version", "res", "wire"]

_MAP_VALUED = frozenset(
    {"tags", "variables", "dimensions", "environment", "additional_version_weights"}
)
"""Inputs whose value is a user map: its keys are data, never renamed."""

# module -> class -> (type token, outputs read by svai beyond the inputs it passes)
_TYPES: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "apigatewayv2": {
        "Api": ("aws:apigatewayv2/api:Api", ("apiEndpoint", "executionArn")),
        "Authorizer": ("aws:apigatewayv2/authorizer:Authorizer", ()),
        "Integration": ("aws:apigatewayv2/integration:Integration", ()),
        "Route": ("aws:apigatewayv2/route:Route", ()),
        "Stage": ("aws:apigatewayv2/stage:Stage", ()),
    },
    "appautoscaling": {
        "Policy": ("aws:appautoscaling/policy:Policy", ("arn",)),
        "Target": ("aws:appautoscaling/target:Target", ("arn",)),
    },
    "budgets": {"Budget": ("aws:budgets/budget:Budget", ("arn",))},
    "cloudwatch": {
        "Dashboard": ("aws:cloudwatch/dashboard:Dashboard", ("dashboardArn",)),
        "LogGroup": ("aws:cloudwatch/logGroup:LogGroup", ("arn", "name")),
        "MetricAlarm": ("aws:cloudwatch/metricAlarm:MetricAlarm", ("arn",)),
    },
    "dynamodb": {"Table": ("aws:dynamodb/table:Table", ("arn", "name"))},
    "ec2": {
        "RouteTable": ("aws:ec2/routeTable:RouteTable", ("id",)),
        "RouteTableAssociation": ("aws:ec2/routeTableAssociation:RouteTableAssociation", ()),
        "SecurityGroup": ("aws:ec2/securityGroup:SecurityGroup", ("arn", "id")),
        "Subnet": ("aws:ec2/subnet:Subnet", ("arn", "id")),
        "Vpc": ("aws:ec2/vpc:Vpc", ("arn", "id")),
        "VpcEndpoint": ("aws:ec2/vpcEndpoint:VpcEndpoint", ("id", "prefixListId")),
    },
    "ecr": {
        "Repository": ("aws:ecr/repository:Repository", ("arn", "name", "repositoryUrl")),
        "RepositoryPolicy": ("aws:ecr/repositoryPolicy:RepositoryPolicy", ()),
    },
    "iam": {
        "Role": ("aws:iam/role:Role", ("arn", "name")),
        "RolePolicy": ("aws:iam/rolePolicy:RolePolicy", ()),
    },
    "kms": {
        "Alias": ("aws:kms/alias:Alias", ("arn",)),
        "Key": ("aws:kms/key:Key", ("arn", "keyId")),
    },
    "lambda_": {
        "Alias": ("aws:lambda/alias:Alias", ("arn", "invokeArn", "name")),
        "EventSourceMapping": ("aws:lambda/eventSourceMapping:EventSourceMapping", ("uuid",)),
        "Function": ("aws:lambda/function:Function", ("arn", "name", "version", "invokeArn")),
        "FunctionUrl": ("aws:lambda/functionUrl:FunctionUrl", ("functionUrl",)),
        "Permission": ("aws:lambda/permission:Permission", ()),
        "ProvisionedConcurrencyConfig": (
            "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig",
            (),
        ),
    },
    "s3": {
        "Bucket": ("aws:s3/bucket:Bucket", ("arn", "bucket")),
        "BucketLifecycleConfiguration": (
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            (),
        ),
        "BucketObjectv2": ("aws:s3/bucketObjectv2:BucketObjectv2", ("versionId",)),
        "BucketOwnershipControls": ("aws:s3/bucketOwnershipControls:BucketOwnershipControls", ()),
        "BucketPolicy": ("aws:s3/bucketPolicy:BucketPolicy", ()),
        "BucketPublicAccessBlock": ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", ()),
        "BucketServerSideEncryptionConfiguration": (
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            (),
        ),
        "BucketVersioning": ("aws:s3/bucketVersioning:BucketVersioning", ()),
    },
    "sagemaker": {
        "Endpoint": ("aws:sagemaker/endpoint:Endpoint", ("arn", "name")),
        "EndpointConfiguration": (
            "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
            ("arn", "name"),
        ),
        "Model": ("aws:sagemaker/model:Model", ("arn", "name")),
    },
    "sns": {
        "Topic": ("aws:sns/topic:Topic", ("arn",)),
        "TopicPolicy": ("aws:sns/topicPolicy:TopicPolicy", ()),
        "TopicSubscription": ("aws:sns/topicSubscription:TopicSubscription", ("arn",)),
    },
    "sqs": {
        "Queue": ("aws:sqs/queue:Queue", ("arn", "url")),
        "RedriveAllowPolicy": ("aws:sqs/redriveAllowPolicy:RedriveAllowPolicy", ()),
    },
}


AWS = Provider(
    CLOUD.sdk,
    outputs={token: outs for classes in _TYPES.values() for token, outs in classes.values()},
    data_keys=_MAP_VALUED,
)
"""pulumi-aws by type token: registers the resources of ``res`` and of the blueprint groups."""

AwsResource = TokenResource
"""What ``res.<module>.<Class>(...)`` returns: the resource registered by its type token."""


def plugin_version() -> str:
    """Version of the installed pulumi-aws: the provider plugin ``apply`` runs.

    Read from the package's ``pulumi-plugin.json`` without importing the package.
    """
    return AWS.version


# Read at import: without pulumi-aws the import fails, and the registry names the pip extra.
_VERSION = plugin_version()


def wire(value: Any) -> Any:
    """Rename snake_case argument keys to the engine's camelCase, leaving user maps alone."""
    return AWS.wire(value)


class _Module:
    def __init__(self, classes: Mapping[str, tuple[str, tuple[str, ...]]]) -> None:
        self._classes = classes

    def __getattr__(self, name: str) -> Any:
        token, _ = self._classes[name]

        def create(
            resource_name: str, opts: pulumi.ResourceOptions | None = None, **props: Any
        ) -> AwsResource:
            return AWS.create(token, resource_name, props, opts)

        return create


class _Namespace:
    def __getattr__(self, module: str) -> _Module:
        return _Module(_TYPES[module])


res: Any = _Namespace()
"""``res.<module>.<Class>(name, opts=..., **snake_case_args)`` -> :class:`AwsResource`."""


def caller_account() -> pulumi.Output[str]:
    """The account id of the credentials in use (``aws.getCallerIdentity``)."""
    result = pulumi.runtime.invoke_output(
        "aws:index/getCallerIdentity:getCallerIdentity",
        {},
        pulumi.InvokeOutputOptions(version=_VERSION),
    )
    return result.apply(lambda values: str(values["accountId"]))
