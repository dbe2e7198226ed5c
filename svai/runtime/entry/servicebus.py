"""The async worker on Azure: a Service Bus receive loop inside the container server.

``python -m svai.runtime.server`` with ``SVAI_QUEUE_KIND=servicebus`` attaches a
:class:`ServiceBusWorker` (see :mod:`svai.runtime.server.attach`). Once the model is ready it
runs one receive thread per worker slot of the service (``concurrency.max_concurrency``), each:

1. peek-locks the next job (``POST {queue}/messages/head?timeout=30``, a long poll);
2. hands it to :class:`~svai.runtime.entry.worker.QueueWorker`, which runs the model and writes
   the result once per client request id into Cosmos DB (:class:`CosmosJobStore`), renewing the
   lock every ``SVAI_LOCK_RENEW_S`` seconds meanwhile (0: never) so a long job is not handed to a
   second worker;
3. completes the message (``DELETE`` its lock URI) when the job is done or was already done, and
   abandons it (``PUT``) on any failure, so Service Bus redelivers it and, after the queue's
   ``maxDeliveryCount``, dead-letters it: the dead-letter queue holds exactly the jobs that can
   never succeed. A model failure (5xx) waits a jittered, growing delay before the abandon, so
   retries of a sick model spread out.

A worker killed mid-job loses nothing: its lock expires and the job is delivered again; the
result is written at most once whichever delivery finishes first. Receive errors back off with
jitter. One ``job`` event per message records ``request_id``, ``outcome``, ``delivery_count``
and ``queue_age_s``. On drain the loops stop taking messages and the jobs in hand finish.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from svai.runtime.cloud.azure import (
    CosmosJobStore,
    LockedMessage,
    ServiceBusQueue,
    env_seconds,
)
from svai.runtime.core import Service
from svai.runtime.core.attachments import Handler
from svai.runtime.core.errors import RuntimeCoreError
from svai.runtime.core.jobs import JobStore
from svai.runtime.core.retry import Backoff
from svai.runtime.entry.claims import PayloadStore, payload_bucket
from svai.runtime.entry.worker import JobError, QueueWorker, parse_job

__all__ = ["ServiceBusWorker"]


class ServiceBusWorker:
    """Receives jobs from a Service Bus queue and runs them through the runtime core.

    Args:
        service: The runtime core (started only once it is ready).
        queue: The job queue.
        results: The job records (Cosmos DB).
        receivers: Receive threads, i.e. jobs in hand at once (at least 1).
        renew_s: Renew each job's lock this often while it runs (0: never).
        wait_s: Long-poll time of one receive.
        receive_backoff: Delay policy after a failed receive.
        failure_backoff: Delay before abandoning a job the model failed, by delivery count.
        payloads: The container claim-checked job bodies are read from (``None``: none).
    """

    def __init__(
        self,
        service: Service,
        queue: ServiceBusQueue,
        results: JobStore,
        *,
        receivers: int = 1,
        renew_s: float = 0.0,
        wait_s: int = 30,
        receive_backoff: Backoff | None = None,
        failure_backoff: Backoff | None = None,
        payloads: PayloadStore | None = None,
    ) -> None:
        self.service = service
        self.queue = queue
        self.worker = QueueWorker(service, results=results, payloads=payloads)
        self.receivers = max(1, receivers)
        self.renew_s = renew_s
        self.wait_s = wait_s
        self.receive_backoff = receive_backoff or Backoff(base_s=0.5, cap_s=30.0)
        self.failure_backoff = failure_backoff or Backoff(base_s=1.0, cap_s=10.0)
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._in_hand = 0
        self._threads: list[threading.Thread] = []

    @classmethod
    def from_environment(cls, service: Service, env: Mapping[str, str]) -> ServiceBusWorker:
        """Build the worker from the container's environment (set by svai's Azure backend).

        Reads the Service Bus (``SVAI_SERVICEBUS_*``), Cosmos DB (``SVAI_COSMOS_*``,
        ``SVAI_RESULTS_CONTAINER``, ``SVAI_RESULT_TTL_S``) and identity settings, and
        ``SVAI_LOCK_RENEW_S``; ``SVAI_PAYLOAD_BUCKET``, when set, the container of claim-checked
        job bodies.

        Raises:
            ConfigError: A required setting is missing or malformed.
        """
        return cls(
            service,
            ServiceBusQueue.from_environment(env),
            CosmosJobStore.from_environment(env),
            receivers=service.cfg.workers,
            renew_s=env_seconds(env, "SVAI_LOCK_RENEW_S", 0.0),
            failure_backoff=Backoff(
                base_s=env_seconds(env, "SVAI_RETRY_BASE_S", 1.0),
                cap_s=env_seconds(env, "SVAI_RETRY_CAP_S", 10.0),
            ),
            payloads=payload_bucket("azure", env),
        )

    @property
    def routes(self) -> Mapping[str, Handler]:
        """None: the worker pulls its jobs, nothing is pushed to it."""
        return {}

    def start(self) -> None:
        """Start the receive threads."""
        for n in range(self.receivers):
            thread = threading.Thread(target=self._receive_loop, name=f"svai-sb-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.service.telemetry.event("servicebus worker started", receivers=self.receivers)

    def stop(self, timeout_s: float) -> bool:
        """Stop receiving and wait for the jobs in hand; True when they finished in time.

        A thread still in a long poll is not waited for: a message it gets from now on is
        abandoned at once, untouched.
        """
        with self._idle:
            self._stopping.set()
            return self._idle.wait_for(lambda: self._in_hand == 0, timeout_s)

    def _receive_loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                message = self.queue.receive(self.wait_s)
            except Exception as exc:
                failures += 1
                delay = self.receive_backoff.delay(failures)
                self.service.telemetry.event(
                    "servicebus receive failed", level="WARNING", error=repr(exc), retry_s=delay
                )
                self._stopping.wait(delay)
                continue
            failures = 0
            if message is None:
                continue
            with self._idle:
                taken = not self._stopping.is_set()
                if taken:
                    self._in_hand += 1
            if not taken:
                self._settle(message, complete=False)
                return
            try:
                self._process(message)
            finally:
                with self._idle:
                    self._in_hand -= 1
                    self._idle.notify_all()

    def _process(self, message: LockedMessage) -> None:
        fields: dict[str, Any] = {
            "request_id": _request_id(message.body),
            "message_id": message.message_id,
            "delivery_count": message.delivery_count,
            "queue_age_s": (
                round(time.time() - message.enqueued_at, 3)
                if message.enqueued_at is not None
                else None
            ),
        }
        renewing = self._keep_locked(message)
        try:
            outcome = self.worker.process_record({"body": message.body})
        except Exception as exc:
            # A job that can never succeed (malformed, or refused by the model with a 4xx) is
            # abandoned at once; Service Bus dead-letters it after maxDeliveryCount.
            poison = isinstance(exc, JobError) or (
                isinstance(exc, RuntimeCoreError) and exc.status < 500
            )
            fields.update(outcome="poison" if poison else "failed", error=str(exc)[:500])
            if not poison:
                self._stopping.wait(self.failure_backoff.delay(message.delivery_count))
            complete = False
        else:
            fields["outcome"] = outcome
            complete = True
        finally:
            renewing.set()
        fields["settled"] = self._settle(message, complete=complete)
        failed = fields["outcome"] in ("poison", "failed") or fields["settled"] == "settle_failed"
        self.service.telemetry.event("job", level="WARNING" if failed else "INFO", **fields)

    def _keep_locked(self, message: LockedMessage) -> threading.Event:
        """Renew ``message``'s lock every ``renew_s`` until the returned event is set."""
        done = threading.Event()
        if self.renew_s <= 0:
            return done

        def renew() -> None:
            while not done.wait(self.renew_s):
                try:
                    self.queue.renew(message)
                except Exception as exc:
                    self.service.telemetry.event(
                        "servicebus lock renewal failed", level="WARNING", error=repr(exc)
                    )

        threading.Thread(target=renew, name="svai-sb-renew", daemon=True).start()
        return done

    def _settle(self, message: LockedMessage, *, complete: bool) -> str:
        """Complete or abandon ``message``; say which, or ``settle_failed``.

        A failed settle needs no retry: the lock expires and Service Bus delivers the message
        again, and the result store keeps that redelivery from writing twice.
        """
        try:
            if complete:
                self.queue.complete(message)
                return "completed"
            self.queue.abandon(message)
            return "abandoned"
        except Exception:
            return "settle_failed"


def _request_id(body: str) -> str | None:
    try:
        return parse_job(body).request_id
    except JobError:
        return None
