"""``svai drift`` and ``svai promote``'s drift gate on live summaries read from CloudWatch (moto).

The runtime's drift lines are made by the runtime's own monitor (fed the request bodies a
version served) and put into the deployment's log group, as Lambda would; the readers fetch
them back, add them up and judge them against the baseline.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import boto3
import pytest
from signal_fakes import (
    SERVICE,
    ingest_emf,
    moto_env,  # noqa: F401 - the fixture, used by name
    request_lines,
)
from test_promote_live import SPEC, canary, svai
from test_status_logs import put_lambda_logs

from svai.compiler.drift import runtime_section
from svai.runtime.core.config import DriftConfig
from svai.runtime.core.drift import DriftMonitor
from svai.runtime.core.telemetry import Telemetry
from svai.spec import load_spec, resolve
from svai.spec.names import metrics_namespace

DRIFT = """\
observability:
  drift:
    enabled: true
    sample_rate: 1.0
    baseline: reference.jsonl
    features: [amount, country]
    min_samples: 50
"""


def bodies(n: int, scale: float, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {"amount": round(rng.lognormvariate(3, 1) * scale, 2), "country": rng.choice("ABCD")}
        for _ in range(n)
    ]


def project(folder: Path) -> tuple[Path, str]:
    """The canary project of ``test_promote_live`` with drift monitored; B's version."""
    spec, version = canary(folder)
    spec.write_text(SPEC.replace("targets:", DRIFT + "targets:"))
    reference = "".join(json.dumps(b) + "\n" for b in bodies(800, 1.0, seed=1))
    (folder / "reference.jsonl").write_text(reference)
    return spec, version


def drift_lines(spec: Path, version: str, served: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the runtime of ``version`` writes after serving ``served``, in 4 windows."""
    section = runtime_section(resolve(load_spec(spec)), spec.parent)
    lines: list[str] = []
    telemetry = Telemetry(metrics_namespace(SERVICE), SERVICE, version, sink=lines.append)
    cfg = DriftConfig(**{**section, "interval_s": 1.0})
    clock = [0.0]
    monitor = DriftMonitor(cfg, telemetry.metrics, clock=lambda: clock[0])
    for n, body in enumerate(served):
        clock[0] = n * 4.0 / len(served)
        monitor.observe(body, b"{}")
    monitor.flush()
    return [json.loads(line) for line in lines]


@pytest.mark.usefixtures("moto_env")
@pytest.mark.parametrize(("scale", "code"), [(1.0, 0), (2.5, 1)], ids=["same", "shifted"])
def test_live_drift_is_read_from_the_logs_and_flagged_only_when_shifted(
    tmp_path: Path, scale: float, code: int
) -> None:
    spec, b = project(tmp_path)
    put_lambda_logs(drift_lines(spec, b, bodies(400, scale, seed=2)))
    got, out = svai("drift", str(spec), "--version", b, "--window", "10m", "--format", "json")
    assert got == code, out
    report = json.loads(out)
    assert report["samples"] == 400 and report["source"].startswith(f"live {b} on aws-us-east-1")
    by_name = {f["name"]: f for f in report["features"]}
    assert by_name["amount"]["count"] == by_name["country"]["count"] == 400
    assert report["flagged"] == ([] if code == 0 else ["amount"])
    assert by_name["amount"]["mean"] == pytest.approx(
        sum(x["amount"] for x in bodies(400, scale, seed=2)) / 400
    )
    _, text = svai("drift", str(spec), "--version", b, "--window", "10m")
    row = next(line for line in text.splitlines() if line.startswith("  amount"))
    assert row.endswith("DRIFT") == bool(code)


@pytest.mark.usefixtures("moto_env")
@pytest.mark.parametrize(("scale", "code"), [(1.0, 0), (2.5, 1)], ids=["calm", "drifted"])
def test_promote_gates_on_live_drift(tmp_path: Path, scale: float, code: int) -> None:
    spec, b = project(tmp_path)
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    ingest_emf(cloudwatch, request_lines(b, [(200, 50.0, False)] * 150))
    put_lambda_logs(drift_lines(spec, b, bodies(400, scale, seed=4)))
    got, out = svai("promote", str(spec), "--dry-run", "--window", "10m")
    assert got == code, out
    gate = next(line for line in out.splitlines() if "live gate drift" in line)
    assert gate.lstrip().startswith("✓" if code == 0 else "✗"), out
    assert ("drift in amount" in gate) == bool(code), out
