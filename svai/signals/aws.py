"""AWS: CloudWatch ``GetMetricData`` over the metrics the runtime's EMF lines declare.

Every request line (:mod:`svai.runtime.core.telemetry`) is CloudWatch Embedded Metric Format in
namespace ``svai/<name>`` (:func:`svai.spec.names.metrics_namespace`) with dimensions ``service`` and ``model_version``: ``latency_ms`` (its sample
count is the request count, its percentiles the latency), and ``errors``, ``cold_starts``,
``throttles`` (0 or 1 per request, so their sums are counts). One ``GetMetricData`` call reads
them all for one version; the endpoint follows boto3's own ``AWS_ENDPOINT_URL``. An async
deployment's queue age is SQS's ``ApproximateAgeOfOldestMessage`` (:func:`queue_age`).

Cost to date (:func:`cost`): Cost Explorer ``GetCostAndUsage``, ``UnblendedCost`` this month,
filtered on the tag ``svai-name`` and the target's region. The tag counts only once it is
activated as a cost allocation tag (Billing console), as the deployment's budget also needs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from svai.errors import DeployError, ToolMissingError
from svai.signals.cost import TAG, Answer
from svai.signals.logs import LogLine, LogQuery, parse
from svai.signals.model import Signals, Source, Window
from svai.spec.names import metrics_namespace

__all__ = [
    "COST_SOURCE",
    "client",
    "cost",
    "cost_request",
    "logs",
    "queue_age",
    "queue_name",
    "read",
]

COST_SOURCE = "Cost Explorer GetCostAndUsage"


_MISSING = (
    "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE "
    "(and AWS_ENDPOINT_URL to read from another endpoint)"
)

_QUERIES = (
    ("requests", "latency_ms", "SampleCount"),
    ("errors", "errors", "Sum"),
    ("cold", "cold_starts", "Sum"),
    ("throttles", "throttles", "Sum"),
    ("p50", "latency_ms", "p50"),
    ("p95", "latency_ms", "p95"),
    ("p99", "latency_ms", "p99"),
)


def client(service: str, region: str) -> Any:
    """A boto3 client for ``service`` in ``region``, or a clear error without credentials.

    Raises:
        svai.errors.ToolMissingError: boto3 is not installed or finds no credentials.
    """
    try:
        import boto3
    except ImportError:
        raise ToolMissingError("boto3 is not installed: pip install 'svai[aws]'") from None
    session = boto3.Session(region_name=region)
    if session.get_credentials() is None:
        raise ToolMissingError(_MISSING)
    return session.client(service)


def read(source: Source, window: Window) -> Signals:
    """Read one version's signals over ``window`` from CloudWatch.

    Raises:
        svai.errors.ToolMissingError: no credentials.
        svai.errors.DeployError: CloudWatch refused the query.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    cw = client("cloudwatch", source.region)
    dimensions = [
        {"Name": "service", "Value": source.service},
        {"Name": "model_version", "Value": source.version},
    ]
    queries = [
        {
            "Id": query_id,
            "MetricStat": {
                "Metric": {
                    "Namespace": metrics_namespace(source.service),
                    "MetricName": metric,
                    "Dimensions": dimensions,
                },
                # One period spanning the window: one figure per query, over every sample.
                "Period": _period(window),
                "Stat": stat,
            },
        }
        for query_id, metric, stat in _QUERIES
    ]
    try:
        answer = cw.get_metric_data(
            MetricDataQueries=queries,
            StartTime=datetime.fromtimestamp(window.start, UTC),
            EndTime=datetime.fromtimestamp(window.end, UTC),
        )
    except (BotoCoreError, ClientError) as exc:
        raise DeployError(f"CloudWatch GetMetricData failed: {exc}") from None
    values: dict[str, list[float]] = {
        r["Id"]: [float(v) for v in r.get("Values", [])] for r in answer["MetricDataResults"]
    }

    def summed(query_id: str) -> int:
        return round(sum(values.get(query_id, [])))

    def latency(query_id: str) -> float | None:
        # The window is one period, so one value; the worst if CloudWatch split it anyway.
        got = values.get(query_id) or []
        return max(got) / 1000 if got else None

    requests = summed("requests")
    return Signals(
        source,
        window,
        requests=requests,
        errors=summed("errors"),
        cold_starts=summed("cold"),
        throttles=summed("throttles"),
        p50_s=latency("p50"),
        p95_s=latency("p95"),
        p99_s=latency("p99"),
    )


def queue_name(service: str) -> str:
    """The SQS queue of deployment ``service``'s jobs (the AWS backend's ``jobs`` queue)."""
    return f"{service}-jobs"[:80]


def queue_age(service: str, region: str, window: Window) -> float | None:
    """The oldest queued job's age (s): SQS ``ApproximateAgeOfOldestMessage``, its maximum.

    ``None`` when CloudWatch has no datum in the window (no queue, or SQS reported nothing).

    Raises:
        svai.errors.ToolMissingError: no credentials.
        svai.errors.DeployError: CloudWatch refused the query.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    cw = client("cloudwatch", region)
    query = {
        "Id": "age",
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateAgeOfOldestMessage",
                "Dimensions": [{"Name": "QueueName", "Value": queue_name(service)}],
            },
            "Period": _period(window),
            "Stat": "Maximum",
        },
    }
    try:
        answer = cw.get_metric_data(
            MetricDataQueries=[query],
            StartTime=datetime.fromtimestamp(window.start, UTC),
            EndTime=datetime.fromtimestamp(window.end, UTC),
        )
    except (BotoCoreError, ClientError) as exc:
        raise DeployError(f"CloudWatch GetMetricData failed: {exc}") from None
    values = [float(v) for r in answer["MetricDataResults"] for v in r.get("Values", [])]
    return max(values) if values else None


def _period(window: Window) -> int:
    """The window's length rounded up to a period CloudWatch accepts (a multiple of 60 s)."""
    return max(60, -(-window.seconds // 60) * 60)


_LOG_GROUPS = ("/aws/lambda/{name}-", "/aws/sagemaker/Endpoints/{name}", "/ecs/{name}")
"""Prefixes of the log groups the backend creates (a Lambda function is ``<name>-<service>``)."""


def logs(query: LogQuery) -> list[LogLine]:
    """The runtime's lines from CloudWatch Logs ``FilterLogEvents`` over the deployment's groups.

    The filters go to CloudWatch as a JSON filter pattern; :func:`svai.signals.logs.read_logs`
    checks every line again.

    Raises:
        svai.errors.ToolMissingError: no credentials.
        svai.errors.DeployError: CloudWatch Logs refused a call.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    cwl = client("logs", query.region)
    terms = [f'$.{name} = "{value}"' for name, value in query.fields()]
    if query.level is not None:
        terms.append("(" + " || ".join(f'$.severity = "{s}"' for s in query.severities()) + ")")
    pattern = "{ " + " && ".join(terms) + " }"
    lines: list[LogLine] = []
    try:
        groups = [
            group["logGroupName"]
            for prefix in _LOG_GROUPS
            for page in cwl.get_paginator("describe_log_groups").paginate(
                logGroupNamePrefix=prefix.format(name=query.service)
            )
            for group in page.get("logGroups", [])
        ]
        for group in groups:
            pages = cwl.get_paginator("filter_log_events").paginate(
                logGroupName=group,
                startTime=query.window.start * 1000,
                endTime=query.window.end * 1000,
                filterPattern=pattern,
            )
            for page in pages:
                lines.extend(parse(e["timestamp"], e["message"]) for e in page.get("events", []))
                if len(lines) >= query.limit * 10:  # enough to filter; stop paging a busy group
                    break
    except (BotoCoreError, ClientError) as exc:
        raise DeployError(f"CloudWatch Logs FilterLogEvents failed: {exc}") from None
    return lines


def cost_request(region: str, name: str, since: date, until: date) -> dict[str, Any]:
    """The ``GetCostAndUsage`` parameters: this month's unblended cost of the tagged resources."""
    return {
        "TimePeriod": {"Start": since.isoformat(), "End": until.isoformat()},
        "Granularity": "MONTHLY",
        "Metrics": ["UnblendedCost"],
        "Filter": {
            "And": [
                {"Tags": {"Key": TAG, "Values": [name], "MatchOptions": ["EQUALS"]}},
                {"Dimensions": {"Key": "REGION", "Values": [region], "MatchOptions": ["EQUALS"]}},
            ]
        },
    }


def cost(region: str, name: str, since: date, until: date) -> Answer:
    """Deployment ``name``'s unblended cost in ``region`` from ``since`` to ``until``.

    Raises:
        svai.errors.ToolMissingError: no credentials.
        svai.errors.DeployError: Cost Explorer refused the query.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    ce = client("ce", "us-east-1")  # Cost Explorer's one endpoint, whatever the target
    try:
        answer = ce.get_cost_and_usage(**cost_request(region, name, since, until))
    except (BotoCoreError, ClientError) as exc:
        raise DeployError(f"Cost Explorer GetCostAndUsage failed: {exc}") from None
    totals = [r["Total"]["UnblendedCost"] for r in answer.get("ResultsByTime", [])]
    totals = [t for t in totals if t.get("Amount") is not None]
    if not totals:
        return 0.0, "USD", "no cost recorded yet (or the svai-name cost allocation tag is inactive)"
    return sum(float(t["Amount"]) for t in totals), totals[0].get("Unit", "USD"), None
