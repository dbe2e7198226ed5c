"""The async worker on GCP: Pub/Sub pushes each job to the server's ``POST /_svai/pubsub``.

The server (``python -m svai.runtime.server``) adds this route when ``SVAI_QUEUE_KIND`` is
``pubsub-push`` (see :mod:`svai.runtime.server.attach`). A push request carries one message
(https://cloud.google.com/pubsub/docs/push)::

    {"message": {"data": "<base64 job JSON>", "messageId": "...", "publishTime": "RFC 3339",
                 "attributes": {"request_id": "..."}},
     "subscription": "projects/P/subscriptions/S", "deliveryAttempt": 3}

Authentication happens before a request reaches the container: the subscription pushes with an
OIDC token of its service account, and Cloud Run's invoker IAM check (the service does not
allow unauthenticated calls) verifies it and rejects anyone else. The handler therefore does
not look at the ``Authorization`` header.

The job goes to :class:`~svai.runtime.entry.worker.QueueWorker` with the Firestore job store,
which writes each request id's result once however often it is delivered. The answer tells
Pub/Sub what to do (https://cloud.google.com/pubsub/docs/handling-failures):

* 204 -- done, or already done (a duplicate): acknowledged;
* 400 -- a poison message (not a push envelope, not a job, or input the model refuses): not
  acknowledged, so after the subscription's ``maxDeliveryAttempts`` Pub/Sub moves it to the
  dead-letter topic, which therefore holds exactly the messages that can never succeed;
* 503 + ``Retry-After`` -- the model or a store failed, or the worker is not ready or stopping:
  not acknowledged, retried with the subscription's backoff.

Each delivery logs one ``pubsub delivery`` event: request id, message id, outcome, HTTP status,
delivery attempt and queue age (now minus ``publishTime``).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from svai.runtime.cloud.gcp import FirestoreJobStore, parse_timestamp
from svai.runtime.core import Response, Service
from svai.runtime.core.attachments import Handler
from svai.runtime.core.errors import RequestError
from svai.runtime.core.jobs import JobStore
from svai.runtime.core.messages import loads_strict
from svai.runtime.entry.claims import PayloadStore, payload_bucket
from svai.runtime.entry.lambda_events import error_body
from svai.runtime.entry.worker import JobError, QueueWorker

__all__ = ["PUSH_PATH", "Delivery", "PushWorker", "parse_push"]

PUSH_PATH = "/_svai/pubsub"
_RETRY_AFTER = {"retry-after": "10"}


@dataclass(frozen=True)
class Delivery:
    """One push request, decoded.

    Attributes:
        data: The message data (the job JSON), decoded from base64.
        message_id: Pub/Sub's message id.
        request_id: The ``request_id`` attribute the publisher set ("" when absent).
        delivery_attempt: Pub/Sub's count, or 0 when the subscription has no dead-letter policy.
        publish_time: When Pub/Sub accepted the message (epoch seconds), if it said.
    """

    data: bytes
    message_id: str
    request_id: str
    delivery_attempt: int
    publish_time: float | None

    def job(self) -> str:
        """The data as text.

        Raises:
            JobError: It is not UTF-8.
        """
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JobError(f"message data is not UTF-8: {exc}") from None


def parse_push(raw: bytes) -> Delivery:
    """Decode a push request body.

    Args:
        raw: The HTTP body Pub/Sub sent.

    Returns:
        The delivery.

    Raises:
        JobError: Not a push envelope, or its data is not base64.
    """
    try:
        envelope = loads_strict(raw)
    except (ValueError, RecursionError) as exc:
        raise JobError(f"push body is not JSON: {exc}") from None
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("data"), str):
        raise JobError("push body must be {'message': {'data': base64, ...}, ...}")
    try:
        data = base64.b64decode(message["data"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise JobError(f"message.data is not base64: {exc}") from None
    attributes = message.get("attributes")
    request_id = attributes.get("request_id", "") if isinstance(attributes, dict) else ""
    attempt = envelope.get("deliveryAttempt")
    try:
        published: float | None = parse_timestamp(str(message["publishTime"])).timestamp()
    except (KeyError, ValueError):
        published = None
    return Delivery(
        data=data,
        message_id=str(message.get("messageId", "")),
        request_id=str(request_id),
        delivery_attempt=attempt if isinstance(attempt, int) else 0,
        publish_time=published,
    )


class PushWorker:
    """Answers Pub/Sub push deliveries on the server (an ``Attachment``).

    Args:
        service: The runtime core (the server loads it; ``start`` is called once it is ready).
        store: The job records.
        payloads: The bucket claim-checked job bodies are read from (``None``: none).
        clock: Wall clock for queue ages (injected for tests).
    """

    def __init__(
        self,
        service: Service,
        store: JobStore,
        *,
        payloads: PayloadStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.worker = QueueWorker(service, results=store, payloads=payloads)
        self._clock = clock
        self._state = threading.Condition()
        self._accepting = False
        self._in_flight = 0

    @classmethod
    def from_environment(cls, service: Service, env: Mapping[str, str]) -> PushWorker:
        """Build with the Firestore job store that ``env`` names (see :mod:`svai.runtime.cloud.gcp`).

        ``SVAI_PAYLOAD_BUCKET``, when set, names the bucket of claim-checked job bodies.

        Raises:
            ConfigError: No project id is known.
        """
        return cls(
            service, FirestoreJobStore.from_environment(env), payloads=payload_bucket("gs", env)
        )

    @property
    def routes(self) -> Mapping[str, Handler]:
        """The push endpoint."""
        return {PUSH_PATH: self.handle}

    def start(self) -> None:
        """Take deliveries (the model is ready)."""
        with self._state:
            self._accepting = True

    def stop(self, timeout_s: float) -> bool:
        """Refuse new deliveries (503) and wait for those in hand; True when they finished."""
        with self._state:
            self._accepting = False
            return self._state.wait_for(lambda: self._in_flight == 0, timeout_s)

    def handle(self, method: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Process one push request; the status acks (2xx) or nacks it.

        Args:
            method: HTTP method (POST only).
            headers: Request headers (unused: Cloud Run checked the push's OIDC token).
            body: The push envelope.
        """
        if method != "POST":
            return _json(405, error_body("method_not_allowed", method), {"allow": "POST"})
        with self._state:
            if not self._accepting:
                return _json(503, error_body("not_ready", "worker not ready"), _RETRY_AFTER)
            self._in_flight += 1
        try:
            return self._deliver(body)
        finally:
            with self._state:
                self._in_flight -= 1
                self._state.notify_all()

    def _deliver(self, body: bytes) -> Response:
        fields: dict[str, Any] = {}
        try:
            delivery = parse_push(body)
            fields = {
                "request_id": delivery.request_id,
                "message_id": delivery.message_id,
                "delivery_attempt": delivery.delivery_attempt,
                "queue_age_s": (
                    None
                    if delivery.publish_time is None
                    else round(self._clock() - delivery.publish_time, 3)
                ),
            }
            outcome = self.worker.process_record({"body": delivery.job()})
        except (JobError, RequestError) as exc:
            # Can never succeed: nacked so that Pub/Sub dead-letters it after the last attempt.
            self._log("poison", 400, fields, "WARNING", repr(exc))
            code = exc.code if isinstance(exc, RequestError) else "bad_job"
            return _json(400, error_body(code, str(exc), getattr(exc, "path", None)))
        except Exception as exc:
            self._log("failed", 503, fields, "ERROR", repr(exc))
            return _json(503, error_body("unavailable", "job failed; retry later"), _RETRY_AFTER)
        self._log(outcome, 204, fields, "INFO", None)
        return Response(204, b"", {})

    def _log(
        self, outcome: str, status: int, fields: dict[str, Any], level: str, error: str | None
    ) -> None:
        extra = {"error": error} if error else {}
        self.service.telemetry.event(
            "pubsub delivery", level=level, outcome=outcome, status=status, **fields, **extra
        )


def _json(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    return Response(status, json.dumps(body, separators=(",", ":")).encode(), dict(headers or {}))
