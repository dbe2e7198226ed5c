"""GCP: Cloud Monitoring ``projects.timeSeries.list`` over Cloud Run's request metrics.

Cloud Run measures every request of a revision (``run.googleapis.com/request_latencies``, a
distribution in milliseconds, and ``request_count`` labelled with the response code); the
backend names each revision after the model version (``<service>-<version>``), so the filter
selects one version with ``has_substring``. Cloud Run has no per-request cold-start metric; the
backend creates a log-based metric over the runtime's request lines
(:func:`svai.spec.names.cold_start_metric`, labelled ``version``), read here as
``logging.googleapis.com/user/<metric>``. It counts from its creation on. The Pub/Sub push
subscription's ``oldest_unacked_message_age`` gives an async deployment's queue age.

Credentials: ``GOOGLE_OAUTH_ACCESS_TOKEN`` (``gcloud auth print-access-token``) and the project
in ``GOOGLE_CLOUD_PROJECT``; ``SVAI_GCP_MONITORING_ENDPOINT`` and ``SVAI_GCP_LOGGING_ENDPOINT``
point the readers elsewhere. Logs come from Cloud Logging ``entries.list`` (:func:`logs`).

Cost to date (:func:`cost`): Cloud Billing has no query API for costs; its documented route is
the billing export to BigQuery. With ``SVAI_GCP_BILLING_TABLE`` naming the export table
(``project.dataset.table``), a BigQuery ``jobs.query`` sums ``cost`` plus ``credits`` of this
invoice month over the rows labelled ``svai-name`` in the target's region
(``SVAI_GCP_BIGQUERY_ENDPOINT`` points it elsewhere). Without it the cost is unavailable, and
says why.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from svai.errors import DeployError, ToolMissingError
from svai.signals import rest
from svai.signals.cost import TAG, Answer
from svai.signals.logs import LogLine, LogQuery, matches, millis, parse
from svai.signals.model import Signals, Source, Window
from svai.spec.names import cold_start_metric

if TYPE_CHECKING:
    from svai.runtime.cloud.gcp import MetadataTokens

__all__ = [
    "BIGQUERY_ENDPOINT_VAR",
    "BILLING_TABLE_VAR",
    "COST_SOURCE",
    "ENDPOINT_VAR",
    "LOGGING_ENDPOINT_VAR",
    "cost",
    "credentials",
    "logs",
    "queue_age",
    "read",
    "subscription_id",
]

ENDPOINT_VAR = "SVAI_GCP_MONITORING_ENDPOINT"
_ENDPOINT = "https://monitoring.googleapis.com"
_RUN = (
    'resource.type = "cloud_run_revision" AND resource.labels.revision_name = has_substring("{v}")'
)


_IN_GOOGLE_CLOUD = ("CLOUD_RUN_JOB", "K_SERVICE", "GCE_METADATA_HOST")
"""Variables that say svai runs in Google Cloud (a Cloud Run job or service), where the metadata
server hands out the service account's tokens; ``GCE_METADATA_HOST`` also points at it."""


def access_token(env: Mapping[str, str]) -> str | None:
    """A bearer token: a person's ``GOOGLE_OAUTH_ACCESS_TOKEN``, else the service account's.

    In Google Cloud (the release gate job) the token comes from the metadata server, refreshed
    before it expires; elsewhere, with no variable, there is none.

    Raises:
        svai.runtime.cloud.gcp.GcpError: the metadata server refused or could not be reached.
    """
    token = env.get("GOOGLE_OAUTH_ACCESS_TOKEN")
    if token or not _in_google_cloud(env):
        return token or None
    return _metadata(env).token()


def _in_google_cloud(env: Mapping[str, str]) -> bool:
    return any(env.get(name) for name in _IN_GOOGLE_CLOUD)


def _metadata(env: Mapping[str, str]) -> MetadataTokens:
    from svai.runtime.cloud.gcp import MetadataTokens

    host = env.get("GCE_METADATA_HOST") or ""
    cached = _TOKENS.get(host)
    if cached is None:
        cached = _TOKENS[host] = MetadataTokens.from_environment(env)
    return cached


_TOKENS: dict[str, MetadataTokens] = {}
"""One token source per metadata host: a token is reused until it nears expiry."""


def credentials(env: Mapping[str, str]) -> tuple[str, str]:
    """The access token and project, or an error naming what to set.

    A person sets both variables; the gate job in Google Cloud reads both from the metadata
    server.

    Raises:
        svai.errors.ToolMissingError: either is missing.
    """
    token, project = access_token(env), env.get("GOOGLE_CLOUD_PROJECT")
    if token and not project and _in_google_cloud(env):
        project = _metadata(env).project_id()
    if not token or not project:
        raise ToolMissingError(
            "no GCP credentials: set GOOGLE_OAUTH_ACCESS_TOKEN (gcloud auth print-access-token) "
            "and GOOGLE_CLOUD_PROJECT"
        )
    return token, project


def read(source: Source, window: Window) -> Signals:
    """Read one version's signals over ``window`` from Cloud Monitoring.

    Raises:
        svai.errors.ToolMissingError: no token or project.
        svai.errors.DeployError: Cloud Monitoring refused the query.
    """
    token, project = credentials(os.environ)
    base = os.environ.get(ENDPOINT_VAR) or _ENDPOINT
    resource = _RUN.format(v=source.version.lower())
    latency = f'{resource} AND metric.type = "run.googleapis.com/request_latencies"'
    count = f'{resource} AND metric.type = "run.googleapis.com/request_count"'

    def series(
        metric_filter: str, aligner: str, reducer: str, group: str = ""
    ) -> list[dict[str, Any]]:
        return _series(base, project, token, window, metric_filter, aligner, reducer, group)

    by_code = series(count, "ALIGN_SUM", "REDUCE_SUM", "metric.labels.response_code")
    codes: dict[str, int] = {}
    for one in by_code:
        code = str(one.get("metric", {}).get("labels", {}).get("response_code", ""))
        codes[code] = codes.get(code, 0) + round(sum(_point(p) for p in one.get("points", [])))
    # The deployment's log-based metric over the runtime's lines (the GCP backend creates it).
    cold = series(
        f'metric.type = "logging.googleapis.com/user/{cold_start_metric(source.service)}" '
        f'AND metric.labels.version = "{source.version}"',
        "ALIGN_SUM",
        "REDUCE_SUM",
    )
    percentiles = {
        pct: _worst(series(latency, f"ALIGN_PERCENTILE_{pct}", "REDUCE_MAX"))
        for pct in ("50", "95", "99")
    }
    return Signals(
        source,
        window,
        requests=sum(codes.values()),
        errors=sum(n for code, n in codes.items() if code.startswith("5")),
        cold_starts=round(sum(_point(p) for s in cold for p in s.get("points", []))),
        throttles=codes.get("429", 0),
        p50_s=percentiles["50"],
        p95_s=percentiles["95"],
        p99_s=percentiles["99"],
    )


def queue_age(service: str, region: str, window: Window) -> float | None:
    """The oldest unacknowledged job's age (s) on the deployment's Pub/Sub push subscription.

    ``None`` when Cloud Monitoring has no point in the window (no subscription, or no traffic).

    Raises:
        svai.errors.ToolMissingError: no token or project.
        svai.errors.DeployError: Cloud Monitoring refused the query.
    """
    del region  # Pub/Sub subscriptions are global
    token, project = credentials(os.environ)
    base = os.environ.get(ENDPOINT_VAR) or _ENDPOINT
    metric_filter = (
        f"{_SUBSCRIPTION.format(s=subscription_id(service))} AND metric.type = "
        '"pubsub.googleapis.com/subscription/oldest_unacked_message_age"'
    )
    found = _series(base, project, token, window, metric_filter, "ALIGN_MAX", "REDUCE_MAX")
    points = [_point(p) for one in found for p in one.get("points", [])]
    return max(points) if points else None


def subscription_id(service: str) -> str:
    """The push subscription of deployment ``service``'s jobs (the GCP backend's ``sub-jobs``)."""
    return f"{service}-jobs-push"


_SUBSCRIPTION = 'resource.type = "pubsub_subscription" AND resource.labels.subscription_id = "{s}"'


def _series(
    base: str,
    project: str,
    token: str,
    window: Window,
    metric_filter: str,
    aligner: str,
    reducer: str,
    group: str = "",
) -> list[dict[str, Any]]:
    """``timeSeries.list`` over ``window``, aligned to one point per series."""
    query = {
        "filter": metric_filter,
        "interval.startTime": _rfc3339(window.start),
        "interval.endTime": _rfc3339(window.end),
        "aggregation.alignmentPeriod": f"{window.seconds}s",
        "aggregation.perSeriesAligner": aligner,
        "aggregation.crossSeriesReducer": reducer,
    }
    if group:
        query["aggregation.groupByFields"] = group
    url = f"{base}/v3/projects/{project}/timeSeries?{urllib.parse.urlencode(query)}"
    return list(rest.call(url, token, "Cloud Monitoring timeSeries.list").get("timeSeries", []))


def _rfc3339(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _point(point: Mapping[str, Any]) -> float:
    """A point's value: ``int64Value`` comes as a JSON string, ``doubleValue`` as a number."""
    value = point.get("value", {})
    return float(value.get("doubleValue", value.get("int64Value", 0)))


def _worst(series: list[dict[str, Any]]) -> float | None:
    """The highest latency over the series' points, in seconds (Cloud Run reports ms)."""
    points = [_point(p) for s in series for p in s.get("points", [])]
    return max(points) / 1000 if points else None


_LOGGING_ENDPOINT = "https://logging.googleapis.com"
LOGGING_ENDPOINT_VAR = "SVAI_GCP_LOGGING_ENDPOINT"


def logs(query: LogQuery) -> list[LogLine]:
    """The runtime's lines from Cloud Logging ``entries.list`` (the Cloud Run services' stdout).

    Raises:
        svai.errors.ToolMissingError: no token or project.
        svai.errors.DeployError: Cloud Logging refused the call.
    """
    token, project = credentials(os.environ)
    base = os.environ.get(LOGGING_ENDPOINT_VAR) or _LOGGING_ENDPOINT
    terms = [
        'resource.type = "cloud_run_revision"',
        f'timestamp >= "{_rfc3339(query.window.start)}"',
        f'timestamp < "{_rfc3339(query.window.end)}"',
        *(f'jsonPayload.{name} = "{value}"' for name, value in query.fields()),
    ]
    if query.level is not None:
        terms.append(f"severity >= {query.level}")
    body: dict[str, Any] = {
        "resourceNames": [f"projects/{project}"],
        "filter": " AND ".join(terms),
        "orderBy": "timestamp asc",
        "pageSize": min(query.limit, 1000),
    }
    lines: list[LogLine] = []
    while True:
        page = rest.call(f"{base}/v2/entries:list", token, "Cloud Logging entries.list", body=body)
        for entry in page.get("entries", []):
            payload = entry.get("jsonPayload", entry.get("textPayload", ""))
            lines.append(parse(millis(entry.get("timestamp", "")), payload, entry.get("severity")))
        token_next = page.get("nextPageToken")
        # Severity ranges and window edges are filtered again here: count only what will show.
        if not token_next or sum(matches(x, query) for x in lines) >= query.limit:
            return lines
        body = {**body, "pageToken": token_next}


COST_SOURCE = "Cloud Billing export (BigQuery)"
BILLING_TABLE_VAR = "SVAI_GCP_BILLING_TABLE"
BIGQUERY_ENDPOINT_VAR = "SVAI_GCP_BIGQUERY_ENDPOINT"
_BIGQUERY = "https://bigquery.googleapis.com"
_TABLE = re.compile(r"^[A-Za-z0-9_:.-]{1,1024}$")

# Cost plus credits (negative) of this invoice month, on the rows labelled with the deployment.
_BILLING_SQL = (
    "SELECT SUM(cost) + SUM(IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) AS c), 0)) AS cost, "
    "ANY_VALUE(currency) AS currency FROM `{table}` "
    "WHERE invoice.month = @month AND location.region = @region "
    f"AND EXISTS (SELECT 1 FROM UNNEST(labels) AS l WHERE l.key = '{TAG}' AND l.value = @name)"
)


def cost(region: str, name: str, since: date, until: date) -> Answer:
    """Deployment ``name``'s cost plus credits in ``region`` this invoice month.

    Raises:
        svai.errors.ToolMissingError: no billing export table or credentials.
        svai.errors.DeployError: the table name is malformed or BigQuery refused the query.
    """
    del until  # the invoice month is the unit of the export
    table = os.environ.get(BILLING_TABLE_VAR)
    if not table:
        raise ToolMissingError(
            f"no billing export: set {BILLING_TABLE_VAR} to the Cloud Billing export table "
            "in BigQuery (project.dataset.gcp_billing_export_v1_...)"
        )
    if not _TABLE.match(table):
        raise DeployError(f"{BILLING_TABLE_VAR}={table!r} is not a BigQuery table name")
    token, project = credentials(os.environ)
    base = os.environ.get(BIGQUERY_ENDPOINT_VAR) or _BIGQUERY

    def parameter(key: str, value: str) -> dict[str, Any]:
        return {
            "name": key,
            "parameterType": {"type": "STRING"},
            "parameterValue": {"value": value},
        }

    body = {
        "query": _BILLING_SQL.format(table=table.replace(":", ".")),
        "useLegacySql": False,
        "parameterMode": "NAMED",
        "queryParameters": [
            parameter("month", since.strftime("%Y%m")),
            parameter("region", region),
            parameter("name", name),
        ],
        "timeoutMs": 30_000,
    }
    url = f"{base}/bigquery/v2/projects/{project}/queries"
    answer = rest.call(url, token, "BigQuery jobs.query", body=body)
    if not answer.get("jobComplete", False):
        raise DeployError("BigQuery jobs.query: the billing query did not finish within 30 s")
    rows = answer.get("rows") or []
    cells = [cell.get("v") for cell in rows[0]["f"]] if rows else [None, None]
    if cells[0] is None:
        return 0.0, "USD", "no cost exported yet for this deployment this month"
    return float(cells[0]), str(cells[1] or "USD"), None
