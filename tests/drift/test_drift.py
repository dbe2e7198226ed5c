"""Drift from the user's side: the spec, ``svai drift --sample``, the alarm in every plan, the gate.

The project is a copy of ``examples/fraud-sklearn`` (its held-out transactions are the baseline);
a shifted copy of them must be flagged per feature with its statistics, the file itself not.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from svai import api
from svai.cli.main import main
from svai.compiler.rollout import evaluate_gates
from svai.errors import SpecError
from svai.spec import load_spec, resolve

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fraud-sklearn"


def svai(*args: str) -> tuple[int, str]:
    """Run ``svai ARGS`` in-process as the console script does; the exit code and all output."""
    with CliRunner().isolation() as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as done:
            code = int(done.code or 0)
        return code, out.getvalue().decode() + err.getvalue().decode()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "fraud"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("model"))
    (folder / "model").mkdir()
    (folder / "model" / "model.onnx").write_bytes(b"\x08\x07fraud")
    return folder / "svai.yaml"


def eval_lines(spec: Path) -> list[dict[str, Any]]:
    text = (spec.parent / "eval" / "holdout.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write_bodies(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line["input"]) + "\n" for line in lines))
    return path


def test_an_unshifted_sample_passes_with_every_statistic_shown(project: Path) -> None:
    # Request bodies, not eval lines: both forms are read.
    sample = write_bodies(project.parent / "same.jsonl", eval_lines(project))
    code, out = svai("drift", str(project), "--sample", str(sample), "--format", "json")
    assert code == 0, out
    report = json.loads(out)
    assert report["flagged"] == [] and report["samples"] == 400
    by_name = {f["name"]: f for f in report["features"]}
    assert set(by_name) == {
        "transaction.amount",
        "transaction.merchant_risk",
        "transaction.velocity_1h",
        "transaction.hour",
    }
    for feature in by_name.values():
        assert feature["psi"] == 0 and feature["ks"] == 0 and not feature["flagged"]
        assert feature["count"] == feature["baseline_count"] == 400
        assert feature["mean"] == feature["baseline_mean"]


def test_a_shifted_sample_is_flagged_per_feature_with_exit_code_1(project: Path) -> None:
    lines = eval_lines(project)
    for line in lines:
        line["input"]["transaction"]["amount"] *= 3  # prices tripled; the rest unchanged
    sample = write_bodies(project.parent / "shifted.jsonl", lines)
    code, out = svai("drift", str(project), "--sample", str(sample))
    assert code == 1, out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  transaction")}
    assert rows["transaction.amount"].endswith("DRIFT")
    assert not rows["transaction.hour"].endswith("DRIFT")
    assert "drift in transaction.amount" in out
    code, out = svai("drift", str(project), "--sample", str(sample), "--format", "json")
    report = json.loads(out)
    amount = next(f for f in report["features"] if f["name"] == "transaction.amount")
    assert amount["psi"] > 0.2 and amount["ks"] > 0.1 and amount["flagged"]
    assert amount["mean"] == pytest.approx(3 * amount["baseline_mean"], rel=1e-6)
    assert report["flagged"] == ["transaction.amount"] and report["score"] > 1


def test_a_per_feature_threshold_decides_for_that_feature(project: Path) -> None:
    lines = eval_lines(project)
    for n, line in enumerate(lines):  # a third of the traffic moves six hours later
        if n % 3 == 0:
            line["input"]["transaction"]["hour"] = (line["input"]["transaction"]["hour"] + 6) % 24
    sample = write_bodies(project.parent / "hours.jsonl", lines)
    _, out = svai("drift", str(project), "--sample", str(sample), "--format", "json")
    hour = next(f for f in json.loads(out)["features"] if f["name"] == "transaction.hour")
    assert hour["psi_threshold"] == 0.3 and hour["ks_threshold"] == 0.1  # own PSI, global KS
    assert hour["flagged"] == (hour["psi"] > 0.3 or hour["ks"] > 0.1)


def test_bad_sample_and_unconfigured_drift_are_usage_errors(project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"transaction": {}}\nnot json\n')
    code, out = svai("drift", str(project), "--sample", str(bad))
    assert code == 2 and "line 2 is not JSON" in out and "Traceback" not in out
    text = project.read_text()
    start = text.index("  drift:")
    end = text.index("\n\n", start)
    project.write_text(text[:start] + text[end:])
    code, out = svai("drift", str(project), "--sample", str(bad))
    assert code == 2 and "nothing to compare" in out


def test_an_unknown_feature_is_refused_at_its_line(project: Path) -> None:
    text = project.read_text().replace("transaction.merchant_risk", "transaction.merchant_rsk")
    project.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_spec(project)
    (diagnostic,) = caught.value.diagnostics
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "merchant_rsk" in t)
    assert (diagnostic.code, diagnostic.line) == ("unknown-feature", line)
    assert diagnostic.col == text.splitlines()[line - 1].index("transaction.merchant_rsk") + 1
    assert "did you mean `merchant_risk`" in diagnostic.message
    assert diagnostic.path == "observability.drift.features[1]"


def test_the_drift_alarm_is_in_every_clouds_plan(project: Path) -> None:
    _, result = api.plan(project)
    found: dict[str, dict[str, Any]] = {}
    for target in result.targets:
        for resource in target.resources:
            name = str(resource.name)
            if "drift" in name:
                cloud = target.plan.cloud
                found[cloud] = {"type": resource.type, "inputs": resource.inputs}
    assert set(found) == {"aws", "gcp", "azure"}
    aws = found["aws"]["inputs"]
    assert (aws["metricName"], aws["statistic"], aws["threshold"]) == (
        "drift_score",
        "Maximum",
        1.0,
    )
    condition = found["gcp"]["inputs"]["conditions"][0]["conditionMatchedLog"]["filter"]
    assert 'jsonPayload.message = "drift"' in condition and "drift_score > 1.0" in condition
    query = found["azure"]["inputs"]["criteria"]["allOf"][0]["query"]
    assert 'e.message) == "drift"' in query and "max(todouble(e.drift_score))" in query


def test_no_alarm_and_no_gate_without_something_to_compare(project: Path) -> None:
    text = project.read_text()
    start = text.index("  drift:")
    project.write_text(
        text[:start] + "  drift: {enabled: true}\n" + text[text.index("\n\n", start) :]
    )
    _, result = api.plan(project)
    assert not any("drift" in str(r.name) for t in result.targets for r in t.resources)


def test_the_promote_gate_passes_holds_and_fails_on_drift_evidence(project: Path) -> None:
    spec = resolve(load_spec(project))
    live = {"error_rate": 0.0, "p99_s": 0.1}

    def gate(evidence: dict[str, Any]) -> Any:
        results = evaluate_gates(spec, "v-b", {"live": live, **evidence}, cost_per_1k_usd=0.0)
        return next(r for r in results if r.name == "drift")

    missing = gate({})
    assert (missing.passed, missing.hold) == (False, True)
    few = gate({"drift": {"samples": 20, "flagged": [], "score": 0.1}})
    assert (few.passed, few.hold) == (False, True)
    calm = gate({"drift": {"samples": 500, "flagged": [], "score": 0.4}})
    assert (calm.passed, calm.hold) == (True, False)
    drifted = gate({"drift": {"samples": 500, "flagged": ["transaction.amount"], "score": 5.4}})
    assert (drifted.passed, drifted.hold) == (False, False)
    assert "transaction.amount" in drifted.observed
