"""The async queue worker (pattern B): SQS job -> model -> results table, exactly once per job.

A job is an SQS message whose body is JSON::

    {"request_id": "client-chosen id", "payload": {"inputs": ...}, "tenant": "optional"}

``request_id`` is the client's id and the idempotency key: SQS delivers at least once, and a
client may enqueue the same job twice, so the worker keys everything on it -- never only on the
SQS message id, which differs between two sends of the same job.

For each record: parse the job (a malformed one is a failure that SQS redrives to the DLQ after
``maxReceiveCount`` receives); skip it if the results table already holds the request id; run
the model through the runtime core (``Service.predict``, whose idempotency table also dedupes
in-process); write the result with a conditional update, so a worker that crashed after the
write, or two workers racing, still produce one side effect. Failed records are reported in
``batchItemFailures`` (AWS Lambda Powertools' ``BatchProcessor`` builds the response) and get a
jittered, growing visibility timeout so retries spread out instead of hammering a sick model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from svai.runtime.core import Service
from svai.runtime.core.jobs import JobStore
from svai.runtime.core.messages import SAFE_ID, loads_strict
from svai.runtime.core.retry import Backoff
from svai.runtime.entry.claims import ClaimError, PayloadStore, check_out

__all__ = ["Job", "JobError", "QueueWorker", "parse_job"]

Outcome = Literal["done", "duplicate", "computed"]


class JobError(ValueError):
    """The message is not a valid job (it can never succeed: a poison message)."""


@dataclass(frozen=True)
class Job:
    """One unit of work taken from the queue.

    Attributes:
        request_id: The client's request id (idempotency key, results table key).
        payload: What ``Service.predict`` receives (``{"inputs": ...}``).
        tenant: Scopes the core's cache and idempotency keys.
    """

    request_id: str
    payload: Any
    tenant: str = ""


def parse_job(body: str, payloads: PayloadStore | None = None) -> Job:
    """Decode an SQS message body into a :class:`Job`.

    Args:
        body: The message body.
        payloads: Where claim-checked bodies are (a message with ``claim`` is read from there).

    Returns:
        The job.

    Raises:
        JobError: Not JSON, not an object, or a missing/unsafe ``request_id`` or ``payload``.
    """
    try:
        data = loads_strict(body)
    except (ValueError, RecursionError) as exc:
        raise JobError(f"message body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise JobError("message body must be a JSON object")
    request_id = data.get("request_id")
    if not isinstance(request_id, str) or not SAFE_ID.fullmatch(request_id):
        raise JobError("request_id: required, 1-128 characters of [A-Za-z0-9._:@/+=-]")
    if "claim" in data and "payload" not in data:
        if payloads is None:
            raise JobError("claim: the job body is in the bucket, and no bucket is configured")
        try:
            return parse_job(check_out(payloads, data["claim"]))
        except ClaimError as exc:
            raise JobError(str(exc)) from None
    if "payload" not in data:
        raise JobError("payload: required field is missing")
    tenant = data.get("tenant", "")
    if not isinstance(tenant, str):
        raise JobError("tenant: must be a string")
    return Job(request_id, data["payload"], tenant[:128])


@dataclass
class QueueWorker:
    """Processes SQS batches for one loaded ``Service``.

    Attributes:
        service: The loaded runtime core.
        results: Where results go (``None``: predictions are only logged, e.g. a sync function
            that also receives SQS events).
        sqs: A boto3 SQS client for visibility backoff on failures (``None`` disables it).
        retry_backoff: Visibility timeout policy for failed records, by receive count.
        outcomes: Counters of record outcomes in this process (for logs and tests).
        payloads: The bucket claim-checked job bodies are read from.
    """

    service: Service
    results: JobStore | None = None
    sqs: Any = None
    retry_backoff: Backoff = field(default_factory=lambda: Backoff(base_s=2.0, cap_s=300.0))
    outcomes: dict[str, int] = field(default_factory=dict)
    payloads: PayloadStore | None = None
    _queue_urls: dict[str, str] = field(default_factory=dict)

    def process_record(self, record: Mapping[str, Any]) -> Outcome:
        """Process one SQS record; raise to report it as a batch item failure.

        Args:
            record: One element of the event's ``Records``.

        Returns:
            ``computed`` (ran the model, no results store), ``done`` (ran and stored) or
            ``duplicate`` (already stored: nothing redone).

        Raises:
            JobError: The message is not a valid job.
            RuntimeCoreError: The model refused or failed the input.
        """
        job = parse_job(str(record.get("body", "")), self.payloads)
        outcome: Outcome
        if self.results is not None and self.results.get(job.request_id) is not None:
            outcome = "duplicate"
        else:
            prediction = self.service.predict(
                job.payload,
                request_id=job.request_id,
                tenant=job.tenant,
                idempotency_key=job.request_id,
            )
            if self.results is None:
                outcome = "computed"
            elif self.results.put_once(
                job.request_id,
                prediction.outputs_json,
                prediction.model_version,
                prediction.input_hash,
            ):
                outcome = "done"
            else:
                outcome = "duplicate"
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        return outcome

    def handle_batch(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Process an SQS event and return the partial batch response.

        Args:
            event: The SQS event (``Records``).
            context: The Lambda context, if any.

        Returns:
            ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}`` naming exactly the
            records that failed (an empty list when all succeeded).
        """
        # Imported here: it costs ~40 ms, which a function serving only HTTP never pays.
        from aws_lambda_powertools.utilities.batch import (
            BatchProcessor,
            EventType,
            process_partial_response,
        )

        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        response: dict[str, Any] = dict(
            process_partial_response(
                event=dict(event),
                record_handler=lambda record: self.process_record(record.raw_event),
                processor=processor,
                context=context,
            )
        )
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        if failed:
            self.outcomes["failed"] = self.outcomes.get("failed", 0) + len(failed)
            self._back_off([r for r in event.get("Records", []) if r.get("messageId") in failed])
        return response

    def _back_off(self, records: list[Mapping[str, Any]]) -> None:
        if self.sqs is None:
            return
        for record in records:
            try:
                count = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
                delay = math.ceil(self.retry_backoff.delay(count))
                self.sqs.change_message_visibility(
                    QueueUrl=self._queue_url(str(record["eventSourceARN"])),
                    ReceiptHandle=record["receiptHandle"],
                    VisibilityTimeout=min(43_200, delay),
                )
            except Exception:
                continue

    def _queue_url(self, arn: str) -> str:
        url = self._queue_urls.get(arn)
        if url is None:
            _, _, _, _, account, name = arn.split(":", 5)
            url = str(
                self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            )
            self._queue_urls[arn] = url
        return url
