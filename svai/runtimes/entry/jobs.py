"""The async pattern's front door on AWS: ``POST /jobs`` accepts a job, ``GET /jobs/{id}`` reads it.

Set the submit and status functions' handler to ``svai.runtimes.entry.jobs.handler``. They never
load the model: a submit checks the request early (content type, size, JSON, the input schema —
a 4xx with the field path, and nothing is queued), records the job once under the client's
idempotency key (or a fresh id), then sends it to the queue; the worker
(:mod:`svai.runtimes.entry.worker`) writes the result into the same DynamoDB item.

A retried submit with the same idempotency key returns the existing job and queues nothing, so
client retries never create duplicate work. If the queue refuses the message, the record is
removed again and the client gets 503 + ``Retry-After``: nothing is half-accepted.

Item layout (shared with :mod:`svai.runtimes.entry.results`)::

    request_id  S  partition key       status  S  "queued" | "done"
    submitted_at N                     expires_at N  TTL attribute
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from svai.runtimes.core import RuntimeConfig, load_config
from svai.runtimes.core.errors import RuntimeCoreError
from svai.runtimes.core.schema import compile_schema
from svai.runtimes.entry.events import (
    BadEventError,
    classify_event,
    error_body,
    http_call,
    simple_response,
)
from svai.runtimes.entry.lambda_app import config_path
from svai.runtimes.entry.results import is_transient
from svai.runtimes.entry.retry import Backoff, retry

__all__ = ["JobsFront", "handler"]

_SAFE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
_STATUS_PATH = re.compile(r"^/(?:[A-Za-z0-9_-]+/)?jobs/(?P<id>[^/]{1,128})$")
_SUBMIT_PATH = re.compile(r"^/(?:[A-Za-z0-9_-]+/)?jobs/?$")


class JobsFront:
    """Accepts jobs and answers their status, for API Gateway / function URL events.

    Args:
        config: The runtime config (payload limit, content types, schema, headers).
        sqs: A boto3 SQS client.
        queue_url: The job queue.
        dynamodb: A boto3 DynamoDB client.
        table: The results table (partition key ``request_id``, TTL on ``expires_at``).
        ttl_s: How long job records are kept.
    """

    def __init__(
        self,
        config: RuntimeConfig,
        *,
        sqs: Any,
        queue_url: str,
        dynamodb: Any,
        table: str,
        ttl_s: float = 7 * 86_400,
    ) -> None:
        self.config = config
        self.sqs = sqs
        self.queue_url = queue_url
        self.dynamodb = dynamodb
        self.table = table
        self.ttl_s = ttl_s
        schema = config.api.input_schema
        self._validate = compile_schema(schema) if schema is not None else None
        self._backoff = Backoff()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> JobsFront:
        """Build the front from the function's environment (set by svai's AWS backend).

        Reads ``svai_runtime.json`` (``SVAI_CONFIG`` or ``LAMBDA_TASK_ROOT``), ``SVAI_QUEUE_URL``
        and ``SVAI_RESULTS_TABLE``; the optional ``SVAI_RESULT_TTL_S`` sets the record TTL.
        """
        import boto3  # the Lambda runtime provides it; only the async front needs it

        return cls(
            load_config(config_path(environ)),
            sqs=boto3.client("sqs"),
            queue_url=environ["SVAI_QUEUE_URL"],
            dynamodb=boto3.client("dynamodb"),
            table=environ["SVAI_RESULTS_TABLE"],
            ttl_s=float(environ.get("SVAI_RESULT_TTL_S", 7 * 86_400)),
        )

    def dispatch(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Route one HTTP event: ``POST /jobs`` or ``GET /jobs/{id}``."""
        kind = classify_event(event)
        if kind not in ("http_v1", "http_v2"):
            return simple_response(
                400, error_body("bad_event", "expected an HTTP event"), "http_v2"
            )
        try:
            call = http_call(event, kind, self.config.api.request_id_header)
        except BadEventError as exc:
            return simple_response(400, error_body("bad_request", str(exc)), kind)
        status = _STATUS_PATH.match(call.path)
        if call.method == "GET" and status:
            code, body, headers = self.status(status["id"])
        elif call.method == "POST" and _SUBMIT_PATH.match(call.path):
            code, body, headers = self.submit(
                call.request.body, call.request.content_type, call.request.headers
            )
        elif status or _SUBMIT_PATH.match(call.path):
            code, body, headers = 405, error_body("method_not_allowed", call.method), {}
        else:
            code, body, headers = 404, error_body("not_found", call.path), {}
        return simple_response(code, body, kind, headers)

    def submit(
        self, body: bytes, content_type: str | None, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Check and enqueue one job; returns (status, body, headers)."""
        api = self.config.api
        media = (content_type or "").split(";", 1)[0].strip().lower()
        if media not in api.content_types:
            allowed = ", ".join(api.content_types)
            return 415, error_body("unsupported_media_type", f"send one of: {allowed}"), {}
        if len(body) > api.max_payload_bytes:
            return (
                413,
                error_body("payload_too_large", f"{len(body)} bytes > {api.max_payload_bytes}"),
                {},
            )
        try:
            payload = json.loads(body, parse_constant=_reject_constant)
        except ValueError as exc:
            return 400, error_body("bad_json", f"body is not JSON: {exc}"), {}
        if self._validate is not None:
            try:
                self._validate(payload)
            except RuntimeCoreError as exc:
                return exc.status, error_body(exc.code, str(exc), getattr(exc, "path", None)), {}
        key = headers.get(self.config.idempotency.header.lower())
        job_id = key if key is not None else uuid.uuid4().hex
        if not _SAFE_ID.fullmatch(job_id):
            return (
                400,
                error_body("bad_idempotency_key", "1-128 characters of [A-Za-z0-9._:@/+=-]"),
                {},
            )
        tenant = headers.get(api.tenant_header.lower(), "")[:128]
        if not self._record(job_id):
            current = self._read(job_id)
            state = current.get("status", {}).get("S", "queued") if current else "queued"
            return 202 if state != "done" else 200, _accepted(job_id, state), _location(job_id)
        message = json.dumps({"request_id": job_id, "payload": payload, "tenant": tenant})
        try:
            retry(
                lambda: self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=message),
                retryable=is_transient,
                backoff=self._backoff,
            )
        except Exception:
            self._forget(job_id)
            return (
                503,
                error_body("queue_unavailable", "the job was not accepted; retry later"),
                {"retry-after": "5"},
            )
        return 202, _accepted(job_id, "queued"), _location(job_id)

    def status(self, job_id: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer a job's status: 200 with outputs when done, 202 while queued, 404 unknown."""
        if not _SAFE_ID.fullmatch(job_id):
            return 404, error_body("not_found", "no such job"), {}
        item = self._read(job_id)
        if item is None:
            return 404, error_body("not_found", "no such job"), {}
        state = item.get("status", {}).get("S", "queued")
        if state != "done":
            return 202, _accepted(job_id, state), {"retry-after": "2"}
        body = {
            "id": job_id,
            "status": "done",
            "outputs": json.loads(item["outputs"]["S"]),
            "model_version": item["model_version"]["S"],
        }
        return 200, body, {"x-svai-model-version": item["model_version"]["S"]}

    def handler(self) -> Callable[[Any, Any], dict[str, Any]]:
        """Return the Lambda handler function."""
        return self.dispatch

    def _record(self, job_id: str) -> bool:
        now = int(time.time())
        try:
            retry(
                lambda: self.dynamodb.put_item(
                    TableName=self.table,
                    Item={
                        "request_id": {"S": job_id},
                        "status": {"S": "queued"},
                        "submitted_at": {"N": str(now)},
                        "expires_at": {"N": str(now + int(self.ttl_s))},
                    },
                    ConditionExpression="attribute_not_exists(request_id)",
                ),
                retryable=is_transient,
                backoff=self._backoff,
            )
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") == (
                "ConditionalCheckFailedException"
            ):
                return False
            raise
        return True

    def _forget(self, job_id: str) -> None:
        self.dynamodb.delete_item(
            TableName=self.table,
            Key={"request_id": {"S": job_id}},
            ConditionExpression="#s = :queued",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":queued": {"S": "queued"}},
        )

    def _read(self, job_id: str) -> dict[str, Any] | None:
        reply = retry(
            lambda: self.dynamodb.get_item(
                TableName=self.table, Key={"request_id": {"S": job_id}}, ConsistentRead=True
            ),
            retryable=is_transient,
            backoff=self._backoff,
        )
        item = reply.get("Item")
        return item if isinstance(item, dict) else None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _accepted(job_id: str, state: str) -> dict[str, Any]:
    return {"id": job_id, "status": state, "status_url": f"/jobs/{job_id}"}


def _location(job_id: str) -> dict[str, str]:
    return {"location": f"/jobs/{job_id}"}


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point; the front is built on first use (cheap: no model)."""
    global _FRONT
    if _FRONT is None:
        _FRONT = JobsFront.from_environment()
    return _FRONT.dispatch(event, context)


_FRONT: JobsFront | None = None
