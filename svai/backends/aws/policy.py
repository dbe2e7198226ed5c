"""Map the plan's cloud-neutral permissions onto the narrowest IAM statements (pure, no Pulumi).

Every :class:`svai.ir.Permission` names one action on one logical resource; here it becomes the
few IAM actions that action needs, on the ARN of exactly that resource. Only
``cloudwatch:PutMetricData`` gets ``Resource: "*"`` — IAM offers no resource for it — and it is
pinned to the deployment's metric namespace with a condition instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from svai.ir import Identity
from svai.spec.names import metrics_namespace

__all__ = [
    "ACTIONS",
    "RESOURCE_FREE_ACTIONS",
    "metric_namespace",
    "policy_document",
    "statements",
    "topic_policy",
]

ACTIONS: dict[str, tuple[str, ...]] = {
    "artifact.read": ("s3:GetObject", "s3:GetObjectVersion"),
    "queue.send": ("sqs:SendMessage",),
    "queue.consume": (
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
    ),
    "dlq.send": ("sqs:SendMessage",),
    "store.read": ("dynamodb:GetItem", "dynamodb:Query"),
    "store.write": ("dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
    "secret.read": ("secretsmanager:GetSecretValue",),
    "key.use": ("kms:Decrypt", "kms:GenerateDataKey"),
    "logs.write": ("logs:CreateLogStream", "logs:PutLogEvents"),
    "metrics.write": ("cloudwatch:PutMetricData",),
    "model.invoke": ("sagemaker:InvokeEndpoint",),
}
"""Cloud-neutral action -> the IAM actions it needs (sorted, never a wildcard)."""

RESOURCE_FREE_ACTIONS: frozenset[str] = frozenset(
    # cloudwatch:GetMetricData: the release gate reads the candidate's metrics.
    {
        "cloudwatch:GetMetricData",
        "cloudwatch:PutMetricData",
        # A VPC-attached function's or SageMaker model's role looks the network up.
        "ec2:DescribeDhcpOptions",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
        "ecr:GetAuthorizationToken",
    }
)
"""IAM actions that support no resource-level permission, so ``Resource: "*"`` is required."""


metric_namespace = metrics_namespace
"""The CloudWatch namespace the runtime publishes its own metrics under."""


def _sid(action: str, resource: str) -> str:
    """A statement id, letters and digits only as IAM requires.

    ``secret.read`` on ``secret:HF_TOKEN`` gives ``SecretReadSecretHfToken``.
    """
    parts = re.split(r"[^A-Za-z0-9]+", f"{action}.{resource}")
    return "".join(part.capitalize() for part in parts)


def statements(
    identity: Identity,
    arns: Mapping[str, str],
    *,
    namespace: str,
    invoke_actions: Mapping[str, tuple[str, ...]] | None = None,
) -> list[dict[str, Any]]:
    """Return the IAM statements granting exactly ``identity``'s permissions.

    Args:
        identity: The service's permissions.
        arns: Logical resource (``queue``, ``store:results``, ``secret:HF_TOKEN``, ...) -> ARN(s),
            a string or a list of strings. Artifacts give the object ARN, log groups both the
            group ARN and its streams (``arn:...:log-group:NAME:*``).
        namespace: The metric namespace ``metrics.write`` is limited to.
        invoke_actions: Per ``service:<name>`` resource, the IAM actions ``model.invoke`` needs
            (``lambda:InvokeFunction`` for a function, the default is SageMaker's).

    Raises:
        KeyError: A permission names a resource with no ARN in ``arns``.
    """
    result: list[dict[str, Any]] = []
    for permission in identity.permissions:
        actions = ACTIONS[permission.action]
        if permission.action == "model.invoke" and invoke_actions:
            actions = invoke_actions.get(permission.resource, actions)
        statement: dict[str, Any] = {
            "Sid": _sid(permission.action, permission.resource),
            "Effect": "Allow",
            "Action": sorted(actions),
        }
        if permission.action == "metrics.write":
            statement["Resource"] = "*"
            statement["Condition"] = {"StringEquals": {"cloudwatch:namespace": namespace}}
        else:
            resource = arns[permission.resource]
            statement["Resource"] = resource if isinstance(resource, str) else list(resource)
        result.append(statement)
    return _merge(result)


def _merge(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop exact duplicates (same Sid) while keeping the first occurrence's position."""
    seen: set[str] = set()
    merged = []
    for item in items:
        if item["Sid"] in seen:
            continue
        seen.add(item["Sid"])
        merged.append(item)
    return merged


def policy_document(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Wrap statements into an IAM policy document."""
    return {"Version": "2012-10-17", "Statement": list(items)}


def topic_policy(topic_arn: str, account: str) -> dict[str, Any]:
    """Alarms and budgets of this account may publish to the alert topic; nobody else."""
    return policy_document(
        [
            {
                "Sid": "AlarmsAndBudgetsPublish",
                "Effect": "Allow",
                "Principal": {"Service": ["budgets.amazonaws.com", "cloudwatch.amazonaws.com"]},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }
        ]
    )
