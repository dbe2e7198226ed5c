"""Benchmark the svai container HTTP server against bare onnxruntime and FastAPI+uvicorn.

Model: a 100-tree random forest on sklearn's digits, as ONNX (skl2onnx, zipmap off).
Every comparison is interleaved, with the arm order rotated every round (A B C, B C A, C A B,
...) so that no arm always runs first, and reported as medians of >= 5 rounds:

1. cold start, process start -> first HTTP 200 (bare: ``python -I -S`` importing onnxruntime,
   loading the model and running it once, until it prints);
2. warm overhead at concurrency 1: p50/p99 of a keep-alive raw-socket client against the server,
   minus p50/p99 of a raw ``session.run`` loop on the same input;
3. throughput at concurrency 4 vs the ceiling ``cores / single-thread inference time``, and vs
   what the machine sustains in-process with every core running the model (no server), for the
   forest and for a compute-heavy MLP;
4. micro-batcher penalty at concurrency 1 (batching on vs off, same server code).

Identical work on every arm: each validates the request body as ``{"inputs": [[number, ...],
...]}`` before running the model (svai with ``api.input_schema``, FastAPI with a pydantic model,
BentoML in ``bench_bentoml.py`` with its pydantic-typed API). FastAPI runs on uvicorn's fast path
(``uvicorn[standard]``: uvloop and httptools, asked for explicitly, so a missing one fails the run
instead of silently using the slower pure-Python loop); the versions of every package in the
arms are recorded with the results.

Usage: ``.venv/bin/python bench/bench_server.py [--rounds 5] [--out bench/results/server.json]``.
Needs ``fastapi`` and ``uvicorn[standard]`` (svai's ``dev`` extra; never imported by svai).
Results are appended to the results file (``results_log.py``), never overwritten.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import signal
import site
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from results_log import append_result

from svai.build.bench import serve_command

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
SITE = site.getsitepackages()[0]

# The request body every arm validates before running the model.
INPUT_SCHEMA = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "inputs": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}
    },
}

FASTAPI_APP = """
import sys
import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
opts.inter_op_num_threads = 1
sess = ort.InferenceSession(sys.argv[1], sess_options=opts, providers=["CPUExecutionProvider"])
sess.run(None, {"float_input": np.zeros((1, 64), np.float32)})
app = FastAPI()


names = [o.name for o in sess.get_outputs()]


class Payload(BaseModel):
    inputs: list[list[float]]


@app.post("/predict")
def predict(payload: Payload) -> dict:
    x = np.asarray(payload.inputs, dtype=np.float32)
    outs = sess.run(None, {"float_input": x})
    return {"outputs": {n: o.tolist() for n, o in zip(names, outs)}}


uvicorn.run(
    app,
    host="127.0.0.1",
    port=int(sys.argv[2]),
    log_level="warning",
    access_log=False,
    loop="uvloop",
    http="httptools",
)
"""

BARE = (
    "import sys; sys.path[:0] = [{site!r}]; import numpy as np, onnxruntime as ort; "
    "s = ort.InferenceSession({model!r}, providers=['CPUExecutionProvider']); "
    "s.run(None, {{'float_input': np.zeros((1, 64), np.float32)}}); print('ok', flush=True)"
)


def build_model(root: Path) -> tuple[Path, np.ndarray]:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    clf = RandomForestClassifier(n_estimators=100, random_state=0).fit(x, y)
    onx = convert_sklearn(
        clf,
        initial_types=[("float_input", FloatTensorType([None, 64]))],
        options={id(clf): {"zipmap": False}},
    )
    path = root / "model.onnx"
    path.write_bytes(onx.SerializeToString())
    return path, x[:1]


def build_heavy_model(root: Path) -> Path:
    """A compute-bound MLP (64 -> 2048 -> 2048 -> 10, seeded random weights) for the ceiling."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    dims = [64, 2048, 2048, 10]
    nodes, inits, prev = [], [], "float_input"
    for i, (a, b) in enumerate(itertools.pairwise(dims)):
        w = (rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        out = f"h{i}" if i < len(dims) - 2 else "scores"
        nodes.append(
            helper.make_node("MatMul", [prev, f"w{i}"], [out if out == "scores" else f"m{i}"])
        )
        if out != "scores":
            nodes.append(helper.make_node("Relu", [f"m{i}"], [out]))
        prev = out
    graph = helper.make_graph(
        nodes,
        "heavy",
        [helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = root / "heavy.onnx"
    onnx.save(model, path)
    return path


def write_config(root: Path, model: Path, name: str, batching: bool) -> Path:
    d = root / name
    d.mkdir(exist_ok=True)
    cfg = {
        "model": {"path": str(model), "version": "bench-v1"},
        "batching": {"enabled": batching, "max_batch": 16, "max_wait_ms": 2},
        "idempotency": {"enabled": False},
        "observability": {"log_requests": False},
        "api": {"input_schema": INPUT_SCHEMA},
    }
    (d / "svai_runtime.json").write_text(json.dumps(cfg))
    return d / "svai_runtime.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request_bytes(row: np.ndarray) -> bytes:
    body = json.dumps({"inputs": row.tolist()}).encode()
    head = (
        "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Client:
    """A minimal keep-alive HTTP/1.1 client, so the client's own cost stays small."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def call(self, data: bytes) -> int:
        self.sock.sendall(data)
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = self.buf[:end]
                i = head.lower().find(b"content-length:")
                n = int(head[i + 15 : head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0 else None])
                total = end + 4 + n
                if len(self.buf) >= total:
                    status = int(head[9:12])
                    self.buf = self.buf[total:]
                    return status
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk

    def close(self) -> None:
        self.sock.close()


def wait_first_200(port: int, data: bytes, t0: float, limit_s: float, what: str) -> float:
    """Poll ``POST /predict`` until a 200; seconds since ``t0``.

    Raises:
        RuntimeError: no 200 within ``limit_s`` seconds of ``t0`` (``what`` names the server).
    """
    deadline = t0 + limit_s
    while time.perf_counter() < deadline:
        try:
            client = Client(port, timeout=5)
        except OSError:
            time.sleep(0.001)
            continue
        try:
            while time.perf_counter() < deadline:
                if client.call(data) == 200:
                    return time.perf_counter() - t0
                time.sleep(0.001)
        except OSError:
            time.sleep(0.001)
        finally:
            client.close()
    raise RuntimeError(f"{what}: no 200 within {limit_s} s")


def first_200(cmd: list[str], port: int, data: bytes, env: dict[str, str]) -> float:
    """Seconds from process start to the first 200 on /predict; the process is then killed."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return wait_first_200(port, data, t0, 60.0, " ".join(cmd))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def bare_first(model: Path) -> float:
    t0 = time.perf_counter()
    cmd = [PY, "-I", "-S", "-c", BARE.format(site=SITE, model=str(model))]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    proc.wait()
    assert line.strip() == "ok"
    return elapsed


def svai_cmd(config: Path, port: int, no_site: bool = False) -> list[str]:
    """``svai serve``'s server command for ``config`` (``no_site``: run Python with ``-S``)."""
    python, *rest = serve_command(config.parent, "127.0.0.1", port)[0]
    return [python, *(["-S"] if no_site else []), *rest]


def env_for(no_site: bool = False) -> dict[str, str]:
    path = f"{REPO}{os.pathsep}{SITE}" if no_site else str(REPO)
    return {**os.environ, "PYTHONPATH": path}


def fastapi_cmd(app: Path, model: Path, port: int) -> list[str]:
    return [PY, str(app), str(model), str(port)]


class Server:
    """A long-running server process for the warm measurements, on a free port of its own."""

    def __init__(self, cmd: Callable[[int], list[str]], env: dict[str, str], data: bytes) -> None:
        self.port = free_port()
        command = cmd(self.port)
        self.proc = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_first_200(self.port, data, time.perf_counter(), 60.0, " ".join(command))
        except BaseException:
            self.stop()
            raise

    @classmethod
    def svai(cls, config: Path, data: bytes) -> Server:
        return cls(lambda port: svai_cmd(config, port), env_for(), data)

    @classmethod
    def fastapi(cls, app: Path, model: Path, data: bytes) -> Server:
        return cls(lambda port: fastapi_cmd(app, model, port), dict(os.environ), data)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def latencies(port: int, data: bytes, n: int) -> list[float]:
    c = Client(port)
    for _ in range(50):  # warm the connection and the server's code paths
        c.call(data)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        assert c.call(data) == 200
        out.append(time.perf_counter() - t)
    c.close()
    return out


def raw_loop(model: Path, x: np.ndarray, n: int, threads: int = 1) -> list[float]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
    for _ in range(50):
        sess.run(None, {"float_input": x})
    out = []
    for _ in range(n):
        t = time.perf_counter()
        sess.run(None, {"float_input": x})
        out.append(time.perf_counter() - t)
    return out


def raw_parallel(model: Path, x: np.ndarray, threads: int, seconds: float) -> float:
    """In-process runs per second: ``threads`` threads on one single-threaded session.

    What the machine really sustains with every core busy on this model and no server at all
    (onnxruntime releases the GIL): shared caches and memory bandwidth put it below
    ``cores / single-thread time`` for a memory-bound model.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
    for _ in range(20):
        sess.run(None, {"float_input": x})
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def loop(i: int) -> None:
        while time.perf_counter() < stop:
            sess.run(None, {"float_input": x})
            counts[i] += 1

    start = time.perf_counter()
    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - start)


def throughput(port: int, data: bytes, concurrency: int, seconds: float) -> float:
    counts = [0] * concurrency
    stop = time.perf_counter() + seconds
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            c = Client(port)
            while time.perf_counter() < stop:
                assert c.call(data) == 200
                counts[i] += 1
            c.close()
        except BaseException as exc:  # report, do not hide, a failing server
            errors.append(exc)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(counts) / (time.perf_counter() - start)


def throughput_rounds(
    model: Path,
    x: np.ndarray,
    ports: dict[str, int],
    data: bytes,
    rounds: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Per round: the ceiling (cores / raw single-thread time), then each server at c=4.

    The ceiling is re-measured in every round, next to the servers, so that the ratios are
    taken under the same background load; the reported ratio is the median of per-round ratios.
    """
    cores = os.cpu_count() or 1
    runs: dict[str, list[float]] = {name: [] for name in ports}
    ratios: dict[str, list[float]] = {name: [] for name in ports}
    singles: list[float] = []
    parallel: list[float] = []
    over_parallel: dict[str, list[float]] = {name: [] for name in ports}
    for r in range(rounds):
        single = statistics.median(raw_loop(model, x, 200))
        singles.append(single * 1000)
        parallel.append(raw_parallel(model, x, cores, args.seconds))
        for name in rotated(list(ports), r):
            port = ports[name]
            rps = throughput(port, data, 4, args.seconds)
            runs[name].append(rps)
            ratios[name].append(rps / (cores / single))
            over_parallel[name].append(rps / parallel[-1])
    median = {k: statistics.median(v) for k, v in runs.items()}
    out: dict[str, Any] = {
        "runs": runs,
        "median": median,
        "single_thread_inference_ms": singles,
        "ceiling_rps_median": cores / (statistics.median(singles) / 1000),
        "over_ceiling_median": {k: statistics.median(v) for k, v in ratios.items()},
        "raw_parallel_rps": parallel,
        "raw_parallel_over_ceiling_median": median_ratio(
            parallel, [cores / (t / 1000) for t in singles]
        ),
        "over_raw_parallel_median": {k: statistics.median(v) for k, v in over_parallel.items()},
        "svai_over_fastapi_median": median_ratio(runs["svai"], runs["fastapi"]),
        "targets": {"svai_over_ceiling": 0.9, "svai_over_fastapi": 1.2},
    }
    return out


def rotated(names: list[str], r: int) -> list[str]:
    """The arm order of round ``r``: rotated so that no arm always runs first."""
    k = r % len(names)
    return names[k:] + names[:k]


def versions() -> dict[str, str]:
    """Versions of the packages the arms run on (svai's own commit comes with the results)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in (
        "onnxruntime",
        "numpy",
        "fastapi",
        "pydantic",
        "uvicorn",
        "uvloop",
        "httptools",
    ):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def median_ratio(a: list[float], b: list[float]) -> float:
    """Median of the per-round ratios ``a / b``."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=1000, help="requests per warm round")
    ap.add_argument("--seconds", type=float, default=3.0, help="length of a throughput round")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "server.json"))
    args = ap.parse_args()
    rounds = max(5, args.rounds)
    tmp = Path(tempfile.mkdtemp(prefix="svai-bench-"))
    model, x = build_model(tmp)
    plain_cfg = write_config(tmp, model, "plain", batching=False)
    batch_cfg = write_config(tmp, model, "batched", batching=True)
    app_py = tmp / "fastapi_app.py"
    app_py.write_text(FASTAPI_APP)
    data = request_bytes(x)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "model": "RandomForestClassifier(n_estimators=100) on sklearn digits, ONNX, 1-row requests",
        "rounds": rounds,
        "versions": versions(),
        "request_validation": "every arm validates {inputs: [[number]]} before inference",
        "arm_order": "rotated every round",
    }

    # 1. cold start ---------------------------------------------------------------------------
    cold: dict[str, list[float]] = {"bare": [], "svai": [], "svai_no_site": [], "fastapi": []}

    def cold_start(name: str) -> float:
        if name == "bare":
            return bare_first(model)
        p = free_port()
        if name == "fastapi":
            return first_200(fastapi_cmd(app_py, model, p), p, data, dict(os.environ))
        no_site = name == "svai_no_site"
        return first_200(svai_cmd(plain_cfg, p, no_site), p, data, env_for(no_site))

    for r in range(rounds):
        for name in rotated(list(cold), r):
            cold[name].append(cold_start(name))
    med = {k: statistics.median(v) for k, v in cold.items()}
    results["cold_start_s"] = {
        "runs": cold,
        "median": med,
        "svai_over_bare": med["svai"] / med["bare"],
        "svai_over_fastapi": med["svai"] / med["fastapi"],
        "svai_no_site_over_bare": med["svai_no_site"] / med["bare"],
        "svai_no_site_over_fastapi": med["svai_no_site"] / med["fastapi"],
        "per_round_ratio_median": {
            f"{a}_over_{b}": median_ratio(cold[a], cold[b])
            for a in ("svai", "svai_no_site")
            for b in ("bare", "fastapi")
        },
        "targets": {"svai_over_fastapi": 0.5, "svai_over_bare": 1.3},
    }
    print(json.dumps(results["cold_start_s"]["median"]), flush=True)

    # 2-4. warm measurements on long-running servers -------------------------------------------
    servers = {
        "svai": Server.svai(plain_cfg, data),
        "svai_batched": Server.svai(batch_cfg, data),
        "fastapi": Server.fastapi(app_py, model, data),
    }
    ports = {name: server.port for name, server in servers.items()}
    try:
        warm: dict[str, dict[str, list[float]]] = {
            k: {"p50": [], "p99": []}
            for k in ("raw", "raw_default_threads", "svai", "svai_batched", "fastapi")
        }
        for r in range(rounds):
            for name in rotated(list(warm), r):
                if name == "raw":
                    lat = raw_loop(model, x, args.requests)
                elif name == "raw_default_threads":
                    lat = raw_loop(model, x, args.requests, threads=0)
                else:
                    lat = latencies(ports[name], data, args.requests)
                warm[name]["p50"].append(pct(lat, 50) * 1000)
                warm[name]["p99"].append(pct(lat, 99) * 1000)
        wmed = {k: {q: statistics.median(v[q]) for q in v} for k, v in warm.items()}
        results["warm_c1_ms"] = {
            "runs": warm,
            "median": wmed,
            "svai_added_p50": wmed["svai"]["p50"] - wmed["raw"]["p50"],
            "svai_added_p99": wmed["svai"]["p99"] - wmed["raw"]["p99"],
            "fastapi_added_p50": wmed["fastapi"]["p50"] - wmed["raw"]["p50"],
            "batcher_added_p50": wmed["svai_batched"]["p50"] - wmed["svai"]["p50"],
            "batcher_added_p99": wmed["svai_batched"]["p99"] - wmed["svai"]["p99"],
            "targets": {"added_p50": 0.5, "added_p99": 1.5, "batcher_added_p50": 0.3},
        }
        print(json.dumps(results["warm_c1_ms"]["median"]), flush=True)

        results["throughput_c4_rps"] = throughput_rounds(model, x, ports, data, rounds, args)
        results["throughput_c4_rps"]["note"] = "the load generator runs on the same 2 cores"
        print(json.dumps(results["throughput_c4_rps"]["median"]), flush=True)
    finally:
        for s in servers.values():
            s.stop()

    # 3b. throughput when inference dominates (compute-bound MLP, 16 rows per request) ----------
    heavy = build_heavy_model(tmp)
    heavy_cfg = write_config(tmp, heavy, "heavy", batching=False)
    hx = np.random.default_rng(1).standard_normal((16, 64)).astype(np.float32)
    hdata = request_bytes(hx)
    hservers = {
        "svai": Server.svai(heavy_cfg, hdata),
        "fastapi": Server.fastapi(app_py, heavy, hdata),
    }
    hports = {name: server.port for name, server in hservers.items()}
    try:
        results["throughput_c4_heavy_rps"] = throughput_rounds(
            heavy, hx, hports, hdata, rounds, args
        )
        results["throughput_c4_heavy_rps"]["model"] = (
            "MLP 64-2048-2048-10 (seeded random weights), 16-row requests"
        )
        print(json.dumps(results["throughput_c4_heavy_rps"]["median"]), flush=True)
    finally:
        for s in hservers.values():
            s.stop()

    out = Path(args.out)
    append_result(out, results)
    print(f"appended to {out}")


if __name__ == "__main__":
    main()
