"""Names a deployment's parts must agree on, derived from the spec in one place.

The runtime writes its metrics (CloudWatch EMF) under the namespace the build puts in its config;
the AWS backend scopes ``PutMetricData`` to it and points the deployment's alarms at it; the
live-signal readers (``svai promote``, ``svai status``) read it back. One function, so the four
cannot drift apart (they had: the alarms watched a namespace nothing wrote to). The same holds
for the GCP cold-start metric (:func:`cold_start_metric`).
"""

from __future__ import annotations

__all__ = ["cold_start_metric", "metrics_namespace"]


def metrics_namespace(name: str) -> str:
    """The metric namespace of the deployment named ``name`` (the spec's ``name``)."""
    return f"svai/{name}"


def cold_start_metric(name: str) -> str:
    """The GCP log-based metric counting deployment ``name``'s cold starts.

    Cloud Run reports no cold starts per request; the GCP backend creates this metric over the
    runtime's request lines and the GCP reader reads it back as
    ``logging.googleapis.com/user/<this>``.
    """
    return f"svai-{name}-cold-starts"
