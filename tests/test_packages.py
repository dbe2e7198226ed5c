"""Packages carry what their hooks need (``model.include``, ``model.requirements``), and
``svai serve`` runs the artifact in its own environment, so what works locally is what ships.

The declared requirement is ``idna`` (pure Python, in no runtime dependency): present in the
host's virtualenv, so only the artifact's own environment can show that it was not declared.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.metadata
import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from svai import api
from svai.build.environment import runtime_python
from svai.errors import SpecError, UsageError

IDNA = f"idna=={importlib.metadata.version('idna')}"
SPEC = """\
version: 1
name: hooked
model:
  artifact: model.onnx
  framework: onnx
  preprocess: src/pre.py:prepare
  postprocess: src/post.py:label
{extra}
api: {{mode: sync, timeout: 10s}}
traffic: {{pattern: steady, baseline_rps: 2}}
targets: [{{cloud: aws, region: us-east-1, runtime: faas}}]
"""
PRE = """\
import json
from pathlib import Path

SCALE = json.loads((Path(__file__).parent.parent / "data" / "scale.json").read_text())


def prepare(payload):
    return {"inputs": [[v * SCALE["factor"] for v in row] for row in payload["rows"]]}
"""
POST = """\
import idna


def label(outputs):
    names = ["setosa", "versicolor", "virginica"]
    first = next(iter(outputs.values()))
    return {"species": [names[int(i)] for i in first], "host": idna.encode("bücher.example").decode()}
"""


def write_project(folder: Path, extra: str) -> Path:
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(x, y)
    onnx = to_onnx(model, x[:1].astype(np.float32), options={id(model): {"zipmap": False}})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(onnx.SerializeToString())
    (folder / "src").mkdir(exist_ok=True)
    (folder / "src" / "pre.py").write_text(PRE)
    (folder / "src" / "post.py").write_text(POST)
    (folder / "data").mkdir(exist_ok=True)
    (folder / "data" / "scale.json").write_text('{"factor": 1.0}\n')
    spec = folder / "svai.yaml"
    spec.write_text(SPEC.format(extra=extra))
    return spec


DECLARED = f"  include: [data/scale.json]\n  requirements: [{IDNA}]"
UNDECLARED = "  include: [data]"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(spec: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "svai.cli.main", "serve", str(spec), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return server, port


def ready(server: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + 300  # the first serve of new requirements builds the env
    while time.monotonic() < deadline and server.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def test_a_hook_with_a_data_file_and_a_declared_requirement_serves(tmp_path: Path) -> None:
    spec = write_project(tmp_path / "project", DECLARED)
    server, port = serve(spec)
    try:
        assert ready(server, port), server.stdout.read().decode() if server.stdout else ""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = json.dumps({"rows": [[5.1, 3.5, 1.4, 0.2]]})
        conn.request("POST", "/predict", body, {"content-type": "application/json"})
        reply = conn.getresponse()
        answer = json.loads(reply.read())
        assert reply.status == 200, answer
        assert answer["outputs"] == {"species": ["setosa"], "host": "xn--bcher-kva.example"}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_an_undeclared_requirement_fails_in_serve_naming_it(tmp_path: Path) -> None:
    spec = write_project(tmp_path / "project", UNDECLARED)
    server, port = serve(spec)
    try:
        assert not ready(server, port)
        output = server.stdout.read().decode() if server.stdout else ""
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=30)
    assert server.returncode != 0
    assert "imports 'idna', which is not installed in the artifact" in output
    assert "declare it in model.requirements" in output


def test_the_built_lambda_handler_runs_the_same_hooks(tmp_path: Path) -> None:
    spec = write_project(tmp_path / "project", DECLARED)
    built = api.build(spec)
    target = built.targets[0]
    requirements = (target.directory / "requirements.txt").read_text()
    assert IDNA in requirements.splitlines()
    task = tmp_path / "task"
    with zipfile.ZipFile(target.directory / "function.zip") as archive:
        archive.extractall(task)
        assert "data/scale.json" in archive.namelist()
    event = {
        "version": "2.0",
        "rawPath": "/predict",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/predict"}, "requestId": "r1"},
        "body": json.dumps({"rows": [[6.7, 3.0, 5.2, 2.3]]}),
    }
    script = (
        "import json, sys\n"
        "from svai.runtime.entry.emulator import LocalContext\n"
        "from svai.runtime.entry.aws_lambda import handler\n"
        "print('REPLY', json.dumps(handler(json.loads(sys.argv[1]), LocalContext())))\n"
    )
    python = runtime_python(target.directory)
    env = {**os.environ, "PYTHONPATH": str(task), "SVAI_CONFIG": str(task / "svai_runtime.json")}
    env.pop("PYTHONHOME", None)
    done = subprocess.run([str(python), "-c", script, json.dumps(event)], cwd=task, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    line = next(
        x for x in done.stdout.splitlines() if x.startswith("REPLY ")
    )  # Powertools logs too
    reply = json.loads(line.removeprefix("REPLY "))
    assert reply["statusCode"] == 200, reply
    assert json.loads(reply["body"])["outputs"]["species"] == ["virginica"]


def test_includes_and_requirements_are_checked_with_their_location(tmp_path: Path) -> None:
    escaping = write_project(tmp_path / "a", "  include: [../outside.json]")
    with pytest.raises(
        SpecError, match=r"svai.yaml:8:13: error\[invalid-value\] model.include\[0\]: .* climbs out"
    ):
        api.validate(escaping)
    linked = write_project(tmp_path / "b", "  include: [data/secret.json]")
    (tmp_path / "secret.json").write_text("{}")
    (tmp_path / "b" / "data" / "secret.json").symlink_to(tmp_path / "secret.json")
    with pytest.raises(SpecError, match="path-escapes"):
        api.validate(linked)
    unpinned = write_project(tmp_path / "c", "  requirements: [idna>=3]")
    with pytest.raises(SpecError, match=r"model.requirements\[0\].*not a pinned requirement"):
        api.validate(unpinned)
    twice = write_project(tmp_path / "d", f"  requirements: [{IDNA}, IDNA==0.1]")
    with pytest.raises(SpecError, match="pin the same package twice"):
        api.validate(twice)
    clash = write_project(tmp_path / "e", "  requirements: [numpy==1.0.0]")
    with pytest.raises(UsageError, match="conflicts with the runtime's own pin numpy=="):
        api.build(clash)


def test_builds_stay_byte_identical_and_the_version_covers_includes(tmp_path: Path) -> None:
    spec = write_project(tmp_path / "project", DECLARED)

    def digests(out: Path) -> dict[str, str]:
        target = api.build(spec, out_dir=out).targets[0].directory
        return {str(p.relative_to(target)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(target.rglob("*")) if p.is_file()}  # fmt: skip

    first, second = digests(tmp_path / "one"), digests(tmp_path / "two")
    assert first == second and "data/scale.json" in first
    before = api.validate(spec)
    version = api.model_version(before.resolved, before.base_dir)
    (spec.parent / "data" / "scale.json").write_text('{"factor": 2.0}\n')
    after = api.validate(spec)
    assert api.model_version(after.resolved, after.base_dir) != version
