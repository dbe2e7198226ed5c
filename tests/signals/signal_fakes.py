"""Fixtures and loopback fakes of the live-signal tests: moto on loopback, and fakes of Cloud Monitoring ``timeSeries.list`` and Azure Monitor Logs ``query``.

Each is a real HTTP server on 127.0.0.1 that answers the documented REST shapes from data the test
puts in: Cloud Run request metrics per revision, and runtime log lines per Log Analytics table.
They check the bearer token, and they read the parts of the query a reader must send (the
filter's metric type and revision, the aligner; the KQL's service and version), so a reader that
asks for the wrong thing gets the wrong answer rather than a canned one.
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from svai.runtime.core.telemetry import Telemetry
from svai.spec.names import metrics_namespace

TOKEN = "test-token"
SERVICE = "scorer"


def nearest_rank(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


@dataclass
class Monitoring:
    """Cloud Run requests: (revision, response code, latency ms) per request."""

    project: str = "demo-project"
    requests: list[tuple[str, str, float]] = field(default_factory=list)
    queries: list[dict[str, str]] = field(default_factory=list)
    oldest_unacked: dict[str, list[float]] = field(default_factory=dict)
    log_metrics: dict[str, list[str]] = field(default_factory=dict)
    """Log-based metrics: metric name -> the ``version`` label of each counted entry."""
    """Pub/Sub: subscription id -> its oldest_unacked_message_age samples (s) in the window."""

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.queries.append(query)
        if path != f"/v3/projects/{self.project}/timeSeries":
            return 404, {"error": {"code": 404, "message": f"no such path {path}"}}
        flt = query.get("filter", "")
        if 'resource.type = "pubsub_subscription"' in flt:
            return self._subscription(flt, query.get("aggregation.perSeriesAligner", ""))
        if "logging.googleapis.com/user/" in flt:
            return self._log_metric(flt, query.get("aggregation.perSeriesAligner", ""))
        wanted = re.search(r'revision_name = has_substring\("([^"]+)"\)', flt)
        metric = re.search(r'metric\.type = "([^"]+)"', flt)
        if not wanted or not metric or "cloud_run_revision" not in flt:
            return 400, {"error": {"code": 400, "message": f"unsupported filter {flt}"}}
        rows = [r for r in self.requests if wanted.group(1) in r[0]]
        aligner = query.get("aggregation.perSeriesAligner", "")
        if metric.group(1) == "run.googleapis.com/request_count" and aligner == "ALIGN_SUM":
            codes: dict[str, int] = {}
            for _, code, _ in rows:
                codes[code] = codes.get(code, 0) + 1
            series = [
                {
                    "metric": {"type": metric.group(1), "labels": {"response_code": code}},
                    "resource": {"type": "cloud_run_revision", "labels": {}},
                    "metricKind": "DELTA",
                    "valueType": "INT64",
                    "points": [{"value": {"int64Value": str(n)}}],
                }
                for code, n in sorted(codes.items())
            ]
            return 200, {"timeSeries": series} if series else {}
        found = re.fullmatch(r"ALIGN_PERCENTILE_(\d+)", aligner)
        if metric.group(1) == "run.googleapis.com/request_latencies" and found:
            if not rows:
                return 200, {}
            value = nearest_rank([r[2] for r in rows], float(found.group(1)))
            point = {"value": {"doubleValue": value}}
            return 200, {"timeSeries": [{"metric": {"type": metric.group(1)}, "points": [point]}]}
        return 400, {"error": {"code": 400, "message": f"unsupported {metric.group(1)} {aligner}"}}

    def _log_metric(self, flt: str, aligner: str) -> tuple[int, dict[str, Any]]:
        name = re.search(r'metric\.type = "logging\.googleapis\.com/user/([^"]+)"', flt)
        version = re.search(r'metric\.labels\.version = "([^"]+)"', flt)
        if not name or not version or aligner != "ALIGN_SUM":
            return 400, {"error": {"code": 400, "message": f"unsupported {flt} {aligner}"}}
        counted = self.log_metrics.get(name.group(1), []).count(version.group(1))
        if not counted:
            return 200, {}
        point = {"value": {"int64Value": str(counted)}}
        labels = {"version": version.group(1)}
        return 200, {"timeSeries": [{"metric": {"labels": labels}, "points": [point]}]}

    def _subscription(self, flt: str, aligner: str) -> tuple[int, dict[str, Any]]:
        wanted = re.search(r'resource\.labels\.subscription_id = "([^"]+)"', flt)
        age = "pubsub.googleapis.com/subscription/oldest_unacked_message_age"
        if not wanted or f'metric.type = "{age}"' not in flt or aligner != "ALIGN_MAX":
            return 400, {"error": {"code": 400, "message": f"unsupported {flt} {aligner}"}}
        samples = self.oldest_unacked.get(wanted.group(1))
        if not samples:
            return 200, {}
        point = {"value": {"int64Value": str(round(max(samples)))}}
        return 200, {"timeSeries": [{"metric": {"type": age}, "points": [point]}]}


@dataclass
class LogAnalytics:
    """A workspace: table -> (TimeGenerated, the runtime line in its ``Log``/``Message`` column)."""

    workspace: str = "ws-1"
    tables: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    queries: list[dict[str, Any]] = field(default_factory=list)

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.queries.append(body)
        if path != f"/v1/workspaces/{self.workspace}/query":
            return 404, {"error": {"code": "PathNotFoundError", "message": path}}
        kql = str(body.get("query", ""))

        def wanted(field: str) -> str | None:
            found = re.search(rf'tostring\(e\.{field}\) == "([^"]+)"', kql)
            return found.group(1) if found else None

        service, version, request = wanted("service"), wanted("model_version"), wanted("request_id")
        if service is None:
            return 400, {"error": {"code": "BadArgumentError", "message": kql}}
        levels = re.search(r"tostring\(e\.severity\) in \(([^)]*)\)", kql)
        mine = [
            (stamp, line, e)
            for table, rows in self.tables.items()
            if f"({table} |" in kql
            for stamp, line in rows
            for e in [json.loads(line)]
            if e.get("service") == service
            and version in (None, e.get("model_version"))
            and request in (None, e.get("request_id"))
            and (levels is None or f'"{e.get("severity")}"' in levels.group(1))
        ]
        if "| project TimeGenerated, line" in kql:
            rows = [[stamp, line] for stamp, line, _ in sorted(mine, key=lambda m: m[0])]
            columns = [
                {"name": "TimeGenerated", "type": "datetime"},
                {"name": "line", "type": "string"},
            ]
            return 200, {"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]}
        if "summarize age_s = max(todouble(e.queue_age_s))" in kql:
            ages = [float(e["queue_age_s"]) for _, _, e in mine if e.get("queue_age_s") is not None]
            columns = [{"name": "age_s", "type": "real"}]
            row = [max(ages) if ages else None]
            return 200, {"tables": [{"name": "PrimaryResult", "columns": columns, "rows": [row]}]}
        if "summarize" not in kql or version is None:
            return 400, {"error": {"code": "BadArgumentError", "message": kql}}
        requests = [e for _, _, e in mine if e.get("message") == "request"]
        ms = [float(e["latency_ms"]) for e in requests]
        names = ["requests", "errors", "cold_starts", "throttles", "p50_ms", "p95_ms", "p99_ms"]
        row = [
            len(requests),
            sum(1 for e in requests if e["status"] >= 500),
            sum(1 for e in requests if e["cold_start"]),
            sum(1 for e in requests if e["status"] == 429),
            *(nearest_rank(ms, p) if ms else None for p in (50, 95, 99)),
        ]
        columns = [{"name": c, "type": "long" if i < 4 else "real"} for i, c in enumerate(names)]
        return 200, {"tables": [{"name": "PrimaryResult", "columns": columns, "rows": [row]}]}


@dataclass
class Logging:
    """Cloud Logging: entries (``timestamp``, ``severity``, ``jsonPayload``), in pages of ``pageSize``."""

    project: str = "demo-project"
    entries: list[dict[str, Any]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.bodies.append(body)
        if path != "/v2/entries:list" or body.get("resourceNames") != [f"projects/{self.project}"]:
            return 404, {"error": {"code": 404, "message": f"{path} {body.get('resourceNames')}"}}
        flt = str(body.get("filter", ""))
        equal = dict(re.findall(r'jsonPayload\.(\w+) = "([^"]*)"', flt))
        after = re.search(r'timestamp >= "([^"]+)"', flt)
        chosen = [
            e
            for e in self.entries
            if all(e["jsonPayload"].get(k) == v for k, v in equal.items())
            and (after is None or e["timestamp"] >= after.group(1))
        ]
        start = int(body.get("pageToken") or 0)
        size = int(body.get("pageSize", 50))
        page: dict[str, Any] = {"entries": chosen[start : start + size]}
        if start + size < len(chosen):
            page["nextPageToken"] = str(start + size)
        return 200, page


@dataclass
class BigQueryBilling:
    """BigQuery ``jobs.query`` over a Cloud Billing export table: one dict per exported row.

    Each row has ``labels`` (key -> value), ``region``, ``month`` (``YYYYMM``), ``cost``,
    ``credits`` (amounts, negative) and ``currency``. The fake checks that the SQL reads the
    table, sums cost and credits and filters on the label, then applies the query's named
    parameters to its rows: a reader that passes the wrong month, region or name gets the
    wrong sum.
    """

    project: str = "demo-project"
    table: str = "billing-project.billing.gcp_billing_export_v1_0000"
    rows: list[dict[str, Any]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.bodies.append(body)
        if path != f"/bigquery/v2/projects/{self.project}/queries":
            return 404, {"error": {"code": 404, "message": f"no such path {path}"}}
        sql = str(body.get("query", ""))
        needed = (
            f"FROM `{self.table}`",
            "SUM(cost)",
            "UNNEST(credits)",
            "l.key = 'svai-name' AND l.value = @name",
            "invoice.month = @month",
            "location.region = @region",
        )
        if body.get("useLegacySql") is not False or not all(n in sql for n in needed):
            return 400, {"error": {"code": 400, "message": f"unsupported query {sql}"}}
        params = {p["name"]: p["parameterValue"]["value"] for p in body.get("queryParameters", [])}
        chosen = [
            r
            for r in self.rows
            if r["labels"].get("svai-name") == params.get("name")
            and r["region"] == params.get("region")
            and r["month"] == params.get("month")
        ]
        schema = {
            "fields": [{"name": "cost", "type": "FLOAT"}, {"name": "currency", "type": "STRING"}]
        }
        if not chosen:  # SUM over no rows is NULL
            cells = [{"v": None}, {"v": None}]
        else:
            total = sum(r["cost"] + sum(r["credits"]) for r in chosen)
            cells = [{"v": repr(total)}, {"v": chosen[0]["currency"]}]
        return 200, {
            "kind": "bigquery#queryResponse",
            "schema": schema,
            "jobComplete": True,
            "totalRows": "1",
            "rows": [{"f": cells}],
        }


@dataclass
class CostManagement:
    """Azure Cost Management ``Query``: month-to-date actual cost per resource group."""

    subscription: str = "sub-1"
    costs: dict[str, float] = field(default_factory=dict)
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.bodies.append(body)
        url = urllib.parse.urlsplit(path)
        found = re.fullmatch(
            rf"/subscriptions/{self.subscription}/resourceGroups/([^/]+)"
            r"/providers/Microsoft\.CostManagement/query",
            url.path,
        )
        if not found or "api-version" not in dict(urllib.parse.parse_qsl(url.query)):
            return 404, {"error": {"code": "NotFound", "message": path}}
        aggregation = body.get("dataset", {}).get("aggregation", {})
        if (
            body.get("type") != "ActualCost"
            or body.get("timeframe") != "MonthToDate"
            or [a.get("function") for a in aggregation.values()] != ["Sum"]
        ):
            return 400, {"error": {"code": "BadRequest", "message": json.dumps(body)}}
        (column,) = [a["name"] for a in aggregation.values()]
        columns = [{"name": column, "type": "Number"}, {"name": "Currency", "type": "String"}]
        group = found.group(1)
        rows = [[self.costs[group], "USD"]] if group in self.costs else []
        return 200, {
            "id": f"{url.path}/fake",
            "name": "fake",
            "type": "Microsoft.CostManagement/query",
            "properties": {"nextLink": None, "columns": columns, "rows": rows},
        }


@contextmanager
def serving(
    fake: Monitoring | LogAnalytics | Logging | BigQueryBilling | CostManagement,
) -> Iterator[str]:
    """Serve ``fake`` on 127.0.0.1; yield its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, code: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {TOKEN}":
                return True
            self._reply(401, {"error": {"code": 401, "message": "bad token"}})
            return False

        def do_GET(self) -> None:
            if not self._authorized() or not isinstance(fake, Monitoring):
                return
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            self._reply(*fake.answer(url.path, query))

        def do_POST(self) -> None:
            if not self._authorized() or isinstance(fake, Monitoring):
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self._reply(*fake.answer(self.path, body))

    with loopback(Handler) as url:
        yield url


@contextmanager
def loopback(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 in a thread; yield its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def request_lines(version: str, outcomes: list[tuple[int, float, bool]]) -> list[dict[str, Any]]:
    """The runtime's own per-request lines for ``(status, latency ms, cold start)`` each."""
    lines: list[str] = []
    telemetry = Telemetry(metrics_namespace(SERVICE), SERVICE, version, sink=lines.append)
    for n, (status, latency_ms, cold) in enumerate(outcomes):
        telemetry.request(
            request_id=f"req-{n}",
            status=status,
            latency_ms=latency_ms,
            model_ms=latency_ms / 2,
            input_hash=None,
            cold_start=cold,
            cache="miss",
            fallback=False,
        )
    return [json.loads(line) for line in lines]


def ingest_emf(cloudwatch: Any, records: list[dict[str, Any]]) -> None:
    """What CloudWatch does with EMF log lines: one datum per declared metric, per line."""
    for record in records:
        block = record["_aws"]
        for directive in block["CloudWatchMetrics"]:
            dimensions = [
                {"Name": name, "Value": str(record[name])} for name in directive["Dimensions"][0]
            ]
            cloudwatch.put_metric_data(
                Namespace=directive["Namespace"],
                MetricData=[
                    {
                        "MetricName": metric["Name"],
                        "Dimensions": dimensions,
                        "Value": float(record[metric["Name"]]),
                        "Unit": metric["Unit"],
                        "Timestamp": block["Timestamp"] / 1000,
                    }
                    for metric in directive["Metrics"]
                ],
            )


@pytest.fixture
def moto_env() -> Iterator[str]:
    """A moto server on 127.0.0.1 reached through boto3's ``AWS_ENDPOINT_URL``; yields the URL.

    moto's CloudWatch computes no percentiles (real CloudWatch does, for EMF metrics); the
    server runs in this process, so its statistics learn the nearest-rank percentile here.
    """
    moto_server = pytest.importorskip("moto.server")
    from moto.cloudwatch import models

    original = models.Statistics.get_statistics_for_type

    def with_percentiles(self: Any, stat: str) -> Any:
        if stat.startswith("p") and stat[1:].replace(".", "").isdigit():
            return nearest_rank(self.metric_single_values_list, float(stat[1:]))
        return original(self, stat)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(models.Statistics, "get_statistics_for_type", with_percentiles)
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        }.items():
            patch.setenv(key, value)
        patch.delenv("AWS_PROFILE", raising=False)
        yield f"http://127.0.0.1:{port}"
    # moto keeps its data in this process: forget it, or the next test sees these metrics.
    urllib.request.urlopen(
        urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST")
    ).close()
    server.stop()


@pytest.fixture
def no_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No credentials for any cloud: no variables, no AWS files, no instance metadata."""
    for var in (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
        "GOOGLE_OAUTH_ACCESS_TOKEN", "GOOGLE_CLOUD_PROJECT",
        "AZURE_LOG_ANALYTICS_TOKEN", "AZURE_LOG_ANALYTICS_WORKSPACE_ID",
    ):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    none = str(tmp_path_factory.mktemp("no-credentials") / "none")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", none)
    monkeypatch.setenv("AWS_CONFIG_FILE", none)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
