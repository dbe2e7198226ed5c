"""AWS data-plane clients: the DynamoDB job and cache stores, and the SQS job queue.

They run inside Lambda functions and SageMaker containers, where boto3 is present; boto3 is
imported only when a deployment uses one of them (a client is passed in, or made on first use).
Transient DynamoDB and SQS errors (throttling, 5xx, dropped connections) are retried with
jitter.

The async pattern's results table holds one item per client request id, with a TTL::

    request_id   S   partition key: the client's request id (the idempotency key)
    status       S   "queued" | "done"
    outputs      S   the model outputs as compact JSON (done only)
    model_version, input_hash   S
    submitted_at, completed_at  N   epoch seconds
    expires_at   N   epoch seconds; the table's TTL attribute (DynamoDB deletes expired items)
    writes       N   how many times the result was written: 1 unless idempotency is broken

The result is written with a condition, so it happens once per client request id however often
SQS delivers the job (it is at-least-once) and however many workers race on it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from svai.runtime.core.cache import CacheStore
from svai.runtime.core.jobs import JobRecord, StoredResult, stored_result
from svai.runtime.core.retry import Backoff, retry

__all__ = [
    "DynamoDbStore",
    "ResultsStore",
    "S3Payloads",
    "SqsQueue",
    "is_transient",
    "open_cache_store",
]

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


class DynamoDbStore:
    """A ``CacheStore`` in a DynamoDB table: the shared cache of a deployment on AWS.

    Item layout (the table svai's AWS backend creates): ``key`` (S, partition key), ``value``
    (B), ``expires_at`` (N, epoch seconds; the table's TTL attribute). DynamoDB deletes expired
    items lazily, so reads check ``expires_at`` themselves. boto3 is imported only here, when a
    deployment uses this store (the Lambda runtime provides it).
    """

    def __init__(self, table: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self._client = client
        self._table = table

    def get(self, key: str) -> bytes | None:
        """Return the live value or ``None``; errors propagate (the cache treats them as outage)."""
        item = self._client.get_item(TableName=self._table, Key={"key": {"S": key}}).get("Item")
        if not item or float(item["expires_at"]["N"]) <= time.time():
            return None
        return bytes(item["value"]["B"])

    def put(self, key: str, value: bytes, ttl_s: float) -> None:
        """Write ``key`` with its expiry."""
        self._client.put_item(
            TableName=self._table,
            Item={
                "key": {"S": key},
                "value": {"B": value},
                "expires_at": {"N": str(int(time.time() + ttl_s) + 1)},
            },
        )

    def close(self) -> None:
        """Nothing to release: boto3 clients pool their own connections."""


class SqsQueue:
    """The AWS :class:`JobQueue`: one SQS message per job, transient errors retried."""

    def __init__(
        self,
        client: Any,
        queue_url: str,
        backoff: Backoff | None = None,
        limit_bytes: int | None = None,
    ) -> None:
        """Send to ``queue_url`` through ``client``.

        Args:
            client: A boto3 SQS client.
            queue_url: The job queue.
            backoff: Retry policy for transient errors.
            limit_bytes: SQS's message limit (``SVAI_QUEUE_MESSAGE_BYTES``, set by svai's AWS
                backend from its catalog), if known.
        """
        self.client = client
        self.queue_url = queue_url
        self.backoff = backoff or Backoff()
        self.limit_bytes = limit_bytes

    @property
    def max_message_bytes(self) -> int | None:
        """The largest job body that fits, or ``None`` when the limit is not known.

        SQS counts the message body's UTF-8 bytes, and svai sends no message attributes, so a
        body up to the limit fits; a bigger one goes through the bucket (a claim check).
        """
        return self.limit_bytes

    def send(self, request_id: str, body: str) -> None:
        """Send one job body."""
        retry(
            lambda: self.client.send_message(QueueUrl=self.queue_url, MessageBody=body),
            retryable=is_transient,
            backoff=self.backoff,
        )


class S3Payloads:
    """The claim-check store on AWS: job bodies in the deployment's bucket.

    The bucket's default encryption (SSE-KMS with the deployment's key) applies to every object,
    and its lifecycle rule expires ``jobs/payloads/`` (both in the plan).
    """

    def __init__(self, client: Any, bucket: str, backoff: Backoff | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.backoff = backoff or Backoff()

    def put(self, key: str, data: bytes) -> None:
        """Store one job body."""
        retry(
            lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=data),
            retryable=is_transient,
            backoff=self.backoff,
        )

    def get(self, key: str) -> bytes:
        """Read one job body."""
        reply = retry(
            lambda: self.client.get_object(Bucket=self.bucket, Key=key),
            retryable=is_transient,
            backoff=self.backoff,
        )
        return bytes(reply["Body"].read())


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


def open_cache_store(url: str, base_dir: Path) -> CacheStore | None:
    """Open ``dynamodb://TABLE``, or ``dynamodb://`` for the table named by ``SVAI_CACHE_TABLE``.

    Without a table (a cloud build run locally by ``svai serve``) there is no shared store.
    """
    table = url.removeprefix("dynamodb://") or os.environ.get("SVAI_CACHE_TABLE", "")
    return DynamoDbStore(table) if table else None


def _result(item: Mapping[str, Any]) -> StoredResult | None:
    """Decode a DynamoDB item (typed attribute values) into its result."""
    return stored_result({name: next(iter(value.values())) for name, value in item.items()})
