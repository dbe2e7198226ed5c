"""Each cloud's reader against moto (CloudWatch) or a loopback fake of the documented REST API."""

from __future__ import annotations

import json
import time

import pytest
from signal_fakes import (
    SERVICE,
    TOKEN,
    LogAnalytics,
    Monitoring,
    ingest_emf,
    moto_env,  # noqa: F401 - the fixture, used by name
    no_credentials,  # noqa: F401 - the fixture, used by name
    request_lines,
    serving,
)

from svai import signals
from svai.errors import ToolMissingError
from svai.signals import aws, azure, gcp
from svai.spec.names import cold_start_metric

# 20 requests of version A: latencies 10..200 ms, one 500, one 429, two cold starts.
OUTCOMES = [
    (500 if n == 7 else 429 if n == 9 else 200, 10.0 * (n + 1), n in (0, 1)) for n in range(20)
]


@pytest.mark.usefixtures("moto_env")
def test_aws_reads_the_runtime_emf_metrics_back_from_cloudwatch() -> None:
    import boto3

    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    ingest_emf(cloudwatch, request_lines("v-a", OUTCOMES))
    # Another version's lines are not this version's signals.
    ingest_emf(cloudwatch, request_lines("v-b", [(500, 999.0, True)] * 5))
    window = signals.window_ending(600)
    got = signals.read(signals.Source("aws", "us-east-1", SERVICE, "v-a"), window)
    assert (got.requests, got.errors, got.cold_starts, got.throttles) == (20, 1, 2, 1)
    assert got.error_rate == 0.05 and got.cold_start_rate == 0.1
    assert (got.p50_s, got.p95_s, got.p99_s) == (0.1, 0.19, 0.2)
    other = signals.read(signals.Source("aws", "us-east-1", SERVICE, "v-b"), window)
    assert (other.requests, other.errors, other.p99_s) == (5, 5, 0.999)


@pytest.mark.usefixtures("moto_env")
def test_aws_window_with_no_requests_has_no_rates() -> None:
    got = aws.read(
        signals.Source("aws", "us-east-1", SERVICE, "v-none"), signals.window_ending(600)
    )
    assert got.requests == 0 and got.error_rate is None and got.p99_s is None


def test_gcp_reads_cloud_run_request_metrics_of_the_version_revision(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = Monitoring()
    fake.requests = [("scorer-api-v-a", str(s), ms) for s, ms, _ in OUTCOMES]
    fake.requests += [("scorer-api-v-b", "500", 999.0)] * 3
    # The log-based metric counts the runtime's cold-start lines, labelled with the version.
    fake.log_metrics[cold_start_metric(SERVICE)] = ["V-A", "V-A", "V-B"]
    with serving(fake) as url:
        monkeypatch.setenv(gcp.ENDPOINT_VAR, url)
        monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", fake.project)
        window = signals.window_ending(900)
        got = signals.read(signals.Source("gcp", "us-central1", SERVICE, "V-A"), window)
    assert (got.requests, got.errors, got.throttles, got.cold_starts) == (20, 1, 1, 2)
    assert (got.p50_s, got.p95_s, got.p99_s) == (0.1, 0.19, 0.2)
    assert got.cold_start_rate == 0.1 and got.notes == ()
    sent = fake.queries[0]
    assert sent["aggregation.alignmentPeriod"] == "900s"
    assert sent["interval.endTime"].endswith("Z")


def test_azure_reads_the_runtime_lines_from_log_analytics(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = LogAnalytics()
    lines = request_lines("v-a", OUTCOMES) + request_lines("v-b", [(500, 999.0, True)] * 4)
    fake.tables["ContainerAppConsoleLogs"] = [
        ("2026-12-05T21:00:00Z", json.dumps(x)) for x in lines
    ]
    with serving(fake) as url:
        monkeypatch.setenv(azure.ENDPOINT_VAR, url)
        monkeypatch.setenv("AZURE_LOG_ANALYTICS_TOKEN", TOKEN)
        monkeypatch.setenv("AZURE_LOG_ANALYTICS_WORKSPACE_ID", fake.workspace)
        got = signals.read(
            signals.Source("azure", "eastus", SERVICE, "v-a"), signals.window_ending(300)
        )
    assert (got.requests, got.errors, got.cold_starts, got.throttles) == (20, 1, 2, 1)
    assert (got.p50_s, got.p95_s, got.p99_s) == (0.1, 0.19, 0.2)
    assert fake.queries[0]["timespan"] == "PT300S"


def test_a_refused_token_is_a_deploy_error_naming_the_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from svai.errors import DeployError

    with serving(Monitoring()) as url:
        monkeypatch.setenv(gcp.ENDPOINT_VAR, url)
        monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", "wrong")
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "demo-project")
        with pytest.raises(
            DeployError, match=r"Cloud Monitoring timeSeries\.list failed: HTTP 401"
        ):
            gcp.read(
                signals.Source("gcp", "us-central1", SERVICE, "v-a"), signals.window_ending(60)
            )


@pytest.mark.parametrize(
    ("cloud", "names"),
    [
        ("aws", "AWS_ACCESS_KEY_ID"),
        ("gcp", "GOOGLE_OAUTH_ACCESS_TOKEN"),
        ("azure", "AZURE_LOG_ANALYTICS_WORKSPACE_ID"),
    ],
)
@pytest.mark.usefixtures("no_credentials")
def test_without_credentials_the_error_names_what_to_set(cloud: str, names: str) -> None:
    with pytest.raises(ToolMissingError, match=names) as raised:
        signals.read(signals.Source(cloud, "r", SERVICE, "v-a"), signals.window_ending(60))
    assert raised.value.exit_code == 3


def test_combine_adds_counts_and_keeps_the_worst_percentile() -> None:
    window = signals.Window(int(time.time()) - 60, int(time.time()))
    a = signals.Signals(signals.Source("aws", "r", "s", "v"), window, 100, 1, 2, 0, 0.1, 0.2, 0.3)
    g = signals.Signals(
        signals.Source("gcp", "r", "s", "v"), window, 300, 3, None, 1, 0.1, 0.2, 0.5
    )
    live = signals.combine([a, g])
    assert live["requests"] == 400 and live["error_rate"] == 0.01
    assert live["cold_start_rate"] is None and live["p99_s"] == 0.5 and live["throttles"] == 1
