"""``svai promote``, ``status`` and ``logs`` on GCP and Azure targets, against the loopback fakes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
from signal_fakes import SERVICE, TOKEN, LogAnalytics, Logging, Monitoring, request_lines, serving
from test_promote_live import canary, svai

from svai.signals import azure, gcp
from svai.spec.names import cold_start_metric

GCP = "  - {cloud: gcp, region: us-central1, runtime: container}"
AZURE = "  - {cloud: azure, region: eastus, runtime: container}"


class Clouds:
    """The fakes of both clouds, served on loopback, with the variables that reach them set."""

    def __init__(self) -> None:
        self.monitoring, self.logging, self.workspace = Monitoring(), Logging(), LogAnalytics()

    def add(self, version: str, outcomes: list[tuple[int, float, bool]]) -> None:
        """The lines of ``version``'s requests, as each cloud would hold them."""
        now = time.time()
        for n, line in enumerate(request_lines(version, outcomes)):
            stamp = (
                datetime.fromtimestamp(now - 60 + n * 0.01, UTC).isoformat().replace("+00:00", "Z")
            )
            self.monitoring.requests.append(
                (f"{SERVICE}-api-{version}", str(line["status"]), line["latency_ms"])
            )
            if line["cold_start"]:  # what the backend's log-based metric counts
                self.monitoring.log_metrics.setdefault(cold_start_metric(SERVICE), []).append(
                    version
                )
            self.logging.entries.append(
                {"timestamp": stamp, "severity": line["severity"], "jsonPayload": line}
            )
            self.workspace.tables.setdefault("ContainerAppConsoleLogs", []).append(
                (stamp, json.dumps(line))
            )


@pytest.fixture
def clouds(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clouds]:
    fakes = Clouds()
    with ExitStack() as stack:
        monkeypatch.setenv(gcp.ENDPOINT_VAR, stack.enter_context(serving(fakes.monitoring)))
        monkeypatch.setenv(gcp.LOGGING_ENDPOINT_VAR, stack.enter_context(serving(fakes.logging)))
        monkeypatch.setenv(azure.ENDPOINT_VAR, stack.enter_context(serving(fakes.workspace)))
        monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", fakes.monitoring.project)
        monkeypatch.setenv("AZURE_LOG_ANALYTICS_TOKEN", TOKEN)
        monkeypatch.setenv("AZURE_LOG_ANALYTICS_WORKSPACE_ID", fakes.workspace.workspace)
        yield fakes


@pytest.mark.parametrize(("target", "cloud"), [(GCP, "gcp"), (AZURE, "azure")])
def test_promote_status_and_logs_on_a_cloud(
    target: str, cloud: str, clouds: Clouds, tmp_path: Path
) -> None:
    spec, b = canary(tmp_path, target)
    state = json.loads((tmp_path / ".svai" / "releases" / f"{SERVICE}-dev.json").read_text())
    a = state["serving"]
    clouds.add(a, [(200, 40.0, False)] * 30)
    clouds.add(b, [(500 if n == 3 else 200, 30.0, n == 0) for n in range(120)])

    code, out = svai("promote", str(spec), "--dry-run")
    # One error in 120 requests: under the 2% error rate, so the canary moves on.
    assert code == 0, out
    assert "step 2/3 (canary 50%)" in out
    assert "✓ live gate error_rate <= 0.02: observed 0.00833333" in out
    region = "us-central1" if cloud == "gcp" else "eastus"
    assert f"observed 120 requests over the last 900s ({cloud} {region}: 120)" in out

    code, out = svai("status", str(spec), "--format", "json")
    assert code == 0, out
    rows = {r["version"]: r for r in json.loads(out)["targets"][0]["versions"]}
    assert (rows[a]["percent"], rows[a]["signals"]["requests"]) == (90, 30)
    assert (rows[b]["percent"], rows[b]["signals"]["requests"]) == (10, 120)
    assert rows[b]["signals"]["p99_s"] == 0.03
    assert rows[b]["signals"]["cold_start_rate"] == 1 / 120

    code, out = svai("logs", str(spec), "--level", "ERROR", "--format", "json")
    assert code == 0, out
    (lines,) = [t["lines"] for t in json.loads(out)]
    assert [(x["version"], x["request_id"], x["fields"]["status"]) for x in lines] == [
        (b, "req-3", 500)
    ]
