"""A local stand-in for Lambda's SQS event source mapping (moto cannot run it without Docker).

It does what the mapping does: long-polls the queue, hands the function SQS-shaped batches
(``Records`` with ``messageId``, ``receiptHandle``, ``body``, ``attributes``,
``messageAttributes``, ``md5OfBody``, ``eventSource``, ``eventSourceARN``, ``awsRegion``), deletes
the messages the function did not report in ``batchItemFailures``, and leaves the failed ones to
reappear after their visibility timeout -- so the queue's redrive policy moves a message that
keeps failing to the dead-letter queue after ``maxReceiveCount`` receives. A function that
raises, or answers something that is not a valid partial batch response, fails the whole batch.

Run it as a process (``python -m svai.runtime.entry.emulator --queue-url URL``) to drive the
Lambda handler module against a real (or moto) queue.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from svai.runtime.core.retry import Backoff

__all__ = ["BatchOutcome", "EventSourceEmulator", "LocalContext", "main", "to_lambda_record"]

Handler = Callable[[dict[str, Any], Any], Any]


def to_lambda_record(message: dict[str, Any], arn: str, region: str) -> dict[str, Any]:
    """Convert an SQS ``ReceiveMessage`` message into a Lambda SQS event record.

    Args:
        message: One message as boto3 returns it (with ``Attributes`` and
            ``MessageAttributes`` requested).
        arn: The queue ARN.
        region: The queue's region.

    Returns:
        The record as Lambda delivers it.
    """
    attributes = {str(k): str(v) for k, v in (message.get("Attributes") or {}).items()}
    message_attributes: dict[str, Any] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        message_attributes[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    }


@dataclass(frozen=True)
class BatchOutcome:
    """What happened to one polled batch."""

    received: int
    deleted: int
    failed: tuple[str, ...]
    error: str | None = None


@dataclass
class EventSourceEmulator:
    """Polls one SQS queue and invokes a handler with SQS-shaped batches.

    Attributes:
        sqs: A boto3 SQS client.
        queue_url: The queue to poll.
        handler: The Lambda handler ``(event, context) -> response``.
        batch_size: Messages per batch (1-10, as ``ReceiveMessage`` allows).
        wait_s: Long-poll wait per receive.
        context_factory: Builds the context object passed to the handler.
        error_backoff: Pause policy after a failed poll (receive or delete error).
    """

    sqs: Any
    queue_url: str
    handler: Handler
    batch_size: int = 10
    wait_s: int = 1
    context_factory: Callable[[], Any] = field(default=lambda: None)
    error_backoff: Backoff = field(default_factory=lambda: Backoff(base_s=0.2, cap_s=5.0))
    _arn: str = ""
    _region: str = ""

    def __post_init__(self) -> None:
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        self._arn = attrs["Attributes"]["QueueArn"]
        self._region = self._arn.split(":")[3]

    def poll_once(self) -> BatchOutcome:
        """Receive one batch, invoke the handler, delete what succeeded.

        Returns:
            The batch's outcome (``received == 0`` when the queue had nothing).
        """
        reply = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(10, self.batch_size)),
            WaitTimeSeconds=self.wait_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = reply.get("Messages", [])
        if not messages:
            return BatchOutcome(0, 0, ())
        records = [to_lambda_record(m, self._arn, self._region) for m in messages]
        ids = [r["messageId"] for r in records]
        error = None
        try:
            response = self.handler({"Records": records}, self.context_factory())
            failed = _failed_ids(response, ids)
        except Exception as exc:  # the invocation failed: every message stays on the queue
            failed, error = set(ids), repr(exc)
        done = [r for r in records if r["messageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)
                ],
            )
        return BatchOutcome(len(records), len(done), tuple(sorted(failed)), error)

    def run(self, stop: threading.Event | None = None, max_empty_polls: int | None = None) -> None:
        """Poll until ``stop`` is set or ``max_empty_polls`` consecutive polls found nothing.

        Args:
            stop: Set it to end the loop after the current poll.
            max_empty_polls: End after this many empty polls in a row (``None``: never).
        """
        empty = 0
        errors = 0
        while stop is None or not stop.is_set():
            try:
                outcome = self.poll_once()
            except Exception as exc:
                # Like the real mapping: a failed receive or delete is retried after a jittered
                # pause; undeleted messages simply come back after their visibility timeout.
                errors += 1
                print(json.dumps({"message": "poll failed", "error": repr(exc)}), flush=True)
                time.sleep(self.error_backoff.delay(errors))
                continue
            errors = 0
            empty = empty + 1 if outcome.received == 0 else 0
            if max_empty_polls is not None and empty >= max_empty_polls:
                return


def _failed_ids(response: Any, ids: list[str]) -> set[str]:
    # Lambda's rules: a missing or empty list means success; a malformed response, or an
    # identifier that is not in the batch, fails the whole batch.
    if response is None:
        return set()
    if not isinstance(response, dict):
        return set(ids)
    items = response.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return set(ids)
    failed: set[str] = set()
    for item in items:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or ident not in ids:
            return set(ids)
        failed.add(ident)
    return failed


def _load_handler(target: str) -> Handler:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    handler: Handler = getattr(module, attr or "handler")
    return handler


class LocalContext:
    """A stand-in for the Lambda context object, with the attributes Powertools reads."""

    function_name = "svai-local"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:svai-local"
    memory_limit_in_mb = 1024
    aws_request_id = "local"
    log_group_name = "/aws/lambda/svai-local"
    log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left: a constant, local runs have no deadline."""
        return 900_000


def main(argv: list[str] | None = None) -> int:
    """Command line: poll a queue and drive a handler until stopped.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(prog="python -m svai.runtime.entry.emulator")
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--handler", default="svai.runtime.entry.aws_lambda:handler")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--wait-s", type=int, default=1)
    parser.add_argument("--max-empty-polls", type=int, default=None)
    args = parser.parse_args(argv)
    import boto3

    handler = _load_handler(args.handler)
    emulator = EventSourceEmulator(
        boto3.client("sqs"), args.queue_url, handler, args.batch_size, args.wait_s, LocalContext
    )
    print(json.dumps({"message": "emulator polling", "queue_url": args.queue_url}), flush=True)
    emulator.run(max_empty_polls=args.max_empty_polls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
