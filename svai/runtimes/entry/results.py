"""The async pattern's results store: one DynamoDB item per client request id, with a TTL.

The item is the worker's side effect, written with a condition so that it happens once per
client request id however often the queue delivers the job (SQS is at-least-once) and however
many workers race on it. Item layout::

    request_id   S   partition key: the client's request id (the idempotency key)
    status       S   "done"
    outputs      S   the model outputs as compact JSON
    model_version, input_hash   S
    completed_at N   epoch seconds
    expires_at   N   epoch seconds; the table's TTL attribute (DynamoDB deletes expired items)
    writes       N   how many times the item was written: 1 unless idempotency is broken

Transient DynamoDB errors (throttling, 5xx, dropped connections) are retried with jitter.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Protocol

from svai.runtimes.entry.retry import Backoff, retry

__all__ = ["JobQueue", "JobRecord", "JobStore", "ResultsStore", "StoredResult", "is_transient"]

_TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)


def is_transient(exc: BaseException) -> bool:
    """Say whether an AWS SDK error is worth retrying.

    Args:
        exc: The exception raised by a boto3 call.

    Returns:
        True for throttling, 5xx and connection-level errors.
    """
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return code in _TRANSIENT_CODES or status >= 500
    # botocore's EndpointConnectionError / ConnectionClosedError / ReadTimeoutError, and OSError
    name = type(exc).__name__
    return isinstance(exc, OSError) or "Connection" in name or "Timeout" in name


@dataclass(frozen=True)
class StoredResult:
    """A finished job as read back from the table."""

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

    DynamoDB (:class:`ResultsStore`), Firestore and Cosmos DB implement it; every method is
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


class ResultsStore:
    """Conditional, TTL'd writes of job results to a DynamoDB table (a :class:`JobStore`).

    Args:
        client: A boto3 DynamoDB client.
        table: Table name (partition key ``request_id`` of type S, TTL on ``expires_at``).
        ttl_s: How long results are kept.
        backoff: Retry policy for transient errors.
    """

    def __init__(
        self, client: Any, table: str, *, ttl_s: float = 7 * 86_400, backoff: Backoff | None = None
    ) -> None:
        self.client = client
        self.table = table
        self.ttl_s = ttl_s
        self.backoff = backoff or Backoff()

    def get(self, request_id: str) -> StoredResult | None:
        """Read a finished result (strongly consistent), or ``None``.

        Args:
            request_id: The client's request id.

        Returns:
            The stored result, if the job is done.
        """
        item = self._item(request_id)
        return _result(item) if item else None

    def _item(self, request_id: str) -> dict[str, Any] | None:
        reply = retry(
            lambda: self.client.get_item(
                TableName=self.table, Key={"request_id": {"S": request_id}}, ConsistentRead=True
            ),
            retryable=is_transient,
            backoff=self.backoff,
        )
        item = reply.get("Item")
        return item if isinstance(item, dict) else None

    def put_once(
        self, request_id: str, outputs_json: bytes, model_version: str, input_hash: str
    ) -> bool:
        """Write the result unless one is already stored for ``request_id``.

        Args:
            request_id: The client's request id.
            outputs_json: The outputs as JSON bytes.
            model_version: Version id of the model that answered.
            input_hash: SHA-256 of the canonical payload.

        Returns:
            True if this call wrote the item, False if it was already there (a duplicate).
        """
        now = int(time.time())
        try:
            retry(
                lambda: self.client.update_item(
                    TableName=self.table,
                    Key={"request_id": {"S": request_id}},
                    UpdateExpression=(
                        "SET #s = :done, outputs = :o, model_version = :v, input_hash = :h, "
                        "completed_at = :now, expires_at = :exp ADD writes :one"
                    ),
                    ConditionExpression="attribute_not_exists(#s) OR #s <> :done",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":done": {"S": "done"},
                        ":o": {"S": outputs_json.decode("utf-8")},
                        ":v": {"S": model_version},
                        ":h": {"S": input_hash},
                        ":now": {"N": str(now)},
                        ":exp": {"N": str(now + int(self.ttl_s))},
                        ":one": {"N": "1"},
                    },
                ),
                retryable=is_transient,
                backoff=self.backoff,
            )
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def create(self, request_id: str) -> bool:
        """Record a queued job unless the request id is already known.

        Args:
            request_id: The client's request id (or a fresh one).

        Returns:
            True if this call created the record, False for a retried submit.
        """
        now = int(time.time())
        try:
            retry(
                lambda: self.client.put_item(
                    TableName=self.table,
                    Item={
                        "request_id": {"S": request_id},
                        "status": {"S": "queued"},
                        "submitted_at": {"N": str(now)},
                        "expires_at": {"N": str(now + int(self.ttl_s))},
                    },
                    ConditionExpression="attribute_not_exists(request_id)",
                ),
                retryable=is_transient,
                backoff=self.backoff,
            )
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") == (
                "ConditionalCheckFailedException"
            ):
                return False
            raise
        return True

    def forget(self, request_id: str) -> None:
        """Delete the record while it is still queued (a done result is never removed)."""
        try:
            self.client.delete_item(
                TableName=self.table,
                Key={"request_id": {"S": request_id}},
                ConditionExpression="#s = :queued",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":queued": {"S": "queued"}},
            )
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") != (
                "ConditionalCheckFailedException"
            ):
                raise

    def read(self, request_id: str) -> JobRecord | None:
        """Read the record, queued or done (strongly consistent)."""
        item = self._item(request_id)
        if not item:
            return None
        return JobRecord(request_id, item.get("status", {}).get("S", "queued"), _result(item))


def _result(item: dict[str, Any]) -> StoredResult | None:
    if item.get("status", {}).get("S") != "done":
        return None
    return StoredResult(
        request_id=item["request_id"]["S"],
        outputs=json.loads(item["outputs"]["S"]),
        model_version=item["model_version"]["S"],
        input_hash=item["input_hash"]["S"],
        writes=int(item.get("writes", {}).get("N", "0")),
    )
