"""``svai promote`` reads the live gates' evidence from the cloud (moto's CloudWatch) by default."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from signal_fakes import (
    SERVICE,
    ingest_emf,
    moto_env,  # noqa: F401 - the fixture, used by name
    no_credentials,  # noqa: F401 - the fixture, used by name
    request_lines,
)

from svai.cli.main import main

SPEC = f"""\
version: 1
name: {SERVICE}
model: {{artifact: model.onnx, framework: onnx, size: 40MB, inference_time: 20ms}}
api: {{mode: sync, timeout: 30s}}
latency: {{p95: 300ms, p99: 800ms}}
traffic: {{pattern: steady, baseline_rps: 5}}
rollout:
  strategy: canary
  steps: [10, 50, 100]
  rollback_on: {{error_rate: 0.02, p99: 900ms}}
targets:
  - {{cloud: aws, region: us-east-1, runtime: faas}}
"""


def svai(*args: str) -> tuple[int, str]:
    """Run ``svai ARGS`` in-process as the console script does; the exit code and all output."""
    with CliRunner().isolation() as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
    return code, out.getvalue().decode() + err.getvalue().decode()


AWS = "  - {cloud: aws, region: us-east-1, runtime: faas}"


def canary(folder: Path, target: str = AWS) -> tuple[Path, str]:
    """A spec with A deployed and B's canary at its first step (state only); B's version."""
    spec = folder / "svai.yaml"
    spec.write_text(SPEC.replace(AWS, target))
    (folder / "model.onnx").write_bytes(b"\x08\x07model-A")
    assert svai("promote", str(spec), "--state-only")[0] == 0
    (folder / "model.onnx").write_bytes(b"\x08\x07model-B")
    _, out = svai("versions", str(spec), "--format", "json")
    version = json.loads(out)["spec_version"]
    assert svai("promote", str(spec), "--state-only")[0] == 0
    return spec, version


@pytest.mark.usefixtures("moto_env")
def test_promote_passes_on_healthy_live_signals_and_shows_the_window(tmp_path: Path) -> None:
    spec, b = canary(tmp_path)
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    ingest_emf(cloudwatch, request_lines(b, [(200, 50.0, n == 0) for n in range(150)]))
    code, out = svai("promote", str(spec), "--dry-run", "--window", "10m")
    assert code == 0, out
    assert "step 2/3 (canary 50%)" in out
    assert "✓ live gate error_rate <= 0.02: observed 0" in out
    assert "✓ live gate p99_s <= 0.9s: observed 0.05s" in out
    assert (
        "✓ live gate live_samples >= 100: observed 150 requests over the last 600s "
        "(aws us-east-1: 150)" in out
    )


@pytest.mark.usefixtures("moto_env")
def test_promote_rolls_back_on_live_errors(tmp_path: Path) -> None:
    spec, b = canary(tmp_path)
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    ingest_emf(
        cloudwatch,
        request_lines(b, [(500 if n % 10 == 0 else 200, 50.0, False) for n in range(120)]),
    )
    code, out = svai("promote", str(spec), "--dry-run")
    assert code == 1, out
    assert "✗ live gate error_rate <= 0.02: observed 0.1" in out
    assert "a gate failed: the plan below is the rollback" in out


@pytest.mark.usefixtures("moto_env")
def test_too_few_live_requests_hold_the_release(tmp_path: Path) -> None:
    spec, b = canary(tmp_path)
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    # Errors, but too few requests to judge: the release waits instead of rolling back.
    ingest_emf(cloudwatch, request_lines(b, [(500, 50.0, False)] * 12))
    state = spec.parent / ".svai" / "releases" / f"{SERVICE}-dev.json"
    before = state.read_bytes()
    code, out = svai("promote", str(spec), "--state-only")
    assert code == 0, out
    assert "held:" in out and "nothing to change" in out
    assert "… live gate live_samples >= 100: observed 12 requests" in out
    assert "… live gate error_rate <= 0.02: observed 1" in out
    assert state.read_bytes() == before


@pytest.mark.usefixtures("no_credentials")
def test_the_evidence_file_overrides_the_clouds(tmp_path: Path) -> None:
    spec, b = canary(tmp_path)
    evidence = tmp_path / "ev.json"
    evidence.write_text(json.dumps({"model_version": b, "live": {"error_rate": 0.0, "p99_s": 0.1}}))
    code, out = svai("promote", str(spec), "--dry-run", "--evidence", str(evidence))
    assert code == 0, out
    assert "live_samples" not in out


@pytest.mark.usefixtures("no_credentials")
def test_promote_without_credentials_exits_3_naming_them(tmp_path: Path) -> None:
    spec, _ = canary(tmp_path)
    code, out = svai("promote", str(spec), "--dry-run")
    assert code == 3
    assert "AWS_ACCESS_KEY_ID" in out and "Traceback" not in out


def test_a_bad_window_is_a_usage_error(tmp_path: Path) -> None:
    spec, _ = canary(tmp_path)
    code, out = svai("promote", str(spec), "--dry-run", "--window", "soon")
    assert code == 2 and "--window" in out
