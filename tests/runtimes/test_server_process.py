"""The server as a real process: ``python -m svai.runtime.server``, SIGTERM drain, exit codes."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from svai.runtime.server import resolve_port

REPO = Path(__file__).resolve().parents[2]
SLOW_PRE = """
    import time

    def prepare(payload):
        time.sleep(payload.get("sleep", 0))
        return {"inputs": payload["inputs"]}
"""


def start(config: Path, *extra: str) -> tuple[subprocess.Popen[str], list[dict[str, Any]]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PORT", None)
    env.pop("AIP_HTTP_PORT", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "svai.runtime.server",
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    records: list[dict[str, Any]] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            records.append(json.loads(line))

    threading.Thread(target=pump, daemon=True).start()
    return proc, records


def wait_for(records: list[dict[str, Any]], message: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in list(records):
            if r.get("message") == message:
                return r
        time.sleep(0.02)
    raise AssertionError(f"no {message!r} line in {records}")


def call(port: int, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        body = None if payload is None else json.dumps(payload)
        conn.request(method, path, body, {"content-type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_sigterm_drains_in_flight_requests_and_exits_0(make_artifact: Any, digits: Any) -> None:
    config = make_artifact({"hooks": {"preprocess": "pre:prepare"}}, {"pre.py": SLOW_PRE})
    proc, records = start(config)
    try:
        port = wait_for(records, "listening")["port"]
        wait_for(records, "model loaded")
        row = [float(v) for v in digits.x_test[0]]
        assert call(port, "POST", "/predict", {"inputs": [row]})[0] == 200
        result: dict[str, Any] = {}
        t = threading.Thread(
            target=lambda: result.update(
                r=call(port, "POST", "/predict", {"inputs": [row], "sleep": 1.0})
            )
        )
        t.start()
        time.sleep(0.3)  # let the slow request reach the worker
        proc.send_signal(signal.SIGTERM)
        t.join(15)
        assert proc.wait(15) == 0
        status, out = result["r"]
        assert status == 200 and out["outputs"]["label"] == [int(digits.labels[0])]
        requests = [r for r in records if r.get("message") == "request"]
        assert [r["cold_start"] for r in requests] == [True, False]
        assert all(
            r["model_version"] == "digits-v1" and r["_aws"]["CloudWatchMetrics"] for r in requests
        )
        assert any(r.get("message") == "drained" for r in records)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_refused_model_exits_3(make_artifact: Any, digits: Any) -> None:
    config = make_artifact({"model": {"path": str(digits.pickle_path)}})
    proc, records = start(config)
    try:
        assert proc.wait(30) == 3
        assert wait_for(records, "model failed to load")["severity"] == "ERROR"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_bad_config_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "svai_runtime.json"
    bad.write_text(json.dumps({"model": {"path": "m.onnx", "version": "v"}, "typo": 1}))
    proc, _ = start(bad)
    assert proc.wait(30) == 2
    assert proc.stderr is not None and "typo" in proc.stderr.read()


@pytest.mark.parametrize(
    ("cli", "env", "config", "expected"),
    [
        (9000, {"PORT": "8081"}, 0, 9000),
        (None, {"PORT": "8081", "AIP_HTTP_PORT": "8082"}, 0, 8082),
        (None, {"PORT": "8081"}, 7000, 8081),
        (None, {}, 7000, 7000),
        (None, {}, 0, 8080),
    ],
)
def test_port_resolution(cli: int | None, env: dict[str, str], config: int, expected: int) -> None:
    assert resolve_port(cli, env, config) == expected


@pytest.mark.parametrize("args", [[], ["--config"], ["--config", "x.json", "--verbose"]])
def test_bad_arguments_exit_2(args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "svai.runtime.server", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "usage:" in proc.stderr


def test_the_port_opens_without_the_heavy_imports() -> None:
    # Everything the main thread imports before it binds the port; numpy, onnxruntime and
    # orjson load on the model's thread meanwhile (``Service.load``).
    code = (
        "import sys\n"
        "import svai.runtime.server.main, svai.runtime.server.http, svai.runtime.server.attach\n"
        "print(sorted(m for m in ('numpy', 'onnxruntime', 'orjson', 'asyncio', 'ssl')"
        " if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
