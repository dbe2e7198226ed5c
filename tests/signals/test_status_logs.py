"""``svai status`` and ``svai logs`` against moto, and the log readers against the loopback fakes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from signal_fakes import (
    SERVICE,
    TOKEN,
    LogAnalytics,
    Logging,
    ingest_emf,
    moto_env,  # noqa: F401 - the fixture, used by name
    no_credentials,  # noqa: F401 - the fixture, used by name
    request_lines,
    serving,
)
from test_promote_live import canary, svai

from svai import signals
from svai.runtime.core.telemetry import Telemetry
from svai.signals import azure, gcp
from svai.signals.logs import LogQuery, read_logs
from svai.spec.names import metrics_namespace

# req-0 .. req-5 of one version: req-2 fails (500), req-0 is a cold start.
OUTCOMES = [(500 if n == 2 else 200, 20.0 + n, n == 0) for n in range(6)]


def lifecycle_line(version: str) -> dict[str, object]:
    lines: list[str] = []
    Telemetry(metrics_namespace(SERVICE), SERVICE, version, sink=lines.append).event(
        "model loaded", load_s=0.4
    )
    return json.loads(lines[0])


def put_lambda_logs(records: list[dict[str, object]]) -> None:
    logs = boto3.client("logs", region_name="us-east-1")
    group = f"/aws/lambda/{SERVICE}-api"
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="2026/12/05/[$LATEST]abc")
    events = [{"timestamp": int(time.time() * 1000), "message": json.dumps(r)} for r in records]
    logs.put_log_events(
        logGroupName=group, logStreamName="2026/12/05/[$LATEST]abc", logEvents=events
    )


@pytest.mark.usefixtures("moto_env")
def test_status_shows_each_version_share_and_its_live_signals(tmp_path: Path) -> None:
    spec, b = canary(tmp_path)
    state = json.loads((tmp_path / ".svai" / "releases" / f"{SERVICE}-dev.json").read_text())
    a = state["serving"]
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    ingest_emf(cloudwatch, request_lines(a, [(200, 40.0, False)] * 90 + [(500, 80.0, True)] * 10))
    ingest_emf(cloudwatch, request_lines(b, [(200, 30.0, n == 0) for n in range(10)]))
    code, out = svai("status", str(spec), "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["status"] == "in-progress"
    (target,) = data["targets"]
    assert (target["cloud"], target["region"]) == ("aws", "us-east-1")
    rows = {row["version"]: row for row in target["versions"]}
    assert (rows[a]["percent"], rows[b]["percent"]) == (90, 10)
    assert rows[a]["signals"]["requests"] == 100 and rows[a]["signals"]["error_rate"] == 0.1
    assert rows[a]["signals"]["p99_s"] == 0.08 and rows[a]["signals"]["cold_start_rate"] == 0.1
    assert rows[b]["signals"]["requests"] == 10 and rows[b]["signals"]["p95_s"] == 0.03
    code, out = svai("status", str(spec))
    assert code == 0
    assert f"{a} 90%: 100 requests, p95 0.08s, p99 0.08s, errors 10%, cold starts 10%" in out
    assert f"{b} 10%: 10 requests, p95 0.03s, p99 0.03s, errors 0%, cold starts 10%" in out


@pytest.mark.usefixtures("moto_env")
def test_logs_filters_by_version_request_id_and_level(tmp_path: Path) -> None:
    spec, b = canary(tmp_path)
    put_lambda_logs(
        [lifecycle_line(b), *request_lines(b, OUTCOMES), *request_lines("v-x", OUTCOMES)]
    )
    code, out = svai("logs", str(spec), "--version", b, "--format", "json")
    assert code == 0, out
    (target,) = json.loads(out)
    lines = target["lines"]
    assert [line["message"] for line in lines] == ["model loaded"] + ["request"] * 6
    assert {line["version"] for line in lines} == {b}
    code, out = svai("logs", str(spec), "--request-id", "req-2", "--version", b)
    assert code == 0 and "aws us-east-1: 1 line(s)" in out
    assert f"ERROR    {b} req-2 request status=500" in out
    code, out = svai("logs", str(spec), "--level", "error", "--format", "json")
    errors = json.loads(out)[0]["lines"]
    assert [(e["version"], e["request_id"]) for e in errors] == [(b, "req-2"), ("v-x", "req-2")]


@pytest.mark.usefixtures("moto_env")
def test_logs_since_must_be_a_duration_and_target_one_of_the_spec(tmp_path: Path) -> None:
    spec, _ = canary(tmp_path)
    code, out = svai("logs", str(spec), "--since", "yesterday")
    assert code == 2 and "--since" in out
    code, out = svai("logs", str(spec), "--target", "gcp-us-central1")
    assert code == 2 and "aws-us-east-1" in out


@pytest.mark.usefixtures("no_credentials")
def test_status_and_logs_without_credentials_exit_3(tmp_path: Path) -> None:
    spec, _ = canary(tmp_path)
    for command in ("status", "logs"):
        code, out = svai(command, str(spec))
        assert code == 3, out
        assert "AWS_ACCESS_KEY_ID" in out and "Traceback" not in out


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_gcp_logs_come_from_cloud_logging_entries_across_pages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = Logging()
    now = time.time()
    records = [
        lifecycle_line("v-a"),
        *request_lines("v-a", OUTCOMES),
        *request_lines("v-b", OUTCOMES),
    ]
    fake.entries = [
        {"timestamp": rfc3339(now - 60 + n), "severity": r["severity"], "jsonPayload": r}
        for n, r in enumerate(records)
    ]
    with serving(fake) as url:
        monkeypatch.setenv(gcp.LOGGING_ENDPOINT_VAR, url)
        monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", fake.project)
        window = signals.window_ending(300)
        lines = read_logs(LogQuery("gcp", "us-central1", SERVICE, window, version="v-a", limit=5))
        errors = read_logs(LogQuery("gcp", "us-central1", SERVICE, window, level="ERROR", limit=2))
    assert [(x.message, x.request_id) for x in lines] == [("model loaded", None)] + [
        ("request", f"req-{n}") for n in range(4)
    ]
    assert [(x.version, x.request_id) for x in errors] == [("v-a", "req-2"), ("v-b", "req-2")]
    assert 'jsonPayload.model_version = "v-a"' in fake.bodies[0]["filter"]
    assert "severity >= ERROR" in fake.bodies[-1]["filter"]
    assert any("pageToken" in body for body in fake.bodies)  # it followed nextPageToken


def test_azure_logs_come_from_log_analytics(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = LogAnalytics()
    now = time.time()
    records = [*request_lines("v-a", OUTCOMES), *request_lines("v-b", OUTCOMES)]
    fake.tables["AmlOnlineEndpointConsoleLog"] = [
        (rfc3339(now - 30 + n), json.dumps(r)) for n, r in enumerate(records)
    ]
    with serving(fake) as url:
        monkeypatch.setenv(azure.ENDPOINT_VAR, url)
        monkeypatch.setenv("AZURE_LOG_ANALYTICS_TOKEN", TOKEN)
        monkeypatch.setenv("AZURE_LOG_ANALYTICS_WORKSPACE_ID", fake.workspace)
        window = signals.window_ending(300)
        one = read_logs(LogQuery("azure", "eastus", SERVICE, window, "v-b", "req-4"))
        errors = read_logs(LogQuery("azure", "eastus", SERVICE, window, level="ERROR"))
    assert [(x.version, x.request_id, x.fields["status"]) for x in one] == [("v-b", "req-4", 200)]
    assert [(x.version, x.request_id) for x in errors] == [("v-a", "req-2"), ("v-b", "req-2")]
    assert fake.queries[0]["timespan"] == "PT300S"
