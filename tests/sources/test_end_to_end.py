"""A model in each store goes validate -> plan -> build -> serve -> a correct prediction."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from stores import Seeded
from test_cli_runtime import SPEC, _free_port, _request, iris, run_cli  # noqa: F401

STAGES = ("validate", "plan")


def _project(tmp_path: Path, artifact: str, digest: str) -> Path:
    (tmp_path / "src").mkdir(parents=True)
    (tmp_path / "src/post.py").write_text(
        "def to_response(outputs):\n    return {'species': outputs['label']}\n"
    )
    spec = tmp_path / "svai.yaml"
    spec.write_text(
        SPEC.replace("artifact: model/iris.onnx", f"artifact: '{artifact}'\n  sha256: '{digest}'")
    )
    return spec


def test_a_remote_model_serves_correct_predictions(
    store: Seeded,
    tmp_path: Path,
    iris: tuple[np.ndarray, np.ndarray, bytes],  # noqa: F811
) -> None:
    x, expected, onnx_bytes = iris
    uri = store.put(f"e2e/{store.scheme}-iris.onnx", onnx_bytes)
    spec = _project(tmp_path, uri, hashlib.sha256(onnx_bytes).hexdigest())
    for stage in STAGES:
        code, output = run_cli(stage, str(spec))
        assert code == 0, output
    code, output = run_cli("build", str(spec))
    assert code == 0, output
    port = _free_port()
    command = [sys.executable, "-c", "from svai.cli.main import main; main()"]
    server = subprocess.Popen(
        [*command, "serve", str(spec), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        status = 0
        while time.monotonic() < deadline and server.poll() is None and status != 200:
            try:
                status, _ = _request(port, "GET", "/readyz")
            except OSError:
                time.sleep(0.2)
        assert status == 200, server.stdout.read().decode() if server.poll() is not None else ""
        rows = x[[0, 75, 149]].tolist()
        status, body = _request(port, "POST", "/predict", json.dumps({"inputs": rows}).encode())
        assert status == 200, body
        assert json.loads(body)["outputs"] == {"species": expected[[0, 75, 149]].tolist()}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def test_an_unreachable_artifact_is_refused_before_anything_is_built(
    store: Seeded, tmp_path: Path
) -> None:
    uri = store.put(f"e2e/{store.scheme}-present.onnx", b"not used")
    missing = uri.split("?")[0].split("#")[0].replace("present", "absent")
    for artifact, digest in ((uri, "3" * 64), (missing, hashlib.sha256(b"not used").hexdigest())):
        spec = _project(tmp_path / artifact.rsplit("/", 1)[-1][:12], artifact, digest)
        code, output = run_cli("build", str(spec))
        assert code == 2 and "model.artifact" in output and artifact in output, output
        assert not any(tmp_path.rglob("manifest.json")), "nothing is built"
