"""The async pattern's front door: ``POST /jobs`` accepts a job, ``GET /jobs/{id}`` reads it.

:class:`JobsFront` is cloud-neutral: ``route`` takes plain values, over any
:class:`~svai.runtime.core.jobs.JobQueue` and :class:`~svai.runtime.core.jobs.JobStore`. Each
platform's entry point is a thin adapter: ``dispatch`` and ``handler`` here for API Gateway on
AWS (set the submit and status functions' handler to ``svai.runtime.entry.jobs.handler``; the
SQS queue and DynamoDB table come from :mod:`svai.runtime.cloud.aws`), the Cloud Run functions
and Azure Functions templates elsewhere.

The front never loads the model: a submit checks the request early (content type, size, JSON,
the input schema — a 4xx with the field path, and nothing is queued), records the job once under
the client's idempotency key (or a fresh id), then sends it to the queue; the worker
(:mod:`svai.runtime.entry.worker`) writes the result into the same record.

A retried submit with the same idempotency key returns the existing job and queues nothing, so
client retries never create duplicate work. If the queue refuses the message, the record is
removed again and the client gets 503 + ``Retry-After``: nothing is half-accepted. A job above
the queue's message limit goes through the bucket (:mod:`svai.runtime.entry.claims`).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from svai.runtime.core import RuntimeConfig, load_config
from svai.runtime.core.errors import RateLimitedError, RuntimeCoreError
from svai.runtime.core.jobs import JobQueue, JobStore, message_limit
from svai.runtime.core.messages import SAFE_ID, loads_strict
from svai.runtime.core.ratelimit import limiter_for
from svai.runtime.core.schema import compile_schema
from svai.runtime.entry.claims import PAYLOAD_BUCKET_ENV, PayloadStore, check_in
from svai.runtime.entry.lambda_events import (
    BadEventError,
    classify_event,
    config_path,
    error_body,
    http_call,
    simple_response,
)
from svai.runtime.entry.openapi import MISSING, is_openapi, read_document

__all__ = ["PAYLOAD_BUCKET_ENV", "JobsFront", "handler"]

_STATUS_PATH = re.compile(r"^/(?:[A-Za-z0-9_-]+/)?jobs/(?P<id>[^/]{1,128})$")
_SUBMIT_PATH = re.compile(r"^/(?:[A-Za-z0-9_-]+/)?jobs/?$")


class JobsFront:
    """Accepts jobs and answers their status; cloud-neutral over a queue and a job store.

    ``submit`` and ``status`` take and return plain values, so each platform's entry point
    (API Gateway events here, Cloud Run functions and Azure Functions requests elsewhere) is a
    thin adapter around them.

    Args:
        config: The runtime config (payload limit, content types, schema, headers).
        queue: Where accepted jobs go.
        store: The job records (created queued here, made done by the worker).
    """

    def __init__(
        self,
        config: RuntimeConfig,
        *,
        queue: JobQueue,
        store: JobStore,
        payloads: PayloadStore | None = None,
    ) -> None:
        self.config = config
        self.queue = queue
        self.store = store
        self.payloads = payloads
        schema = config.api.input_schema
        self._validate = compile_schema(schema) if schema is not None else None
        self._limiter = limiter_for(config.rate_limit)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> JobsFront:
        """Build the AWS front from the function's environment (set by svai's AWS backend).

        Reads ``svai_runtime.json`` (``SVAI_CONFIG`` or ``LAMBDA_TASK_ROOT``), ``SVAI_QUEUE_URL``
        and ``SVAI_RESULTS_TABLE``; the optional ``SVAI_RESULT_TTL_S`` sets the record TTL,
        ``SVAI_PAYLOAD_BUCKET`` the bucket for claim checks and ``SVAI_QUEUE_MESSAGE_BYTES``
        SQS's message limit above which a job goes through it.
        """
        import boto3  # the Lambda runtime provides it; only the async front needs it

        from svai.runtime.cloud.aws import ResultsStore, S3Payloads, SqsQueue

        bucket = environ.get(PAYLOAD_BUCKET_ENV)

        return cls(
            load_config(config_path(environ)),
            queue=SqsQueue(
                boto3.client("sqs"), environ["SVAI_QUEUE_URL"], limit_bytes=message_limit(environ)
            ),
            store=ResultsStore(
                boto3.client("dynamodb"),
                environ["SVAI_RESULTS_TABLE"],
                ttl_s=float(environ.get("SVAI_RESULT_TTL_S", 7 * 86_400)),
            ),
            payloads=S3Payloads(boto3.client("s3"), bucket) if bucket else None,
        )

    def dispatch(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Route one API Gateway / function URL event: ``POST /jobs`` or ``GET /jobs/{id}``."""
        kind = classify_event(event)
        if kind not in ("http_v1", "http_v2"):
            return simple_response(
                400, error_body("bad_event", "expected an HTTP event"), "http_v2"
            )
        try:
            call = http_call(event, kind, self.config.api.request_id_header)
        except BadEventError as exc:
            return simple_response(400, error_body("bad_request", str(exc)), kind)
        code, body, headers = self.route(
            call.method,
            call.path,
            call.request.body,
            call.request.content_type,
            call.request.headers,
        )
        return simple_response(code, body, kind, headers)

    def route(
        self,
        method: str,
        path: str,
        body: bytes,
        content_type: str | None,
        headers: Mapping[str, str],
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Route one request by method and path; returns (status, body, headers).

        Args:
            method: The HTTP method.
            path: The request path (``/jobs``, ``/jobs/{id}``, optionally after one prefix
                segment such as a stage name).
            body: The raw body.
            content_type: The Content-Type header.
            headers: Request headers, names lower-case.
        """
        if is_openapi(method, path):
            return self.openapi()
        status = _STATUS_PATH.match(path)
        if method == "GET" and status:
            return self.status(status["id"])
        if method == "POST" and _SUBMIT_PATH.match(path):
            return self.submit(body, content_type, headers)
        if status or _SUBMIT_PATH.match(path):
            return 405, error_body("method_not_allowed", method), {}
        return 404, error_body("not_found", path), {}

    def submit(
        self, body: bytes, content_type: str | None, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Check and enqueue one job; returns (status, body, headers)."""
        api = self.config.api
        tenant = headers.get(api.tenant_header.lower(), "")[:128]
        if self._limiter is not None:
            try:
                self._limiter.check(tenant)
            except RateLimitedError as exc:
                return (
                    429,
                    error_body(exc.code, exc.message),
                    {"retry-after": str(exc.retry_after_s)},
                )
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
            payload = loads_strict(body)  # NaN, Infinity and 1e400 are refused too
        except (ValueError, RecursionError) as exc:
            return 400, error_body("bad_json", f"body is not JSON: {exc}"), {}
        if self._validate is not None:
            try:
                self._validate(payload)
            except RuntimeCoreError as exc:
                return exc.status, error_body(exc.code, str(exc), getattr(exc, "path", None)), {}
        key = headers.get(self.config.idempotency.header.lower())
        job_id = key if key is not None else uuid.uuid4().hex
        if not SAFE_ID.fullmatch(job_id):
            return (
                400,
                error_body("bad_idempotency_key", "1-128 characters of [A-Za-z0-9._:@/+=-]"),
                {},
            )
        if not self.store.create(job_id):
            current = self.store.read(job_id)
            state = current.status if current else "queued"
            return 202 if state != "done" else 200, _accepted(job_id, state), _location(job_id)
        message = json.dumps({"request_id": job_id, "payload": payload, "tenant": tenant})
        limit = getattr(self.queue, "max_message_bytes", None)
        if limit is not None and len(message.encode()) > limit and self.payloads is None:
            self.store.forget(job_id)
            return (
                413,
                error_body(
                    "payload_too_large", f"the job is above the queue's {limit}-byte message limit"
                ),
                {},
            )
        try:
            if limit is not None and len(message.encode()) > limit and self.payloads is not None:
                message = check_in(self.payloads, job_id, message.encode())  # a claim check
            self.queue.send(job_id, message)
        except Exception:
            self.store.forget(job_id)
            return (
                503,
                error_body("queue_unavailable", "the job was not accepted; retry later"),
                {"retry-after": "5"},
            )
        return 202, _accepted(job_id, "queued"), _location(job_id)

    def status(self, job_id: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer a job's status: 200 with outputs when done, 202 while queued, 404 unknown."""
        if not SAFE_ID.fullmatch(job_id):
            return 404, error_body("not_found", "no such job"), {}
        record = self.store.read(job_id)
        if record is None:
            return 404, error_body("not_found", "no such job"), {}
        if record.result is None:
            return 202, _accepted(job_id, record.status), {"retry-after": "2"}
        result = record.result
        body = {
            "id": job_id,
            "status": "done",
            "outputs": result.outputs,
            "model_version": result.model_version,
        }
        return 200, body, {"x-svai-model-version": result.model_version}

    def openapi(self) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer ``GET /openapi.json``: the document ``svai build`` wrote beside the config."""
        document = read_document(Path(self.config.base_dir))
        if document is None:
            return 404, error_body("not_found", MISSING), {}
        return 200, document, {}

    def handler(self) -> Callable[[Any, Any], dict[str, Any]]:
        """Return the Lambda handler function."""
        return self.dispatch


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
