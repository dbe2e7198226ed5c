"""The measurements file: keyed by the artifact (a memory change keeps it), validated like the
spec (located problems, exit 2, no traceback), and a diff that changes the basis says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from svai import api
from svai.cli.main import main
from svai.compiler.diff import diff_plans, diff_text
from svai.compiler.measurements import hardware, measurements_document
from svai.compiler.version import measurement_key, model_version
from svai.errors import SpecError

SPEC = """\
version: 1
name: scorer
model: {{artifact: model.onnx, framework: onnx, size: 40MB, memory: {memory}, inference_time: 20ms}}
api: {{mode: sync}}
latency: {{p95: 500ms}}
traffic: {{pattern: steady, baseline_rps: 5}}
targets:
  - {{cloud: aws, region: us-east-1}}
"""
FIGURES = {
    "model_version": "v-000000000000",
    "target": "aws-us-east-1",
    "requests": 200,
    "payloads": 5,
    "load_time_s": 0.41,
    "p50_s": 0.0003,
    "p95_s": 0.00032,
    "p99_s": 0.0004,
    "mean_s": 0.0003,
    "memory_bytes": 120_000_000,
    "artifact_bytes": 40_000_000,
    "package_bytes": 41_000_000,
}


def _project(tmp_path: Path, memory: str = "512MiB", model: bytes = b"onnx bytes") -> Path:
    (tmp_path / "model.onnx").write_bytes(model)
    spec = tmp_path / "svai.yaml"
    spec.write_text(SPEC.format(memory=memory), encoding="utf-8")
    return spec


def _save(spec: Path, **changes: object) -> Path:
    loaded = api.validate(spec)
    key = measurement_key(loaded.resolved, loaded.base_dir)
    figures = {**FIGURES, "model_version": model_version(loaded.resolved, loaded.base_dir)}
    data = {**measurements_document(figures, key, hardware()), **changes}
    path = spec.parent / ".svai" / "measurements.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=True) + "\n")
    return path


def test_a_memory_change_keeps_the_measurements_and_a_new_artifact_drops_them(
    tmp_path: Path,
) -> None:
    spec = _project(tmp_path)
    _save(spec)
    before = api.validate(spec)
    assert api.measurements(before).inference_time_s == pytest.approx(0.0003)
    _project(tmp_path, memory="2GiB")
    after = api.validate(spec)
    # A new version (the declared memory is part of it), the same measured artifact.
    assert model_version(after.resolved, after.base_dir) != model_version(
        before.resolved, before.base_dir
    )
    assert api.measurements(after).inference_time_s == pytest.approx(0.0003)
    _project(tmp_path, memory="2GiB", model=b"retrained onnx bytes")
    assert api.measurements(api.validate(spec)).inference_time_s is None


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"mean_s": float("nan")}, "", "NaN is not a number"),
        ({"load_time_s": float("inf")}, "", "Infinity is not a number"),
        ({"mean_s": -0.002}, "mean_s", "must be finite and >= 0"),
        ({"memory_bytes": "lots"}, "memory_bytes", "must be a number"),
        ({"artifact_bytes": 1.5}, "artifact_bytes", "whole number"),
        ({"schema_version": 7}, "schema_version", "unknown schema"),
    ],
)
def test_an_invalid_file_is_a_located_problem(
    tmp_path: Path, changes: dict[str, object], field: str, message: str
) -> None:
    spec = _project(tmp_path)
    saved = _save(spec, **changes)
    with pytest.raises(SpecError) as caught:
        api.measurements(api.validate(spec))
    (problem,) = caught.value.diagnostics
    assert problem.file == str(saved)
    assert problem.path == field
    assert message in problem.message
    assert problem.line > 1 and problem.col > 1  # the offending line, not the whole file
    line = saved.read_text().splitlines()[problem.line - 1]
    token = f'"{field}"' if field else message.split()[0]
    assert line[problem.col - 1 :].startswith(token)


def test_a_broken_file_stops_svai_plan_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    saved = _save(spec)
    saved.write_text(saved.read_text().replace('"mean_s": 0.0003', '"mean_s": NaN'))
    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        with pytest.raises(SystemExit) as exited:
            main(["plan", str(spec)])
        text = out.getvalue().decode() + err.getvalue().decode()
    assert exited.value.code == 2
    assert "Traceback" not in text
    assert f"{saved}:" in text and "invalid-measurements" in text
    saved.write_text("{not json")
    with runner.isolation() as (out, err, _):
        with pytest.raises(SystemExit) as exited:
            main(["recommend", str(spec)])
        text = out.getvalue().decode() + err.getvalue().decode()
    assert exited.value.code == 2 and f"{saved}:1:2" in text and "Traceback" not in text


def test_a_diff_that_changes_the_basis_says_so(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    before = _plan_json(spec)
    _save(spec)
    after = _plan_json(spec)
    text = diff_text(diff_plans(before, after))
    assert "latency basis     declared → measured (svai bench)" in text
    # The platform stays in the measured figures: no sub-millisecond p95 on Lambda.
    p95 = after["targets"][0]["recommendation"]["predicted"]["p95_ms"]
    assert p95 >= 20.0


def _plan_json(spec: Path) -> dict[str, Any]:
    runner = CliRunner()
    with runner.isolation() as (out, _err, _):
        with pytest.raises(SystemExit) as exited:
            main(["plan", str(spec), "--format", "json"])
        text = out.getvalue().decode()
    assert exited.value.code in (0, None), text
    data: dict[str, Any] = json.loads(text[text.index("{") :])
    return data
