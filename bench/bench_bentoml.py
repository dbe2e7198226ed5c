"""Benchmark svai's HTTP server side by side with BentoML 1.4 and FastAPI+uvicorn (same ONNX model).

Model: the one ``bench_server.py`` builds (a 100-tree random forest on sklearn's digits, ONNX via
skl2onnx, zipmap off), 1-row requests ``{"inputs": [[...64 floats...]]}``. Arms:

* svai: ``python -m svai.runtime.server`` on a plain ``svai_runtime.json`` (no batching), which
  validates the body against ``bench_server.INPUT_SCHEMA`` as the other arms do;
* bentoml: ``bentoml serve service:Svc`` (1 worker), a ``@bentoml.service`` class written by this
  script that loads the model with onnxruntime once at start and answers ``POST /predict``;
* fastapi: ``bench_server.py``'s FastAPI+uvicorn app (sync handler, pydantic-validated body,
  onnxruntime), on uvloop and httptools.

BentoML pins and upgrades many packages, so it never enters svai's venv: it lives in its own venv
(``$SVAI_BENTOML_VENV``, default ``~/.cache/svai-bench/bentoml-venv``), created and filled with
``pip install "bentoml==1.4.*" onnxruntime numpy`` on first use. If that install fails the script
says so and exits 2 without measuring anything.

Measured, interleaved (the arm order rotates every round), median of ``--rounds`` (>= 5):

1. cold start: process start -> first HTTP 200 on 127.0.0.1 (the whole process group is killed
   after each start, as ``bentoml serve`` runs its worker in a child process);
2. warm load at concurrency 4 on long-running servers: ``--requests`` requests per round over
   keep-alive connections, each round also bounded by ``--limit-s`` seconds; req/s, p50, p99.

Targets (QUALITY.md, stricter than issue 6): svai's first prediction >= 5x faster than BentoML's;
svai's throughput >= 3x BentoML's and >= 1.2x FastAPI's. The load generator shares the machine's
cores with the servers; the load average is recorded at the start and before every round.

Usage: ``.venv/bin/python bench/bench_bentoml.py [--rounds 5] [--requests 2000]
[--out bench/results/bentoml.json]``. Needs fastapi and uvicorn in svai's venv (benchmark only).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_server as bs  # a sibling script, importable through the line above
from results_log import append_result

DEFAULT_VENV = Path.home() / ".cache" / "svai-bench" / "bentoml-venv"
BENTOML_REQUIREMENTS = ["bentoml==1.4.*", "onnxruntime", "numpy"]
ARMS = ("svai", "bentoml", "fastapi")

# The BentoML service mirrors the FastAPI app: one onnxruntime session with one intra-op thread,
# loaded and warmed once when the worker starts; access logging is off, as in the other arms.
BENTOML_SERVICE = """
import bentoml
import numpy as np
import onnxruntime as ort

MODEL_PATH = {model!r}


@bentoml.service(workers=1, logging={{"access": {{"enabled": False}}}})
class Svc:
    def __init__(self) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(
            MODEL_PATH, sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.sess.run(None, {{"float_input": np.zeros((1, 64), np.float32)}})
        self.names = [o.name for o in self.sess.get_outputs()]

    @bentoml.api(route="/predict")
    def predict(self, inputs: list[list[float]]) -> dict:
        x = np.asarray(inputs, dtype=np.float32)
        outs = self.sess.run(None, {{"float_input": x}})
        return {{"outputs": {{n: o.tolist() for n, o in zip(self.names, outs)}}}}
"""


class BentoMLUnavailableError(RuntimeError):
    """BentoML could not be installed into its own venv, so nothing can be measured."""


def venv_python(venv: Path) -> Path:
    """The interpreter of ``venv``."""
    return venv / "bin" / "python"


def ensure_bentoml(venv: Path) -> str:
    """Create and fill BentoML's own venv when it lacks BentoML; return BentoML's version.

    Raises:
        BentoMLUnavailableError: the venv could not be created or ``pip install`` failed.
    """
    probe = [
        str(venv_python(venv)),
        "-c",
        "import bentoml, onnxruntime; print(bentoml.__version__)",
    ]
    if venv_python(venv).exists():
        done = subprocess.run(probe, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return done.stdout.strip()
    print(f"installing {' '.join(BENTOML_REQUIREMENTS)} into {venv} (once)", flush=True)
    if venv.exists() and any(venv.iterdir()) and not (venv / "pyvenv.cfg").exists():
        # ``venv --clear`` would empty a folder that is not a venv: refuse instead.
        raise BentoMLUnavailableError(f"{venv} exists and is not a venv; not touching it")
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(venv_python(venv)), "-m", "pip", "install", "-q", *BENTOML_REQUIREMENTS],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
            raise BentoMLUnavailableError(
                f"`{' '.join(step)}` exited {done.returncode}:\n" + "\n".join(tail)
            )
    done = subprocess.run(probe, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BentoMLUnavailableError(f"bentoml still not importable: {done.stderr.strip()}")
    return done.stdout.strip()


def package_version(python: Path | str, package: str) -> str:
    """``package.__version__`` as seen by ``python``."""
    code = f"import {package}; print({package}.__version__)"
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


class Arm:
    """How to start one server on a given port."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd

    def command(self, port: int) -> list[str]:
        """The command line for a server on ``port`` (``{port}`` in the argv is replaced)."""
        return [a.replace("{port}", str(port)) for a in self.argv]

    def spawn(self, port: int) -> subprocess.Popen[bytes]:
        """Start the server in its own process group, so that its children die with it."""
        return subprocess.Popen(
            self.command(port),
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )


def proc_stat(pid: int) -> tuple[int, int] | None:
    """``(parent pid, start time)`` of a live process, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[19])


def descendants(pid: int) -> list[tuple[int, int]]:
    """``(pid, start time)`` of every live descendant of ``pid``, read from /proc."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        stat = proc_stat(int(entry.name)) if entry.name.isdigit() else None
        if stat is not None:
            children.setdefault(stat[0], []).append((int(entry.name), stat[1]))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def signal_same(family: list[tuple[int, int]], sig: int) -> None:
    """Signal each process of ``family`` that is still the same process (start time unchanged)."""
    for pid, started in family:
        stat = proc_stat(pid)
        if stat is not None and stat[1] == started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Signal ``proc``, its process group and every descendant; reap the leader.

    BentoML's process manager starts its workers in sessions of their own, so killing the group
    alone would leave them running; they are listed before the leader dies and re-parents them.
    """
    family = descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    signal_same(family, sig)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(0.2)  # let a gracefully stopping worker finish before it is forced
    signal_same(family, signal.SIGKILL)


def cold_start(arm: Arm, data: bytes) -> float:
    """Seconds from spawning ``arm``'s server to its first 200; the server is then killed."""
    port = bs.free_port()
    t0 = time.perf_counter()
    proc = arm.spawn(port)
    try:
        return bs.wait_first_200(port, data, t0, 120.0, arm.name)
    finally:
        kill_group(proc)


def load(port: int, data: bytes, concurrency: int, requests: int, limit_s: float) -> dict[str, Any]:
    """Send ``requests`` requests from ``concurrency`` keep-alive clients, stopping at ``limit_s``."""
    tickets = itertools.count()
    lat: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[BaseException] = []
    start = time.perf_counter()
    stop = start + limit_s

    def worker(i: int) -> None:
        try:
            client = bs.Client(port)
            while next(tickets) < requests and time.perf_counter() < stop:
                t = time.perf_counter()
                status = client.call(data)
                if status != 200:
                    raise RuntimeError(f"HTTP {status}")
                lat[i].append(time.perf_counter() - t)
            client.close()
        except BaseException as exc:  # report, do not hide, a failing server
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    flat = [x for w in lat for x in w]
    return {
        "completed": len(flat),
        "elapsed_s": elapsed,
        "rps": len(flat) / elapsed,
        "p50_ms": bs.pct(flat, 50) * 1000,
        "p99_ms": bs.pct(flat, 99) * 1000,
        "hit_time_limit": len(flat) < requests,
    }


def probabilities(port: int, row: np.ndarray) -> np.ndarray:
    """The probabilities one server answers for ``row`` (checks the arms serve the same model)."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/predict",
        data=json.dumps({"inputs": row.tolist()}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = json.loads(resp.read())
    return np.asarray(body["outputs"]["probabilities"], dtype=np.float32)


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(v, 2) for v in os.getloadavg()]


def make_arms(tmp: Path, model: Path, venv: Path) -> dict[str, Arm]:
    """Write the svai config, the FastAPI app and the BentoML service; describe the three arms."""
    cfg = bs.write_config(tmp, model, "plain", batching=False)
    app_py = tmp / "fastapi_app.py"
    app_py.write_text(bs.FASTAPI_APP)
    bento_dir = tmp / "bento"
    bento_dir.mkdir()
    (bento_dir / "service.py").write_text(BENTOML_SERVICE.format(model=str(model)))
    bento_env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    bento_env.update(
        {
            "BENTOML_HOME": str(tmp / "bentoml-home"),
            "BENTOML_DO_NOT_TRACK": "True",
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    bentoml_argv = [str(venv / "bin" / "bentoml"), "serve", "service:Svc"]
    bentoml_argv += ["--host", "127.0.0.1", "--port", "{port}"]
    return {
        "svai": Arm("svai", [*bs.svai_cmd(cfg, 0)[:-1], "{port}"], bs.env_for(), bs.REPO),
        "bentoml": Arm("bentoml", bentoml_argv, bento_env, bento_dir),
        "fastapi": Arm(
            "fastapi", [bs.PY, str(app_py), str(model), "{port}"], dict(os.environ), tmp
        ),
    }


def rotated(r: int) -> list[str]:
    """The arm order of round ``r``: rotated so that no arm always runs first."""
    k = r % len(ARMS)
    return list(ARMS[k:] + ARMS[:k])


def measure(args: argparse.Namespace, venv: Path, bentoml_version: str) -> dict[str, Any]:
    """Run the cold-start and warm-load rounds; return every raw figure, medians and ratios."""
    rounds = max(5, args.rounds)
    tmp = Path(tempfile.mkdtemp(prefix="svai-bench-bentoml-"))
    model, x = bs.build_model(tmp)
    data = bs.request_bytes(x)
    arms = make_arms(tmp, model, venv)
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": load_average(),
        },
        "versions": {
            "bentoml": bentoml_version,
            "onnxruntime_bentoml_venv": package_version(venv_python(venv), "onnxruntime"),
            "onnxruntime_svai_venv": package_version(bs.PY, "onnxruntime"),
            "svai_venv": bs.versions(),
        },
        "request_validation": "every arm validates {inputs: [[number]]} before inference",
        "model": "RandomForestClassifier(n_estimators=100) on sklearn digits, ONNX, 1-row requests",
        "commands": {name: arm.argv for name, arm in arms.items()},
        "rounds": rounds,
    }

    # 1. cold start ---------------------------------------------------------------------------
    cold: dict[str, list[float]] = {name: [] for name in ARMS}
    cold_load: list[list[float]] = []
    for r in range(rounds):
        cold_load.append(load_average())
        for name in rotated(r):
            cold[name].append(cold_start(arms[name], data))
        print(f"cold round {r}: " + json.dumps({k: round(v[-1], 3) for k, v in cold.items()}))
    med = {k: statistics.median(v) for k, v in cold.items()}
    results["cold_start_s"] = {
        "runs": cold,
        "median": med,
        "load_average_before_round": cold_load,
        "bentoml_over_svai": med["bentoml"] / med["svai"],
        "fastapi_over_svai": med["fastapi"] / med["svai"],
        "per_round_ratio_median": {
            "bentoml_over_svai": bs.median_ratio(cold["bentoml"], cold["svai"]),
            "fastapi_over_svai": bs.median_ratio(cold["fastapi"], cold["svai"]),
        },
        "targets": {"bentoml_over_svai": 5.0},
    }
    print(json.dumps(results["cold_start_s"]["median"]), flush=True)

    # 2. warm load at concurrency 4 on long-running servers -----------------------------------
    ports = {name: bs.free_port() for name in ARMS}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in ARMS:
            procs[name] = arms[name].spawn(ports[name])
            bs.wait_first_200(ports[name], data, time.perf_counter(), 120.0, name)
        expected = np.asarray(
            __import__("onnxruntime")
            .InferenceSession(str(model), providers=["CPUExecutionProvider"])
            .run(None, {"float_input": x})[1]
        )
        results["same_answers_max_abs_diff"] = {
            name: float(np.max(np.abs(probabilities(ports[name], x) - expected))) for name in ARMS
        }
        for name in ARMS:  # warm each server's code paths and connections before timing
            load(ports[name], data, 4, 400, args.limit_s)
        warm: dict[str, list[dict[str, Any]]] = {name: [] for name in ARMS}
        warm_load: list[list[float]] = []
        for r in range(rounds):
            warm_load.append(load_average())
            for name in rotated(r):
                warm[name].append(load(ports[name], data, 4, args.requests, args.limit_s))
            print(
                f"warm round {r}: " + json.dumps({k: round(v[-1]["rps"]) for k, v in warm.items()})
            )
    finally:
        for proc in procs.values():
            kill_group(proc, signal.SIGTERM)
    rps = {k: [w["rps"] for w in v] for k, v in warm.items()}
    wmed = {
        k: {q: statistics.median(w[q] for w in v) for q in ("rps", "p50_ms", "p99_ms")}
        for k, v in warm.items()
    }
    results["warm_c4"] = {
        "requests_per_round": args.requests,
        "limit_s_per_round": args.limit_s,
        "runs": warm,
        "median": wmed,
        "load_average_before_round": warm_load,
        "svai_over_bentoml_rps": wmed["svai"]["rps"] / wmed["bentoml"]["rps"],
        "svai_over_fastapi_rps": wmed["svai"]["rps"] / wmed["fastapi"]["rps"],
        "per_round_ratio_median": {
            "svai_over_bentoml_rps": bs.median_ratio(rps["svai"], rps["bentoml"]),
            "svai_over_fastapi_rps": bs.median_ratio(rps["svai"], rps["fastapi"]),
        },
        "targets": {"svai_over_bentoml_rps": 3.0, "svai_over_fastapi_rps": 1.2},
        "note": "the load generator runs on the same cores as the servers",
    }
    print(json.dumps(wmed), flush=True)
    results["machine"]["load_average_at_end"] = load_average()
    results["targets_met"] = {
        "cold_start_bentoml_over_svai_ge_5": results["cold_start_s"]["bentoml_over_svai"] >= 5.0,
        "rps_svai_over_bentoml_ge_3": results["warm_c4"]["svai_over_bentoml_rps"] >= 3.0,
        "rps_svai_over_fastapi_ge_1.2": results["warm_c4"]["svai_over_fastapi_rps"] >= 1.2,
    }
    return results


def main() -> int:
    """Parse the arguments, make sure BentoML is installed, measure, write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=2000, help="requests per warm round")
    ap.add_argument("--limit-s", type=float, default=30.0, help="time bound of a warm round")
    ap.add_argument("--out", default=str(bs.REPO / "bench" / "results" / "bentoml.json"))
    args = ap.parse_args()
    venv = Path(os.environ.get("SVAI_BENTOML_VENV", str(DEFAULT_VENV))).expanduser()
    try:
        version = ensure_bentoml(venv)
    except BentoMLUnavailableError as exc:
        print(f"BentoML could not be installed into {venv}; nothing was measured.\n{exc}")
        return 2
    results = measure(args, venv, version)
    out = Path(args.out)
    append_result(out, results)
    print(json.dumps(results["targets_met"]))
    print(f"appended to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
