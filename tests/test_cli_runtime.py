"""``svai serve`` and ``svai bench`` end to end: a real ONNX model served and measured locally."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from svai.cli.main import main

SPEC = """\
version: 1
name: iris-onnx
model:
  artifact: model/iris.onnx
  framework: onnx
  task: classification
  postprocess: src/post.py:to_response
latency: {p95: 200ms}
traffic: {pattern: steady, baseline_rps: 2}
targets:
  - {cloud: gcp, region: europe-west1, runtime: container}
"""


def run_cli(*args: str) -> tuple[int, str]:
    """Run ``svai`` through ``main`` (its real error handling) under click's CliRunner."""
    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue().decode() + err.getvalue().decode()


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray, bytes]:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_iris(return_X_y=True)
    model = DecisionTreeClassifier(max_depth=4, random_state=0).fit(x, y)
    onx = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, 4]))],
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    return x, model.predict(x.astype(np.float32)), onx.SerializeToString()


@pytest.fixture
def project(tmp_path: Path, iris: tuple[np.ndarray, np.ndarray, bytes]) -> Path:
    (tmp_path / "model").mkdir()
    (tmp_path / "model/iris.onnx").write_bytes(iris[2])
    (tmp_path / "src").mkdir()
    (tmp_path / "src/post.py").write_text(
        "def to_response(outputs):\n    return {'species': outputs['label']}\n"
    )
    spec = tmp_path / "svai.yaml"
    spec.write_text(SPEC)
    return spec


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"content-type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_serve_answers_predictions_and_drains(
    project: Path, iris: tuple[np.ndarray, np.ndarray, bytes]
) -> None:
    x, expected, _ = iris
    port = _free_port()
    command = [sys.executable, "-c", "from svai.cli.main import main; main()"]
    server = subprocess.Popen(
        [*command, "serve", str(project), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 300  # the first serve creates the artifact's environment
        status = 0
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status, _ = _request(port, "GET", "/readyz")
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200, server.stdout.read().decode() if server.poll() is not None else ""
        rows = x[[0, 75, 149]].tolist()
        status, body = _request(port, "POST", "/predict", json.dumps({"inputs": rows}).encode())
        assert status == 200, body
        answer = json.loads(body)
        assert answer["outputs"] == {"species": expected[[0, 75, 149]].tolist()}
        status, body = _request(port, "POST", "/predict", b'{"inputs": "not rows"')
        assert status == 400
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    output = server.stdout.read().decode()
    assert code == 0, output
    # The copied runtime served: the build folder is where svai serve pointed it.
    assert "listening" in output and "drained" in output


def test_bench_measures_and_recommend_uses_it(
    project: Path, iris: tuple[np.ndarray, np.ndarray, bytes]
) -> None:
    x = iris[0]
    payload = project.parent / "payload.json"
    payload.write_text(json.dumps([{"inputs": [row]} for row in x[:5].tolist()]))
    code, output = run_cli("bench", str(project), "--payload", str(payload), "--requests", "30",
                           "--format", "json")  # fmt: skip
    assert code == 0, output
    result = json.loads(output[output.index("{") :])
    saved = json.loads((project.parent / ".svai/measurements.json").read_text())
    assert saved["model_version"] == result["model_version"]
    assert saved["requests"] == 30 and saved["payloads"] == 5
    assert 0 < saved["p50_s"] <= saved["p95_s"] <= saved["p99_s"]
    assert saved["load_time_s"] > 0 and saved["memory_bytes"] > 10_000_000
    built = project.parent / ".svai/build/iris-onnx" / saved["model_version"] / "gcp-europe-west1"
    assert saved["artifact_bytes"] == (built / "model.onnx").stat().st_size

    code, output = run_cli("recommend", str(project), "--format", "json")
    assert code == 0, output
    target = json.loads(output)["targets"][0]
    assumptions = target["assumptions"]
    assert {"model size", "inference time", "load time", "memory"} <= set(assumptions["measured"])
    # The measured mean, scaled up on instances with less than one vCPU.
    scale = 1 / min(1.0, target["choice"]["vcpu"])
    assert assumptions["service_ms"] == pytest.approx(saved["mean_s"] * 1000 * scale, rel=1e-3)

    # A new model version makes the figures stale: they are no longer used.
    (project.parent / "src/post.py").write_text(
        "def to_response(outputs):\n    return {'species': outputs['label'], 'v': 2}\n"
    )
    code, output = run_cli("recommend", str(project), "--format", "json")
    assert code == 0, output
    measured = json.loads(output)["targets"][0]["assumptions"]["measured"]
    assert "load time" not in measured and "inference time" not in measured


def test_bench_needs_a_payload(project: Path) -> None:
    code, output = run_cli("bench", str(project))
    assert code == 2
    assert "--payload" in output and "eval_set" in output and "Traceback" not in output
    bad = project.parent / "bad.json"
    bad.write_text("{not json")
    code, output = run_cli("bench", str(project), "--payload", str(bad))
    assert code == 2 and "not JSON" in output and "Traceback" not in output


def test_serve_refuses_a_folder_that_is_not_a_build(tmp_path: Path) -> None:
    code, output = run_cli("serve", str(tmp_path))
    assert code == 2 and "not a build folder" in output and "Traceback" not in output
    assert os.listdir(tmp_path) == []
