"""Claim checks for async jobs bigger than a queue message.

SQS takes at most 1 MiB per message, Service Bus Standard 256 KB, Pub/Sub 10 MB, while
``api.max_payload`` may allow 20 MB. Above the queue's limit the front stores the whole job body
in the deployment's bucket under ``jobs/payloads/<sha256 of the request id>`` (the bucket's
default encryption applies; a lifecycle rule on the prefix expires it) and queues a reference::

    {"request_id": "...", "claim": {"key": "jobs/payloads/...", "bytes": N, "sha256": "..."}}

The worker fetches the body, checks its size and digest, and handles it as if it had come
inline. The key depends only on the request id, so a retried submit writes the same object, and
idempotency (one record, one result per request id) is unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = [
    "PAYLOAD_BUCKET_ENV",
    "PREFIX",
    "ClaimError",
    "PayloadStore",
    "check_in",
    "check_out",
    "payload_bucket",
]

PREFIX = "jobs/payloads/"

PAYLOAD_BUCKET_ENV = "SVAI_PAYLOAD_BUCKET"
"""The bucket that holds job bodies above the queue's message limit (the backend sets it)."""


class ClaimError(ValueError):
    """A claim's object is missing, or not the bytes the front stored."""


class PayloadStore(Protocol):
    """Where job bodies above the queue's limit wait for the worker (the deployment's bucket)."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``; raise when the store refused it."""
        ...

    def get(self, key: str) -> bytes:
        """Read the object at ``key``; raise when it is missing."""
        ...


def payload_bucket(store: str, env: Mapping[str, str]) -> PayloadStore | None:
    """The deployment's bucket for claim checks, or ``None`` when the backend named none.

    Args:
        store: ``gs`` or ``azure`` (the AWS front writes through boto3).
        env: The environment; ``SVAI_PAYLOAD_BUCKET`` names the bucket (on Azure, the
            container's URL).
    """
    name = env.get(PAYLOAD_BUCKET_ENV)
    if not name:
        return None
    from svai.runtime.cloud.objects import Bucket

    return Bucket(store, name, env)


def check_in(store: PayloadStore, request_id: str, body: bytes) -> str:
    """Store a job body and return the message that references it.

    Args:
        store: The deployment's bucket.
        request_id: The job's idempotency key.
        body: The whole job message (JSON).

    Returns:
        The reference message to queue instead.
    """
    key = PREFIX + hashlib.sha256(request_id.encode()).hexdigest()
    store.put(key, body)
    claim = {"key": key, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    return json.dumps({"request_id": request_id, "claim": claim}, separators=(",", ":"))


def check_out(store: PayloadStore, claim: Any) -> str:
    """Fetch the job body a reference names, verified.

    Raises:
        ClaimError: the reference is malformed, or the object is not the bytes stored.
    """
    try:
        key, size, digest = str(claim["key"]), int(claim["bytes"]), str(claim["sha256"])
    except (KeyError, TypeError, ValueError):
        raise ClaimError("claim: expected key, bytes, sha256") from None
    if not key.startswith(PREFIX):
        raise ClaimError(f"claim: key must be under {PREFIX}")
    body = store.get(key)
    if len(body) != size or hashlib.sha256(body).hexdigest() != digest:
        raise ClaimError(f"claim: {key} is not the body the front stored")
    return body.decode("utf-8")
