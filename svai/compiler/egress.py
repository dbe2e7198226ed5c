"""What restricted egress is made of, per cloud: the endpoints a plan's code reaches privately.

With ``security.network.egress: none | private-only`` the AWS backend puts the functions in a
VPC with no route out but VPC endpoints (:mod:`svai.backends.aws.network`), one per service the
deployment's code calls; the bill prices the interface endpoints among them. Both read the list
here, so what is built and what is priced cannot drift apart.
"""

from __future__ import annotations

from svai.compiler.gate import automatic, native_shift
from svai.ir import DeploymentPlan

__all__ = ["AWS_GATEWAY_ENDPOINTS", "aws_endpoints", "restricts_egress"]

AWS_GATEWAY_ENDPOINTS = frozenset({"s3", "dynamodb"})
"""Services reached through a (free) gateway endpoint; the others need an interface endpoint."""


def restricts_egress(plan: DeploymentPlan) -> bool:
    """Whether ``plan`` asks for outbound traffic to be restricted."""
    return plan.egress != "all"


def aws_endpoints(plan: DeploymentPlan) -> tuple[str, ...]:
    """The AWS services the plan's functions call, by endpoint name, sorted.

    S3 (the start-time model fetch, claim-checked job bodies), CloudWatch Logs and X-Ray always;
    DynamoDB with stores, SQS with a queue, Secrets Manager with secrets, SageMaker Runtime when
    a proxy function calls an endpoint, CloudWatch (``monitoring``) and Lambda when a scheduled
    release gate reads the candidate's metrics and moves the ``live`` aliases. Empty when egress is not restricted.

    A SageMaker model's container in the VPC needs nothing more: from inside it calls S3 (the
    start-time fetch, through the gateway endpoint) and Secrets Manager (its cold-start secret
    reads); SageMaker pulls the image, downloads ``model_data_url`` and ships the container's
    stdout to CloudWatch Logs itself, and the runtime's metrics are lines in that log (EMF).
    """
    if not restricts_egress(plan):
        return ()
    services = {"s3", "logs", "xray"}
    if plan.stores:
        services.add("dynamodb")
    if plan.queue is not None:
        services.add("sqs")
    if plan.secrets:
        services.add("secretsmanager")
    if any(s.compute.kind == "endpoint" for s in plan.services):
        services.add("sagemaker.runtime")
    if automatic(plan.rollout) and native_shift(plan.rollout) is None:
        # The scheduled release gate reads CloudWatch metrics and moves the Lambda aliases.
        services.update(("monitoring", "lambda"))
    return tuple(sorted(services))
