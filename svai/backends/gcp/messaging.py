"""Lowering of pattern B's queue: Pub/Sub topic, push subscription, dead letters and their IAM."""

from __future__ import annotations

import math
from typing import Any

from svai.backends.gcp import naming
from svai.backends.gcp import tokens as T
from svai.backends.gcp.blueprint import Concat, Ref
from svai.backends.gcp.context import LoweringContext, duration
from svai.compiler.catalog import load_catalog
from svai.errors import UsageError

__all__ = ["PUSH_ACK_MAX_S", "PUSH_PATH", "QueueLowering"]

PUSH_PATH = "/_svai/pubsub"
"""Path on the worker that receives Pub/Sub push deliveries."""
_DELIVERY = load_catalog().queue_delivery_limit("gcp")
assert _DELIVERY is not None, "the catalog's gcp.pubsub row has no max_delivery_s"
PUSH_ACK_MAX_S = int(_DELIVERY[0])
"""Pub/Sub's largest ack deadline; for push it is also the longest it waits for the worker
(the catalog's ``gcp.pubsub`` row, which the recommender's limits read too)."""


class QueueLowering(LoweringContext):
    """Creates the job queue of the async pattern."""

    def queue(self) -> None:
        """Create the job topic, dead-letter topic, push subscription and the IAM they need."""
        q = self.plan.queue
        if q is None:
            raise UsageError("an async plan needs a queue")
        worker = self.plan.service("worker")
        topic_args: dict[str, Any] = {"labels": self.labels}
        if self.kms_key is not None:
            topic_args["kms_key_name"] = self.kms_key
        jobs, dlq = naming.resource_id(self.app, "jobs"), naming.resource_id(self.app, "jobs-dlq")
        retention = min(max(q.retention_s, 600), 31 * 86400)
        dlq_retention = min(max(q.dlq_retention_s, 600), 31 * 86400)
        self.add(
            "topic-jobs",
            T.TOPIC,
            topic_args | {"name": jobs, "message_retention_duration": f"{retention}s"},
            *self.key_depends(),
        )
        self.add(
            "topic-dlq",
            T.TOPIC,
            topic_args | {"name": dlq, "message_retention_duration": f"{dlq_retention}s"},
            *self.key_depends(),
        )
        # Dead letters published to a topic without subscriptions are dropped: keep them.
        self.add(
            "sub-dlq",
            T.SUBSCRIPTION,
            {
                "name": naming.resource_id(self.app, "jobs-dlq-hold"),
                "topic": dlq,
                "ack_deadline_seconds": 60,
                "message_retention_duration": f"{min(dlq_retention, 7 * 86400)}s",
                "retain_acked_messages": False,
                "expiration_policy": {"ttl": ""},
                "labels": self.labels,
            },
            "topic-dlq",
        )
        ack = min(PUSH_ACK_MAX_S, max(10, math.ceil(worker.compute.timeout_s)))
        if worker.compute.timeout_s > PUSH_ACK_MAX_S:
            self.notes.append(
                f"worker timeout {worker.compute.timeout_s:g} s exceeds Pub/Sub's 600 s push "
                "ack deadline: a longer job is redelivered while it still runs; keep the worker "
                "timeout <= 600 s on GCP (rule SVAI_GCP_007)"
            )
        attempts = min(100, max(5, q.max_receive_count))
        if attempts != q.max_receive_count:
            self.notes.append(
                f"max deliveries {q.max_receive_count} clamped to {attempts} (Pub/Sub allows 5-100)"
            )
        spec_key, kind, _ = self.compute["worker"]
        attr = "url" if kind == "function" else "uri"
        self.service_account("push", "signs Pub/Sub push deliveries to the worker")
        dlq_id = f"projects/{self.project}/topics/{dlq}" if self.project else Ref("topic-dlq", "id")
        self.add(
            "sub-jobs",
            T.SUBSCRIPTION,
            {
                "name": naming.resource_id(self.app, "jobs-push"),
                "topic": jobs,
                "ack_deadline_seconds": ack,
                "message_retention_duration": f"{min(retention, 7 * 86400)}s",
                "expiration_policy": {"ttl": ""},
                "dead_letter_policy": {
                    "dead_letter_topic": dlq_id,
                    "max_delivery_attempts": attempts,
                },
                "retry_policy": {
                    "minimum_backoff": duration(min(600.0, q.retry_base_s)),
                    "maximum_backoff": duration(min(600.0, max(q.retry_base_s, q.retry_max_s))),
                },
                "push_config": {
                    "push_endpoint": Concat((Ref(spec_key, attr), PUSH_PATH)),
                    "oidc_token": {
                        "service_account_email": self.email("sa-push"),
                        "audience": Ref(spec_key, attr),
                    },
                },
                "labels": self.labels,
            },
            "topic-jobs",
            "topic-dlq",
            spec_key,
            "sa-push",
        )
        agent = self.agent("pubsub.googleapis.com")
        self.add(
            "iam-pubsub-dlq-publish",
            T.TOPIC_IAM,
            {"topic": dlq, "role": "roles/pubsub.publisher", "member": agent},
            "topic-dlq",
            "agent-pubsub",
        )
        self.add(
            "iam-pubsub-jobs-ack",
            T.SUBSCRIPTION_IAM,
            {
                "subscription": naming.resource_id(self.app, "jobs-push"),
                "role": "roles/pubsub.subscriber",
                "member": agent,
            },
            "sub-jobs",
            "agent-pubsub",
        )
        # Pub/Sub mints the push OIDC token as the push identity.
        sa_name = (
            f"projects/{self.project}/serviceAccounts/{self.email('sa-push')}"
            if self.project
            else Ref("sa-push", "name")
        )
        self.add(
            "iam-pubsub-push-token",
            T.SERVICE_ACCOUNT_IAM,
            {
                "service_account_id": sa_name,
                "role": "roles/iam.serviceAccountTokenCreator",
                "member": agent,
            },
            "sa-push",
            "agent-pubsub",
        )
        self.invoker("iam-push-invoke-worker", "worker", self.member("sa-push"), "sa-push")
