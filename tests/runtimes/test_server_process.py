"""The server as a real process: ``python -m svai.runtime.server``, SIGTERM drain, exit codes."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from raw_http import KeepAliveClient, peak_rss_kb, send_hostile

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


def run_server(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m svai.runtime.server ARGS`` to its end (for the ways it refuses to start)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "svai.runtime.server", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("args", [[], ["--config"], ["--config", "x.json", "--verbose"]])
def test_bad_arguments_exit_2(args: list[str]) -> None:
    proc = run_server(*args)
    assert proc.returncode == 2
    assert "usage:" in proc.stderr


def test_the_port_opens_without_the_heavy_imports() -> None:
    # Everything the main thread imports before it binds the port; numpy, onnxruntime and
    # orjson load on the model's thread meanwhile (``Service.load``), the HTTP parser on the
    # accept thread once the port is open.
    code = (
        "import sys\n"
        "import svai.runtime.server.main, svai.runtime.server.http, svai.runtime.server.attach\n"
        "print(sorted(m for m in ('numpy', 'onnxruntime', 'orjson', 'asyncio', 'ssl', 'httptools', 'opentelemetry')"
        " if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# The two bypasses of issue #13, each followed by 100 MB: a body on a route that is not
# POST /predict (main buffered it all, then answered 405), and a negative chunk size that makes
# the running total negative so that the next chunk's 100 MB fit "under" the limit.
CHUNKED = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
BYPASSES = {
    "get-predict": (b"GET /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n", 413),
    "negative-chunk": (CHUNKED + b"Transfer-Encoding: chunked\r\n\r\n-6400000\r\n6400000\r\n", 400),
}


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("bypass", sorted(BYPASSES))
def test_hostile_bodies_leave_peak_rss_flat(make_artifact: Any, digits: Any, bypass: str) -> None:
    head, status = BYPASSES[bypass]
    proc, records = start(make_artifact({"api": {"max_payload_bytes": 16_000}}))
    try:
        port = wait_for(records, "listening")["port"]
        wait_for(records, "model loaded")
        assert call(port, "POST", "/predict", {"inputs": [digits.x_test[0].tolist()]})[0] == 200
        idle = peak_rss_kb(proc.pid)
        answer = send_hostile(port, head, 100 << 20)
        assert peak_rss_kb(proc.pid) <= 1.2 * idle  # nothing of the 100 MB was kept
        assert answer.startswith(b"HTTP/1.1 %d " % status)
        assert call(port, "GET", "/healthz")[0] == 200
    finally:
        proc.kill()
        proc.wait(5)


def test_sigterm_under_keep_alive_load_loses_no_request(make_artifact: Any, digits: Any) -> None:
    # Room for all 20 in the admission queue: every answer must be a 200, none a 503.
    cfg = {"server": {"drain_timeout_s": 20}, "concurrency": {"queue_size": 40}}
    proc, records = start(make_artifact(cfg))
    try:
        port = wait_for(records, "listening")["port"]
        wait_for(records, "model loaded")
        body = json.dumps({"inputs": [digits.x_test[0].tolist()]}).encode()
        request = (
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        clients = [KeepAliveClient(port, request) for _ in range(20)]
        for c in clients:
            c.start()
        deadline = time.monotonic() + 30
        while sum(len(c.statuses) for c in clients) < 400 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        for c in clients:
            c.join(30)
        assert proc.wait(30) == 0
        assert sum(c.lost for c in clients) == 0
        assert all(not c.is_alive() and c.refused and c.closes >= 1 for c in clients)
        statuses = [s for c in clients for s in c.statuses]
        assert len(statuses) >= 400 and set(statuses) == {200}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_a_port_in_use_exits_2_without_a_traceback(make_artifact: Any) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = run_server(
            "--config", str(make_artifact()), "--host", "127.0.0.1", "--port", str(port)
        )
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "in use" in done.stderr and "Traceback" not in done.stderr
