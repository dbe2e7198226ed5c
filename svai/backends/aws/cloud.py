"""AWS as one :class:`~svai.backends.cloud.Cloud`: credentials, SDK, mocks and release hooks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from svai.backends.cloud import (
    Cloud,
    Mocks,
    ReleaseHooks,
    Shifted,
    ShiftHooks,
    any_set,
    by_token,
    mock_id,
)
from svai.errors import UsageError

if TYPE_CHECKING:
    from svai.backends.base import RecordedResource
    from svai.compiler.release_state import ReleaseState
    from svai.ir import DeploymentPlan

__all__ = ["CLOUD", "mock_arn"]

_ACCOUNT = "123456789012"
_REGION = "us-east-1"

LAMBDA_VERSION_OUTPUT = "aws_lambda_version_"
"""Prefix of the stack outputs holding each function's published Lambda version number."""


def _credentials(env: Mapping[str, str], home: Path) -> bool:
    return any_set(
        env,
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        ("AWS_PROFILE",),
        ("AWS_WEB_IDENTITY_TOKEN_FILE",),
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI",),
        ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",),
    ) or any((home / ".aws" / name).is_file() for name in ("credentials", "config"))


def _outputs(token: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Plausible pulumi-aws outputs: ARNs, URLs and ids in AWS's own shapes."""
    service = token.partition(":")[2].split("/", 1)[0].split(":", 1)[0].lower()
    physical = str(inputs.get("name") or name)
    arn = f"arn:aws:{service}:{_REGION}:{_ACCOUNT}:{physical}"
    outputs: dict[str, Any] = {"id": mock_id(token, physical), "arn": arn, "name": physical}
    if service == "iam":
        outputs["arn"] = f"arn:aws:iam::{_ACCOUNT}:{token.rsplit(':', 1)[-1].lower()}/{physical}"
    elif service == "s3":
        outputs.update(
            arn=f"arn:aws:s3:::{physical}",
            bucket=physical,
            bucketRegionalDomainName=f"{physical}.s3.{_REGION}.amazonaws.com",
        )
    elif service == "sqs":
        outputs["url"] = f"https://sqs.{_REGION}.amazonaws.com/{_ACCOUNT}/{physical}"
    elif service == "ec2":
        outputs["arn"] = (
            f"arn:aws:ec2:{_REGION}:{_ACCOUNT}:{token.rsplit(':', 1)[-1].lower()}/{physical}"
        )
        if token == "aws:ec2/vpcEndpoint:VpcEndpoint":
            outputs["prefixListId"] = f"pl-{mock_id(token, physical)[-8:]}"
    elif token == "aws:cloudwatch/logGroup:LogGroup":
        outputs["arn"] = f"arn:aws:logs:{_REGION}:{_ACCOUNT}:log-group:{physical}"
    elif token == "aws:lambda/alias:Alias":
        alias_arn = f"arn:aws:lambda:{_REGION}:{_ACCOUNT}:function:{inputs.get('functionName')}"
        alias_arn += f":{physical}"
        outputs.update(
            arn=alias_arn,
            invokeArn=(
                f"arn:aws:apigateway:{_REGION}:lambda:path/2015-03-31/functions/"
                f"{alias_arn}/invocations"
            ),
        )
    elif service == "lambda":
        fn_arn = f"arn:aws:lambda:{_REGION}:{_ACCOUNT}:function:{physical}"
        outputs.update(
            arn=fn_arn,
            version="1",
            qualifiedArn=f"{fn_arn}:1",
            invokeArn=f"arn:aws:apigateway:{_REGION}:lambda:path/2015-03-31/functions/{fn_arn}",
            functionUrl=f"https://{physical}.lambda-url.{_REGION}.on.aws/",
            uuid=f"{physical}-uuid",
        )
    elif service == "apigatewayv2":
        outputs.update(
            apiEndpoint=f"https://{physical}.execute-api.{_REGION}.amazonaws.com",
            executionArn=f"arn:aws:execute-api:{_REGION}:{_ACCOUNT}:{physical}",
            invokeUrl=f"https://{physical}.execute-api.{_REGION}.amazonaws.com/",
        )
    elif service == "kms":
        outputs.update(keyId=f"{physical}-key-id", targetKeyArn=arn)
    elif service == "ecr":
        outputs["repositoryUrl"] = f"{_ACCOUNT}.dkr.ecr.{_REGION}.amazonaws.com/{physical}"
    elif service == "dynamodb":
        outputs["streamArn"] = f"{arn}/stream/1970-01-01T00:00:00.000"
    return outputs


def mock_arn(resource: RecordedResource) -> str:
    """The ARN the preview's mocks give a recorded AWS resource."""
    return str(_outputs(resource.type, resource.name, resource.inputs)["arn"])


def _recorded_versions(outputs: Mapping[str, Any]) -> dict[str, str]:
    return {
        key.removeprefix(LAMBDA_VERSION_OUTPUT): str(value)
        for key, value in outputs.items()
        if key.startswith(LAMBDA_VERSION_OUTPUT) and value != "[secret]"
    }


def _release_options(
    plan: DeploymentPlan, recorded: Mapping[str, Mapping[str, str]], *, placeholders: bool
) -> dict[str, Any]:
    """The AWS backend of a release step must know the other live version's Lambda numbers.

    Without them the ``live`` alias would send everything to the new version.

    Raises:
        UsageError: a number was never recorded and ``placeholders`` is false.
    """
    others = [s.version for s in plan.rollout.split if s.version != plan.model_version]
    if not others:
        return {}
    other = others[0]
    numbers: dict[str, str] = {}
    for service in plan.services:
        if service.compute.kind != "faas":
            continue
        number = recorded.get(other, {}).get(service.name)
        if number is None:
            if not placeholders:
                raise UsageError(
                    f"the Lambda version number of {other} ({service.name}) is unknown: it is "
                    "recorded from the stack outputs when svai deploys that version, and this "
                    "environment has no record of it"
                )
            number = f"<{other}>"
        numbers[service.name] = number
    return {"previous_lambda_versions": numbers}


# CodeDeploy's calls (svai.backends.aws.codedeploy) and SageMaker's guardrails
# (svai.backends.aws.guardrails), imported only when a release makes them.
def _start_shift(
    plan: DeploymentPlan, state: ReleaseState, outputs: Mapping[str, Any]
) -> tuple[Shifted, ...]:
    from svai.backends.aws import codedeploy, guardrails

    return codedeploy.start(plan, state, outputs) + guardrails.start(plan, state, outputs)


def _read_shift(state: ReleaseState) -> tuple[Shifted, ...]:
    from svai.backends.aws import codedeploy, guardrails

    return codedeploy.read(guardrails.others(state)) + guardrails.read(state)


def _stop_shift(state: ReleaseState) -> tuple[Shifted, ...]:
    from svai.backends.aws import codedeploy, guardrails

    # SageMaker cannot stop an endpoint update: the rollback's own `up` routes it back.
    return codedeploy.stop(guardrails.others(state))


_LAMBDAS = frozenset({"aws.lambda.zip", "aws.lambda.image", "aws.lambda.snapstart"})

CLOUD = Cloud(
    name="aws",
    backend="svai.backends.aws.backend:AwsBackend",
    sdk="pulumi_aws",
    region_key="aws:region",
    rule_prefix="AWS",
    registry_login=(
        "aws ecr get-login-password --region {region} | docker login --username AWS "
        "--password-stdin {registry}"
    ),
    credentials=_credentials,
    missing_credentials=(
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
        "AWS_SESSION_TOKEN for temporary ones), or AWS_PROFILE, or run `aws configure` / "
        "`aws sso login`"
    ),
    offerings=_LAMBDAS | {"aws.sagemaker.serverless", "aws.sagemaker.realtime"},
    async_workers=_LAMBDAS | {"aws.sagemaker.serverless", "aws.sagemaker.realtime"},
    mocks=Mocks(
        outputs=_outputs,
        invokes={
            "aws:index/getCallerIdentity:getCallerIdentity": {
                "accountId": _ACCOUNT,
                "arn": f"arn:aws:iam::{_ACCOUNT}:user/svai",
                "userId": "AIDASVAI",
                "id": _ACCOUNT,
            },
            "aws:index/getRegion:getRegion": {"name": _REGION, "region": _REGION, "id": _REGION},
            "aws:index/getPartition:getPartition": {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
            },
        },
        id_from_logical_name=True,
    ),
    gate_routes="aliases",
    release=ReleaseHooks(
        record=_recorded_versions,
        options=_release_options,
        shift=ShiftHooks(start=_start_shift, read=_read_shift, stop=_stop_shift),
    ),
    traffic=by_token(
        {
            "aws:lambda/alias:Alias": (("functionVersion",), ("routingConfig",)),
            "aws:sagemaker/endpointConfiguration:EndpointConfiguration": (("productionVariants",),),
        }
    ),
)
"""AWS."""
