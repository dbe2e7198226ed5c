"""Benchmark the HTTP hardening of issue #13: this tree's server next to main's and FastAPI+uvicorn.

All in one run, arms interleaved, medians of >= 5 rounds where timing is involved:

1. peak RSS (``VmHWM``) under the two body-limit bypasses -- 100 MB on ``GET /predict``, and a
   negative chunk size followed by 100 MB -- against the idle server (target <= 1.2x idle);
2. requests lost when SIGTERM arrives under keep-alive load from 20 clients (target 0): a request
   whose bytes went out and whose answer never came back;
3. throughput at concurrency 4, and server CPU time per request (the server process's user+system
   CPU from ``/proc/<pid>/stat`` over the requests it answered), against FastAPI+uvicorn on the
   same model (targets: >= 1.2x FastAPI's throughput, CPU <= 0.5x FastAPI's);
4. cold start, process start to the first 200 on ``/predict``;
5. import cost: the server's port-open path (``python -X importtime``), and what ``httptools`` and
   ``redis`` add on top of it; the parse cost of one request with httptools and with h11.

"main" is the server code of a git ref (``--baseline``, default ``main``), unpacked with
``git archive`` into a temporary folder and run with ``PYTHONPATH`` pointing there.

Usage: ``.venv/bin/python bench/bench_http.py [--rounds 5] [--out bench/results/http.json]``.
Needs fastapi, uvicorn and h11 in the venv (benchmark only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "runtimes"))
from bench_server import (
    FASTAPI_APP,
    PY,
    REPO,
    Client,
    Server,
    build_model,
    fastapi_cmd,
    first_200,
    free_port,
    request_bytes,
    svai_cmd,
    wait_first_200,
    write_config,
)
from raw_http import KeepAliveClient, peak_rss_kb, send_hostile  # the tests' own clients

SERVER_MODULES = "svai.runtime.server.main, svai.runtime.server.http, svai.runtime.server.attach"
MB100 = 100 << 20


def baseline_tree(ref: str, root: Path) -> Path:
    """Unpack ``ref``'s tracked files (the server code of main) into ``root/baseline``."""
    out = root / "baseline"
    out.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "svai"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out


def tree_env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree)}


def server_cmd(cfg: Path, port: int) -> list[str]:
    """``svai_cmd`` with ``-P``: ``python -m`` would put the working directory (this checkout)
    ahead of ``PYTHONPATH`` and run this tree's server in the main arm too."""
    python, *rest = svai_cmd(cfg, port)
    return [python, "-P", *rest]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- 1. peak RSS under the bypasses -----------------------------------------------------------


BYPASSES = {
    # 100 MB on a route that is not POST /predict
    "get_predict_100mb": b"GET /predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % MB100,
    # a negative chunk size, so that the next chunk's 100 MB fit "under" the limit
    "negative_chunk_100mb": (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n-6400000\r\n6400000\r\n"
    ),
}


def rss_under_bypass(server: Server, data: bytes, head: bytes) -> dict[str, Any]:
    """Peak RSS of a fresh, warmed-up server before and after one bypass."""
    client = Client(server.port)
    for _ in range(50):
        client.call(data)
    client.close()
    idle = peak_rss_kb(server.proc.pid) / 1024
    answer = send_hostile(server.port, head, MB100).split(b"\r\n", 1)[0].decode("latin-1")
    peak = peak_rss_kb(server.proc.pid) / 1024
    return {"answer": answer, "idle_peak_mb": idle, "peak_mb": peak, "over_idle": peak / idle}


# -- 2. SIGTERM under keep-alive load ---------------------------------------------------------


def sigterm_round(cmd: list[str], env: dict[str, str], port: int, data: bytes) -> dict[str, int]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_first_200(port, data, time.perf_counter(), 60.0, "server")
        clients = [KeepAliveClient(port, data) for _ in range(20)]
        for c in clients:
            c.start()
        deadline = time.monotonic() + 30
        while sum(len(c.statuses) for c in clients) < 400 and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        for c in clients:
            c.join(60)
        code = proc.wait(60)
        statuses = [s for c in clients for s in c.statuses]
        return {
            "answered": len(statuses),
            "lost": sum(c.lost for c in clients),
            "non_200": sum(s != 200 for s in statuses),
            "exit_code": code,
        }
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- 3. throughput and CPU per request ---------------------------------------------------------


def load(server: Server, data: bytes, concurrency: int, seconds: float) -> dict[str, float]:
    counts = [0] * concurrency
    clients = [Client(server.port) for _ in range(concurrency)]
    for c in clients:
        for _ in range(20):
            c.call(data)
    stop = time.perf_counter() + seconds
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            while time.perf_counter() < stop:
                if clients[i].call(data) != 200:
                    raise RuntimeError("non-200 answer")
                counts[i] += 1
        except BaseException as exc:  # report, do not hide, a failing server
            errors.append(exc)

    cpu0, t0 = cpu_s(server.proc.pid), time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - t0, cpu_s(server.proc.pid) - cpu0
    for c in clients:
        c.close()
    if errors:
        raise errors[0]
    n = sum(counts)
    return {"rps": n / elapsed, "cpu_ms_per_request": cpu / n * 1000, "requests": n}


# -- 5. import and parse costs -------------------------------------------------------------------


def import_us(env: dict[str, str], code: str, module: str | None = None) -> int:
    """Microseconds of imports in ``python -X importtime -c code``: all top-level, or ``module``'s."""
    done = subprocess.run(
        [PY, "-P", "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    total = 0
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
        if m is None:
            continue
        cumulative, indent, name = int(m[1]), m[2], m[3]
        if module is not None and name == module and not indent:
            return cumulative
        if module is None and not indent:
            total += cumulative
    if module is not None:
        raise RuntimeError(f"{module} not imported by {code!r}")
    return total


def parse_cost_us(data: bytes, n: int = 5000) -> dict[str, float]:
    """Per request: parse one request and frame one response, httptools (svai's reader) vs h11."""
    import h11

    from svai.runtime.core import Response
    from svai.runtime.server.wire import Message, RequestReader, encode_response, load_parser

    load_parser()
    response = Response(200, b'{"outputs": {"label": [0]}}', {"x-request-id": "r"})

    def limit(_: Message) -> int:
        return 1 << 20

    reader = RequestReader(limit, lambda _b: None)
    t0 = time.perf_counter()
    for _ in range(n):
        reader.feed(data)
        (msg,) = reader.take()
        encode_response(response, msg.keep_alive)
    httptools_us = (time.perf_counter() - t0) / n * 1e6

    conn = h11.Connection(h11.SERVER)
    t0 = time.perf_counter()
    for _ in range(n):
        conn.receive_data(data)
        event = conn.next_event()
        while type(event) is not h11.EndOfMessage:
            event = conn.next_event()
        conn.send(
            h11.Response(status_code=200, headers=[("content-length", str(len(response.body)))])
        )
        conn.send(h11.Data(data=response.body))
        conn.send(h11.EndOfMessage())
        conn.start_next_cycle()
    h11_us = (time.perf_counter() - t0) / n * 1e6
    return {"httptools_us": httptools_us, "h11_us": h11_us}


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0, help="length of a throughput round")
    ap.add_argument("--baseline", default="main", help="git ref whose server is the 'main' arm")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "http.json"))
    args = ap.parse_args()
    rounds = max(5, args.rounds)
    tmp = Path(tempfile.mkdtemp(prefix="svai-bench-http-"))
    trees = {"svai": REPO, "main": baseline_tree(args.baseline, tmp)}
    model, x = build_model(tmp)
    data = request_bytes(x)
    app_py = tmp / "fastapi_app.py"
    app_py.write_text(FASTAPI_APP)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "model": "RandomForestClassifier(n_estimators=100) on sklearn digits, ONNX, 1-row requests",
        "baseline": args.baseline,
        "rounds": rounds,
    }

    def svai_server(tree: Path, cfg: Path) -> Server:
        return Server(lambda port: server_cmd(cfg, port), tree_env(tree), data)

    # 1. peak RSS under the bypasses (the payload limit of the fraud example: 16 KB) ----------
    limited = tmp / "limited"
    limited.mkdir()
    cfg = {
        "model": {"path": str(model), "version": "bench-v1"},
        "api": {"max_payload_bytes": 16_000},
        "observability": {"log_requests": False},
    }
    (limited / "svai_runtime.json").write_text(json.dumps(cfg))
    rss: dict[str, Any] = {name: {} for name in trees}
    for bypass, head in BYPASSES.items():
        for name, tree in trees.items():
            server = svai_server(tree, limited / "svai_runtime.json")
            try:
                rss[name][bypass] = rss_under_bypass(server, data, head)
            finally:
                server.stop()
    rss["target_over_idle"] = 1.2
    results["peak_rss_under_bypasses"] = rss
    print(json.dumps(rss), flush=True)

    # 2. SIGTERM under keep-alive load (room for all 20 in the queue: overload is not the point)
    drain_cfg = tmp / "drain"
    drain_cfg.mkdir()
    cfg = {
        "model": {"path": str(model), "version": "bench-v1"},
        "concurrency": {"queue_size": 40},
        "server": {"drain_timeout_s": 20},
        "observability": {"log_requests": False},
    }
    (drain_cfg / "svai_runtime.json").write_text(json.dumps(cfg))
    sigterm: dict[str, list[dict[str, int]]] = {name: [] for name in trees}
    for _ in range(3):
        for name, tree in trees.items():
            port = free_port()
            cmd = server_cmd(drain_cfg / "svai_runtime.json", port)
            sigterm[name].append(sigterm_round(cmd, tree_env(tree), port, data))
    results["sigterm_20_keep_alive_clients"] = {
        "runs": sigterm,
        "lost_total": {k: sum(r["lost"] for r in v) for k, v in sigterm.items()},
        "target_lost": 0,
    }
    print(json.dumps(results["sigterm_20_keep_alive_clients"]["lost_total"]), flush=True)

    # 3. throughput and CPU per request at concurrency 4 ----------------------------------------
    plain = write_config(tmp, model, "plain", batching=False)
    servers: dict[str, Server] = {
        "svai": svai_server(trees["svai"], plain),
        "main": svai_server(trees["main"], plain),
        "fastapi": Server(lambda port: fastapi_cmd(app_py, model, port), dict(os.environ), data),
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    try:
        for _ in range(rounds):
            for name, server in servers.items():
                runs[name].append(load(server, data, 4, args.seconds))
    finally:
        for s in servers.values():
            s.stop()

    def ratio(a: str, b: str, key: str) -> float:
        return statistics.median(x[key] / y[key] for x, y in zip(runs[a], runs[b], strict=True))

    results["throughput_c4"] = {
        "runs": runs,
        "median_rps": {k: median_of(v, "rps") for k, v in runs.items()},
        "median_cpu_ms_per_request": {
            k: median_of(v, "cpu_ms_per_request") for k, v in runs.items()
        },
        "svai_over_fastapi_rps": ratio("svai", "fastapi", "rps"),
        "svai_over_main_rps": ratio("svai", "main", "rps"),
        "svai_over_fastapi_cpu_per_request": ratio("svai", "fastapi", "cpu_ms_per_request"),
        "svai_over_main_cpu_per_request": ratio("svai", "main", "cpu_ms_per_request"),
        "targets": {"svai_over_fastapi_rps": 1.2, "svai_over_fastapi_cpu_per_request": 0.5},
        "note": "the load generator runs on the same cores as the servers",
    }
    print(json.dumps(results["throughput_c4"]["median_rps"]), flush=True)

    # 4. cold start: process start -> first 200 on /predict -----------------------------------
    cold: dict[str, list[float]] = {"svai": [], "main": [], "fastapi": []}
    for _ in range(rounds):
        for name in cold:
            port = free_port()
            if name == "fastapi":
                cmd, env = fastapi_cmd(app_py, model, port), dict(os.environ)
            else:
                cmd, env = server_cmd(plain, port), tree_env(trees[name])
            cold[name].append(first_200(cmd, port, data, env))
    med = {k: statistics.median(v) for k, v in cold.items()}
    results["cold_start_s"] = {
        "runs": cold,
        "median": med,
        "svai_over_fastapi": med["svai"] / med["fastapi"],
        "svai_over_main": med["svai"] / med["main"],
        "targets": {"svai_over_fastapi": 0.5},
    }
    print(json.dumps(med), flush=True)

    # 5. imports and parse cost --------------------------------------------------------------
    imports: dict[str, list[int]] = {
        "server_port_open_path_svai": [],
        "server_port_open_path_main": [],
        "httptools_after_server": [],
        "h11_after_server": [],
        "redis_after_core": [],
    }
    measures: dict[str, Callable[[], int]] = {
        "server_port_open_path_svai": lambda: import_us(
            tree_env(trees["svai"]), f"import {SERVER_MODULES}"
        ),
        "server_port_open_path_main": lambda: import_us(
            tree_env(trees["main"]), f"import {SERVER_MODULES}"
        ),
        "httptools_after_server": lambda: import_us(
            tree_env(trees["svai"]), f"import {SERVER_MODULES}; import httptools", "httptools"
        ),
        "h11_after_server": lambda: import_us(
            tree_env(trees["svai"]), f"import {SERVER_MODULES}; import h11", "h11"
        ),
        "redis_after_core": lambda: import_us(
            tree_env(trees["svai"]), f"import {SERVER_MODULES}; import redis", "redis"
        ),
    }
    for _ in range(max(7, rounds)):
        for name, measure in measures.items():
            imports[name].append(measure())
    parse = [parse_cost_us(data) for _ in range(rounds)]
    results["imports_us"] = {
        "runs": imports,
        "median": {k: statistics.median(v) for k, v in imports.items()},
        "note": "cumulative microseconds from python -X importtime; the *_after_* rows are what "
        "the module adds once the server's own imports are done",
    }
    results["parse_us_per_request"] = {
        "runs": parse,
        "median": {k: median_of(parse, k) for k in ("httptools_us", "h11_us")},
        "note": "one POST /predict parsed and one response framed, in-process",
    }
    print(json.dumps(results["imports_us"]["median"]), flush=True)
    print(json.dumps(results["parse_us_per_request"]["median"]), flush=True)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
