"""What every cloud's claim check shares: the prefix, the runtime's variables, the expiry, the limit.

An async job whose message is above the queue's limit is stored by the front in the deployment's
bucket under :data:`PREFIX` and queued as a reference (:mod:`svai.runtime.entry.claims`). Each
backend builds the same three things: the front and the worker learn the bucket
(:data:`PAYLOAD_BUCKET_ENV`), the front learns the queue's limit from svai's catalog
(:data:`MESSAGE_BYTES_ENV`), and a lifecycle rule deletes stored bodies a day after their
messages can no longer be delivered (:func:`expiry_days`). The prefix and the variable names are
the runtime's own constants, imported, so the two sides cannot disagree. The cloud modules
(``aws/claims.py``, ``gcp/claims.py``, ``azure/claims.py``) add the grants and the rule.
"""

from __future__ import annotations

import math

from svai.compiler.catalog import load_catalog
from svai.ir import DeploymentPlan
from svai.runtime.core.jobs import MESSAGE_BYTES_ENV
from svai.runtime.entry.claims import PAYLOAD_BUCKET_ENV, PREFIX

__all__ = ["MESSAGE_BYTES_ENV", "PAYLOAD_BUCKET_ENV", "PREFIX", "expiry_days", "message_limit"]


def expiry_days(plan: DeploymentPlan) -> int:
    """Days after which a stored body is deleted: a day past the queue's retention."""
    assert plan.queue is not None
    return math.ceil(plan.queue.retention_s / 86_400) + 1


def message_limit(cloud: str, *, private: bool = False) -> int:
    """The largest message ``cloud``'s job queue takes (svai's catalog), in bytes."""
    return load_catalog().queue_message_limit(cloud, private=private)[0]
