"""AWS side of the claim check: job bodies above SQS's 1 MiB go through the artifact bucket.

The submit function writes ``jobs/payloads/<sha256 of the request id>`` and queues a reference;
the worker reads it (:mod:`svai.runtime.entry.claims`). The bucket's default SSE-KMS encryption
applies to the objects, a lifecycle rule expires the prefix a day after the queue's retention
(a body is never needed after its message is gone), and each role gets exactly one action on
that prefix: ``s3:PutObject`` for the front, ``s3:GetObject`` for the worker. Both are lowered
to blueprint resources (pure, no Pulumi).
"""

from __future__ import annotations

import json
from typing import Any

from svai.backends.aws.policy import policy_document
from svai.backends.blueprint import Ref, Rendered, ResourceSpec
from svai.backends.claims import PAYLOAD_BUCKET_ENV, PREFIX, expiry_days
from svai.ir import DeploymentPlan, Role

__all__ = ["PAYLOAD_BUCKET_ENV", "PREFIX", "expire_payloads", "grant_payloads"]

_ACTIONS: dict[Role, str] = {"submit": "s3:PutObject", "worker": "s3:GetObject"}
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def expire_payloads(plan: DeploymentPlan, bucket: Any) -> ResourceSpec:
    """The lifecycle rule that deletes stored job bodies once their messages have expired."""
    rule = {
        "id": "expire-job-payloads",
        "status": "Enabled",
        "filter": {"prefix": PREFIX},
        "expiration": {"days": expiry_days(plan)},
        "noncurrent_version_expiration": {"noncurrent_days": 1},
    }
    return ResourceSpec(
        "payload-expiry",
        LIFECYCLE,
        f"{plan.name}-artifacts-job-payloads",
        {"bucket": bucket, "rules": [rule]},
    )


def grant_payloads(
    key: str, name: str, role_of: Role, role: Ref, bucket_arn: Any, key_arn: Any
) -> ResourceSpec | None:
    """Let the front write, or the worker read, stored job bodies; ``None`` for other roles."""
    action = _ACTIONS.get(role_of)
    if action is None:
        return None
    kms = "kms:GenerateDataKey" if role_of == "submit" else "kms:Decrypt"

    def document(arns: tuple[Any, ...]) -> str:
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

    policy = Rendered((bucket_arn, key_arn), document)
    return ResourceSpec(key, ROLE_POLICY, name, {"role": role, "policy": policy})
