"""Cloud Monitoring alert policies for the plan's alarms, as pulumi-gcp ``AlertPolicy`` arguments.

Each plan alarm names a cloud-neutral metric and a service; this module picks the GCP metric and
monitored resource that measure it: Cloud Run request metrics (``cloud_run_revision``, which also
covers Cloud Run functions, since a gen2 function is a Cloud Run service of the same name), Vertex
AI online-prediction metrics (``aiplatform.googleapis.com/Endpoint``) and Pub/Sub subscription
metrics. ``cold_start_rate`` has no GCP metric counting cold starts per request, so it is skipped
with a note rather than approximated. The deployment's log-based metric
(:func:`cold_start_metric_args`) counts them from the runtime's request lines, for the readers.
``drift`` is a log-match condition on the runtime's own drift lines (``jsonPayload.drift_score``
above the threshold), which needs no log-based metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from svai.ir import Alarm
from svai.spec.names import cold_start_metric

__all__ = ["Watched", "alert_args", "cold_start_metric_args"]


@dataclass(frozen=True, slots=True)
class Watched:
    """What an alarm's ``service`` refers to on GCP.

    Attributes:
        kind: ``run`` (Cloud Run service or gen2 function), ``vertex`` or ``subscription``.
        name: Cloud Run service name, Vertex endpoint id, or Pub/Sub subscription id.
    """

    kind: str
    name: str


_RUN = 'resource.type = "cloud_run_revision" AND resource.labels.service_name = "{name}"'
_VERTEX = (
    'resource.type = "aiplatform.googleapis.com/Endpoint" '
    'AND resource.labels.endpoint_id = "{name}"'
)
_SUB = 'resource.type = "pubsub_subscription" AND resource.labels.subscription_id = "{name}"'


def cold_start_metric_args(app: str) -> dict[str, Any]:
    """``logging.Metric`` arguments: deployment ``app``'s cold starts, labelled ``version``.

    The runtime writes ``cold_start: true`` on the request (or generation) line of the first
    request a process serves; the metric counts those lines, so ``svai status`` and
    ``svai promote`` can report a cold-start rate on GCP (:func:`svai.signals.gcp.read`).
    """
    return {
        "name": cold_start_metric(app),
        "description": f"svai {app}: requests served by a process that had just loaded the model",
        "filter": (
            f'jsonPayload.service = "{app}" AND jsonPayload.cold_start = true '
            'AND (jsonPayload.message = "request" OR jsonPayload.message = "generation")'
        ),
        "metric_descriptor": {
            "metric_kind": "DELTA",
            "value_type": "INT64",
            "unit": "1",
            "labels": [
                {
                    "key": "version",
                    "value_type": "STRING",
                    "description": "The model version that served the request",
                }
            ],
        },
        # A key without "_": Pulumi's Python SDK camel-cases the keys of this map (model_version
        # was sent as modelVersion, which matches no label of the descriptor).
        "label_extractors": {"version": "EXTRACT(jsonPayload.model_version)"},
    }


def alert_args(
    alarm: Alarm, watched: Watched, labels: dict[str, str], channels: list[Any]
) -> dict[str, Any] | None:
    """Return ``AlertPolicy`` keyword arguments for ``alarm``, or ``None`` if GCP cannot measure it.

    Args:
        alarm: The plan's alarm (thresholds in seconds for latency and age, fractions for rates).
        watched: The GCP resource the alarm's service maps to.
        labels: User labels for the policy.
        channels: Notification channel names (or references to them).
    """
    condition = _drift_condition(alarm, watched) or _condition(alarm, watched)
    if condition is None:
        return None
    args: dict[str, Any] = {
        "display_name": f"{alarm.name} ({watched.name})",
        "combiner": "OR",
        "conditions": [condition],
        "severity": "ERROR" if alarm.metric in {"error_rate", "dlq_depth"} else "WARNING",
        "user_labels": labels,
        "documentation": {
            "content": (
                f"svai alarm `{alarm.name}`: {alarm.metric} of `{watched.name}` above "
                f"{alarm.threshold} for {alarm.evaluation_periods} x {alarm.period_s} s."
            ),
            "mime_type": "text/markdown",
        },
        "alert_strategy": {"auto_close": "1800s"},
    }
    if "condition_matched_log" in condition:
        # Log-match policies must rate-limit their notifications and cannot auto-close early.
        args["alert_strategy"] = {
            "auto_close": "1800s",
            "notification_rate_limit": {"period": f"{max(300, alarm.period_s)}s"},
        }
    if channels:
        args["notification_channels"] = channels
    return args


_LOG_RESOURCE = {
    "run": 'resource.type = "cloud_run_revision" AND resource.labels.service_name = "{name}"',
    "vertex": (
        'resource.type = "aiplatform.googleapis.com/Endpoint" '
        'AND resource.labels.endpoint_id = "{name}"'
    ),
}


def _drift_condition(alarm: Alarm, watched: Watched) -> dict[str, Any] | None:
    """A log-match condition on the runtime's drift lines of the watched service."""
    if alarm.metric != "drift" or watched.kind not in _LOG_RESOURCE:
        return None
    resource = _LOG_RESOURCE[watched.kind].format(name=watched.name)
    return {
        "display_name": f"drift_score > {alarm.threshold}",
        "condition_matched_log": {
            "filter": (
                f'{resource} AND jsonPayload.message = "drift" '
                f"AND jsonPayload.drift_score > {alarm.threshold}"
            )
        },
    }


def _condition(alarm: Alarm, watched: Watched) -> dict[str, Any] | None:
    period = f"{max(60, alarm.period_s)}s"
    duration = f"{max(0, alarm.period_s * (alarm.evaluation_periods - 1))}s"
    base = _RUN if watched.kind == "run" else _VERTEX if watched.kind == "vertex" else _SUB
    resource = base.format(name=watched.name)
    metric = alarm.metric
    threshold: dict[str, Any] = {
        "comparison": "COMPARISON_GT",
        "duration": duration,
        "trigger": {"count": 1},
    }
    if metric in {"latency_p95", "latency_p99"} and watched.kind in {"run", "vertex"}:
        metric_type = (
            "run.googleapis.com/request_latencies"
            if watched.kind == "run"
            else "aiplatform.googleapis.com/prediction/online/prediction_latencies"
        )
        aligner = "ALIGN_PERCENTILE_95" if metric == "latency_p95" else "ALIGN_PERCENTILE_99"
        threshold |= {
            "filter": f'{resource} AND metric.type = "{metric_type}"',
            # Both latency metrics are in milliseconds; the plan speaks seconds.
            "threshold_value": alarm.threshold * 1000.0,
            "aggregations": [{"alignment_period": period, "per_series_aligner": aligner}],
        }
    elif metric == "error_rate" and watched.kind in {"run", "vertex"}:
        if watched.kind == "run":
            total = f'{resource} AND metric.type = "run.googleapis.com/request_count"'
            errors = f'{total} AND metric.labels.response_code_class = "5xx"'
        else:
            prefix = "aiplatform.googleapis.com/prediction/online"
            total = f'{resource} AND metric.type = "{prefix}/prediction_count"'
            errors = f'{resource} AND metric.type = "{prefix}/error_count"'
        aggregation = {
            "alignment_period": period,
            "per_series_aligner": "ALIGN_RATE",
            "cross_series_reducer": "REDUCE_SUM",
        }
        threshold |= {
            "filter": errors,
            "denominator_filter": total,
            "threshold_value": alarm.threshold,
            "aggregations": [aggregation],
            "denominator_aggregations": [aggregation],
        }
    elif metric == "throttles" and watched.kind == "run":
        threshold |= {
            "filter": (
                f'{resource} AND metric.type = "run.googleapis.com/request_count" '
                'AND metric.labels.response_code = "429"'
            ),
            "threshold_value": alarm.threshold,
            "aggregations": [
                {
                    "alignment_period": period,
                    "per_series_aligner": "ALIGN_DELTA",
                    "cross_series_reducer": "REDUCE_SUM",
                }
            ],
        }
    elif metric == "concurrency" and watched.kind == "run":
        threshold |= {
            "filter": (
                f'{resource} AND metric.type = "run.googleapis.com/container/max_request_concurrencies"'
            ),
            "threshold_value": alarm.threshold,
            "aggregations": [
                {"alignment_period": period, "per_series_aligner": "ALIGN_PERCENTILE_99"}
            ],
        }
    elif metric in {"queue_age", "dlq_depth"} and watched.kind == "subscription":
        metric_type = (
            "pubsub.googleapis.com/subscription/oldest_unacked_message_age"
            if metric == "queue_age"
            else "pubsub.googleapis.com/subscription/num_undelivered_messages"
        )
        threshold |= {
            "filter": f'{resource} AND metric.type = "{metric_type}"',
            "threshold_value": alarm.threshold,
            "aggregations": [{"alignment_period": period, "per_series_aligner": "ALIGN_MAX"}],
        }
    else:
        return None
    return {"display_name": f"{alarm.metric} > {alarm.threshold}", "condition_threshold": threshold}
