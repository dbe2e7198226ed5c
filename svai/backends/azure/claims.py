"""Azure side of the claim check: job bodies above Service Bus's limit go through the artifacts container.

The submit app writes ``jobs/payloads/<sha256 of the request id>`` and queues a reference; the
worker reads it (:mod:`svai.runtime.entry.claims`). The storage account's encryption (Microsoft-
or customer-managed key, with infrastructure encryption) applies to the blobs; a lifecycle
management policy deletes them a day after the queue's message time to live, and their versions
(the account keeps versions) a day after they were made. The front gets Storage Blob Data
Contributor on the container with an ABAC condition that allows its blob reads, writes and
deletes under that prefix only; the worker's reader grant covers the prefix (widened where the
start-time fetch narrows it to the model's blobs).
"""

from __future__ import annotations

from collections.abc import Callable

from svai.backends.azure import naming, roles
from svai.backends.azure.blueprint import Ref
from svai.backends.azure.context import Context
from svai.backends.claims import (
    MESSAGE_BYTES_ENV,
    PAYLOAD_BUCKET_ENV,
    PREFIX,
    expiry_days,
    message_limit,
)
from svai.compiler.egress import network_built
from svai.ir import DeploymentPlan, Service

__all__ = ["add_payload_expiry", "claim_env", "grant_payloads", "payload_read_condition"]

_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
_PATH = f"@Resource[{_BLOBS}:path]"
_ACTIONS = ("read", "write", "delete", "add/action")
_UNDER_PREFIX = f"{_PATH} StringStartsWith '{PREFIX}'"


def add_payload_expiry(ctx: Context, add: Callable[..., Ref]) -> None:
    """The storage account's lifecycle rule that deletes stored job bodies (async plans)."""
    plan = ctx.plan
    if plan.queue is None:
        return
    days = expiry_days(plan)
    rule = {
        "name": "expire-job-payloads",
        "enabled": True,
        "type": "Lifecycle",
        "definition": {
            "filters": {"blob_types": ["blockBlob"], "prefix_match": [f"artifacts/{PREFIX}"]},
            "actions": {
                "base_blob": {"delete": {"days_after_modification_greater_than": days}},
                "version": {"delete": {"days_after_creation_greater_than": 1}},
            },
        },
    }
    add(
        "payload-expiry",
        "azure-native:storage:ManagementPolicy",
        "artifacts-payload-expiry",
        {
            "resource_group_name": ctx.rg,
            "account_name": Ref("storage", "name"),
            "management_policy_name": "default",
            "policy": {"rules": [rule]},
        },
    )


def claim_env(plan: DeploymentPlan, service: Service) -> list[tuple[str, str]]:
    """The container for the front and the worker; Service Bus's limit for the front."""
    if plan.queue is None or service.role not in ("submit", "worker"):
        return []
    account = naming.compact_name(plan, "svai")  # the artifacts account (lowering's foundation)
    env = [(PAYLOAD_BUCKET_ENV, f"https://{account}.blob.core.windows.net/artifacts")]
    if service.role == "submit":
        limit = message_limit("azure", private=network_built(plan))  # Premium in the VNet
        env.append((MESSAGE_BYTES_ENV, str(limit)))
    return env


def grant_payloads(ctx: Context, group: str, service: Service) -> None:
    """Let the front read, write and delete blobs under the prefix, and no other blob."""
    if ctx.plan.queue is None or service.role != "submit":
        return
    actions = " AND ".join(f"!(ActionMatches{{'{_BLOBS}/{a}'}})" for a in _ACTIONS)
    condition = f"(({actions}) OR ({_UNDER_PREFIX}))"
    ctx.grant(
        group,
        service.name,
        roles.STORAGE_BLOB_DATA_CONTRIBUTOR,
        Ref("container:artifacts"),
        "job-payloads",
        condition,
    )


def payload_read_condition(plan: DeploymentPlan, role: str, condition: str | None) -> str | None:
    """The worker's artifacts read condition, widened to the stored job bodies where narrowed."""
    if condition is None or plan.queue is None or role != "worker":
        return condition
    return f"{condition.removesuffix(')')} OR ({_UNDER_PREFIX}))"
