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

from collections.abc import Mapping

from svai.runtime.core import Service
from svai.runtime.core.attachments import Attachment
from svai.runtime.core.errors import ConfigError

__all__ = ["QUEUE_KINDS", "worker_attachment"]

QUEUE_KINDS = ("pubsub-push", "servicebus")


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
        from svai.runtime.entry.pubsub import PushWorker

        return PushWorker.from_environment(service, env)
    if kind == "servicebus":
        from svai.runtime.entry.servicebus import ServiceBusWorker

        return ServiceBusWorker.from_environment(service, env)
    raise ConfigError(f"SVAI_QUEUE_KIND={kind!r}: expected one of {', '.join(QUEUE_KINDS)}")
