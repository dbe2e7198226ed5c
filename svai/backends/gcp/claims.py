"""GCP side of the claim check: job bodies above Pub/Sub's limit go through the artifacts bucket.

The submit service writes ``jobs/payloads/<sha256 of the request id>`` and publishes a
reference; the worker reads it (:mod:`svai.runtime.entry.claims`). The bucket's default
encryption (Google-managed, or the spec's CMEK) applies to the objects; a lifecycle rule deletes
them a day after the topic's retention, and their noncurrent versions (the bucket is versioned)
a day later. Each service account gets one role on that prefix only, by an IAM condition:
``roles/storage.objectUser`` for the front (create, and replace when a submit is retried after
its first message was refused), ``roles/storage.objectViewer`` for the worker.
"""

from __future__ import annotations

from typing import Any

from svai.backends.claims import (
    MESSAGE_BYTES_ENV,
    PAYLOAD_BUCKET_ENV,
    PREFIX,
    expiry_days,
    message_limit,
)
from svai.backends.gcp import naming
from svai.backends.gcp import tokens as T
from svai.backends.gcp.context import LoweringContext
from svai.ir import DeploymentPlan, Service

__all__ = ["claim_env", "grant_payloads", "payload_lifecycle"]

_ROLES = {"submit": "roles/storage.objectUser", "worker": "roles/storage.objectViewer"}


def payload_lifecycle(plan: DeploymentPlan) -> list[dict[str, Any]]:
    """The bucket's lifecycle rules that delete stored job bodies (none for a sync plan)."""
    if plan.queue is None:
        return []
    match = {"matches_prefixes": [PREFIX]}
    return [
        {"action": {"type": "Delete"}, "condition": {"age": expiry_days(plan), **match}},
        {"action": {"type": "Delete"}, "condition": {"days_since_noncurrent_time": 1, **match}},
    ]


def claim_env(ctx: LoweringContext, svc: Service) -> list[tuple[str, str]]:
    """The bucket for the front and the worker; Pub/Sub's limit for the front."""
    if ctx.plan.queue is None or svc.role not in _ROLES:
        return []
    env = [(PAYLOAD_BUCKET_ENV, naming.bucket_name(ctx.project, ctx.app))]
    if svc.role == "submit":
        env.append((MESSAGE_BYTES_ENV, str(message_limit("gcp"))))
    return env


def grant_payloads(ctx: LoweringContext) -> None:
    """Let the front write, and the worker read, objects under the prefix and nothing else."""
    if ctx.plan.queue is None:
        return
    bucket = naming.bucket_name(ctx.project, ctx.app)
    condition = {
        "title": "only stored job bodies",
        "expression": f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{PREFIX}")',
    }
    for svc in sorted(ctx.plan.services, key=lambda s: s.name):
        role = _ROLES.get(svc.role)
        sa = f"sa-{svc.name}"
        if role is None or not any(s.key == sa for s in ctx.specs):
            continue
        grant = {"bucket": bucket, "role": role, "member": ctx.member(sa), "condition": condition}
        ctx.add(f"iam-{svc.name}-job-payloads", T.BUCKET_IAM, grant, sa, "artifacts")
