"""AWS side of the claim check: job bodies above SQS's 1 MiB go through the artifact bucket.

The submit function writes ``jobs/payloads/<sha256 of the request id>`` and queues a reference;
the worker reads it (:mod:`svai.runtime.entry.claims`). The bucket's default SSE-KMS encryption
applies to the objects, a lifecycle rule expires the prefix a day after the queue's retention
(a body is never needed after its message is gone), and each role gets exactly one action on
that prefix: ``s3:PutObject`` for the front, ``s3:GetObject`` for the worker.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi

from svai.backends.aws.policy import policy_document
from svai.backends.aws.provider import AwsResource, res
from svai.backends.claims import PAYLOAD_BUCKET_ENV, PREFIX, expiry_days
from svai.ir import DeploymentPlan, Role

__all__ = ["PAYLOAD_BUCKET_ENV", "PREFIX", "expire_payloads", "grant_payloads"]

_ACTIONS: dict[Role, str] = {"submit": "s3:PutObject", "worker": "s3:GetObject"}


def expire_payloads(
    plan: DeploymentPlan, bucket: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> None:
    """The lifecycle rule that deletes stored job bodies once their messages have expired."""
    days = expiry_days(plan)
    res.s3.BucketLifecycleConfiguration(
        f"{plan.name}-artifacts-job-payloads",
        bucket=bucket,
        rules=[
            {
                "id": "expire-job-payloads",
                "status": "Enabled",
                "filter": {"prefix": PREFIX},
                "expiration": {"days": days},
                "noncurrent_version_expiration": {"noncurrent_days": 1},
            }
        ],
        opts=opts,
    )


def grant_payloads(
    name: str,
    role_of: Role,
    role: AwsResource,
    bucket_arn: pulumi.Output[str],
    key_arn: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> AwsResource | None:
    """Let the front write, or the worker read, stored job bodies; ``None`` for other roles."""
    action = _ACTIONS.get(role_of)
    if action is None:
        return None
    kms = "kms:GenerateDataKey" if role_of == "submit" else "kms:Decrypt"

    def document(arns: list[str]) -> str:
        statements: list[dict[str, Any]] = [
            {
                "Sid": "JobPayloads",
                "Effect": "Allow",
                "Action": [action],
                "Resource": [f"{arns[0]}/{PREFIX}*"],
            },
            {"Sid": "JobPayloadsKey", "Effect": "Allow", "Action": [kms], "Resource": [arns[1]]},
        ]
        return json.dumps(policy_document(statements), sort_keys=True)

    policy: AwsResource = res.iam.RolePolicy(
        name, role=role.id, policy=pulumi.Output.all(bucket_arn, key_arn).apply(document), opts=opts
    )
    return policy
