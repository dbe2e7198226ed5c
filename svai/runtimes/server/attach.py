"""Queue attachments: what turns the HTTP server into an async worker on GCP and Azure.

On AWS the worker is a Lambda fed by an SQS event source mapping. On GCP and Azure it is this
same container server, with one addition chosen by ``SVAI_QUEUE_KIND`` (set by the backend):

* ``pubsub-push`` (GCP): Pub/Sub pushes each job to ``POST /_svai/pubsub``; a 2xx answer acks it,
  anything else makes Pub/Sub retry with backoff and, after ``maxDeliveryAttempts``, dead-letter.
* ``servicebus`` (Azure): a receive loop peek-locks jobs from the Service Bus queue once the model
  is ready, completes them when done and abandons them on failure (Service Bus dead-letters a
  message after its ``maxDeliveryCount``). KEDA scales the replicas on the queue length.

An attachment is started once the model is ready and stopped when the server drains.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from svai.runtimes.core import Response, Service
from svai.runtimes.core.errors import ConfigError

__all__ = ["QUEUE_KINDS", "Attachment", "Handler", "worker_attachment"]

Handler = Callable[[str, Mapping[str, str], bytes], Response]
"""An extra route: ``(method, headers with lower-case names, body) -> Response``."""

QUEUE_KINDS = ("pubsub-push", "servicebus")


class Attachment(Protocol):
    """Extra routes and background work that a queue worker adds to the server."""

    @property
    def routes(self) -> Mapping[str, Handler]:
        """Exact paths this attachment answers (any method; the handler checks it)."""
        ...

    def start(self) -> None:
        """Begin background work; called once the model is ready."""
        ...

    def stop(self, timeout_s: float) -> bool:
        """Stop taking work and finish what is in hand; True when it finished in time."""
        ...


def worker_attachment(service: Service, env: Mapping[str, str]) -> Attachment | None:
    """Build the attachment named by ``SVAI_QUEUE_KIND``, or ``None`` when it is unset.

    Args:
        service: The runtime core (may still be loading).
        env: The process environment (queue names, store names, credentials endpoints).

    Raises:
        ConfigError: An unknown queue kind, or a setting it needs is missing.
    """
    kind = env.get("SVAI_QUEUE_KIND", "")
    if not kind:
        return None
    if kind == "pubsub-push":
        from svai.runtimes.entry.pubsub import PushWorker

        return PushWorker.from_environment(service, env)
    if kind == "servicebus":
        from svai.runtimes.entry.servicebus import ServiceBusWorker

        return ServiceBusWorker.from_environment(service, env)
    raise ConfigError(f"SVAI_QUEUE_KIND={kind!r}: expected one of {', '.join(QUEUE_KINDS)}")
