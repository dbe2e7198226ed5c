"""The async pattern's job records, and the one way they are written once.

A job is one record per client request id: the front creates it ``queued``; whichever worker
finishes first makes it ``done``, exactly once, however often the queue delivers the job and
however many workers race on it. Every cloud's store implements :class:`JobStore`; the queues
implement :class:`JobQueue`.

Stores without conditional update expressions (Firestore, Cosmos DB) write by optimistic
concurrency: read the record and its version, decide, then write only over that version, and
read again after losing a race. That loop is :func:`create_once`, :func:`write_once` and
:func:`forget_queued` here, over a store's :class:`Records`; each write carries a fresh
``writer`` token, so a call whose reply was lost, and whose retry then found the record taken,
recognises its own write. (DynamoDB does the same check server-side in one conditional update.)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "MESSAGE_BYTES_ENV",
    "JobQueue",
    "JobRecord",
    "JobStore",
    "Records",
    "StoredResult",
    "create_once",
    "forget_queued",
    "message_limit",
    "stored_result",
    "write_once",
]


@dataclass(frozen=True)
class StoredResult:
    """A finished job as read back from its store."""

    request_id: str
    outputs: Any
    model_version: str
    input_hash: str
    writes: int


@dataclass(frozen=True)
class JobRecord:
    """A job as the front reads it: ``queued`` (no result yet) or ``done`` (with ``result``)."""

    request_id: str
    status: str
    result: StoredResult | None = None


class JobStore(Protocol):
    """One record per client request id: created ``queued`` by the front, made ``done`` once.

    DynamoDB, Firestore and Cosmos DB implement it (``svai.runtime.cloud``); every method is
    idempotent and keyed on the client's request id.
    """

    def create(self, request_id: str) -> bool:
        """Record a queued job; False if a record already exists (a client retry)."""
        ...

    def forget(self, request_id: str) -> None:
        """Delete the record if it is still queued (the queue refused the job)."""
        ...

    def read(self, request_id: str) -> JobRecord | None:
        """Read the record, queued or done, or ``None`` when unknown."""
        ...

    def get(self, request_id: str) -> StoredResult | None:
        """Read a finished result, or ``None`` (unknown or still queued)."""
        ...

    def put_once(
        self, request_id: str, outputs_json: bytes, model_version: str, input_hash: str
    ) -> bool:
        """Store the result unless one is stored; True if this call wrote it."""
        ...


class JobQueue(Protocol):
    """Where the front sends accepted jobs (SQS, Pub/Sub, Service Bus)."""

    def send(self, request_id: str, body: str) -> None:
        """Enqueue one job body (JSON); raise when the queue refused it."""
        ...


MESSAGE_BYTES_ENV = "SVAI_QUEUE_MESSAGE_BYTES"
"""The queue's message limit, from svai's catalog (the backend sets it on the front)."""


def message_limit(env: Mapping[str, str]) -> int | None:
    """The queue's message limit in bytes that ``env`` declares, or ``None`` when unset.

    Raises:
        ValueError: the value is not a positive integer.
    """
    text = env.get(MESSAGE_BYTES_ENV, "")
    if not text:
        return None
    limit = int(text)
    if limit <= 0:
        raise ValueError(f"{MESSAGE_BYTES_ENV}={text!r}: expected a positive number of bytes")
    return limit


def stored_result(fields: Mapping[str, Any]) -> StoredResult | None:
    """Decode a record's plain fields into its result, or ``None`` while it is not done."""
    if fields.get("status") != "done":
        return None
    writes = fields.get("writes", 0)
    return StoredResult(
        request_id=str(fields.get("request_id", "")),
        outputs=json.loads(str(fields["outputs"])),
        model_version=str(fields.get("model_version", "")),
        input_hash=str(fields.get("input_hash", "")),
        writes=int(writes) if isinstance(writes, int | str) else 0,
    )


class Records(Protocol):
    """Records keyed by request id, each written only over the version last read."""

    def load(self, request_id: str) -> tuple[Mapping[str, Any], str] | None:
        """Read a record's fields and its version, or ``None`` when absent."""
        ...

    def insert(self, request_id: str, fields: Mapping[str, Any]) -> bool:
        """Create the record; False when one exists already."""
        ...

    def swap(self, request_id: str, fields: Mapping[str, Any], version: str) -> bool:
        """Overwrite the record unless it changed since ``version``; False when it did."""
        ...

    def remove(self, request_id: str, version: str) -> bool:
        """Delete the record unless it changed since ``version``; False when it did."""
        ...


def create_once(records: Records, request_id: str, fields: Mapping[str, Any]) -> bool:
    """Create a queued record; True if this call created it, False for a retried submit."""
    writer = uuid.uuid4().hex
    if records.insert(request_id, {**fields, "writer": writer}):
        return True
    found = records.load(request_id)
    return found is not None and found[0].get("writer") == writer


def write_once(
    records: Records,
    request_id: str,
    done: Callable[[Mapping[str, Any] | None], dict[str, Any]],
    *,
    rounds: int,
    gave_up: Callable[[], Exception],
) -> bool:
    """Make the record ``done`` unless it is; True if this call wrote the result.

    Args:
        records: The store's records.
        request_id: The client's request id.
        done: Builds the done record's fields from the current ones (``None`` when absent);
            ``status``, ``writes`` and ``writer`` are set here.
        rounds: Read-check-write rounds before giving up on a contended record.
        gave_up: The error to raise when the record kept changing.
    """
    writer = uuid.uuid4().hex
    for _ in range(rounds):
        found = records.load(request_id)
        current = found[0] if found is not None else None
        if current is not None and current.get("status") == "done":
            return current.get("writer") == writer
        writes = current.get("writes", 0) if current is not None else 0
        fields = {
            **done(current),
            "status": "done",
            "writes": (writes if isinstance(writes, int) else 0) + 1,
            "writer": writer,
        }
        if found is None:
            if records.insert(request_id, fields):
                return True
        elif records.swap(request_id, fields, found[1]):
            return True
    raise gave_up()


def forget_queued(
    records: Records, request_id: str, *, rounds: int, gave_up: Callable[[], Exception] | None
) -> None:
    """Delete the record while it is still queued; a done result is never removed.

    ``gave_up`` is raised when the record kept changing (``None``: give up quietly).
    """
    for _ in range(rounds):
        found = records.load(request_id)
        if found is None or found[0].get("status") != "queued":
            return
        if records.remove(request_id, found[1]):
            return
    if gave_up is not None:
        raise gave_up()
