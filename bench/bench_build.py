"""What ``svai build`` buys at cold start: the built artifact vs serving the pickle as trained.

Arms, interleaved (pickle, artifact, pickle, artifact, ...), median of --runs fresh processes each:

* pickle: a fresh ``python`` that imports scikit-learn, unpickles the trained model and predicts
  one row (how a model is served without svai's conversion);
* artifact: a fresh ``python`` with ``PYTHONPATH=<build dir>`` that builds the copied runtime
  core's ``Service`` from ``svai_runtime.json`` (hooks, ONNX model, warm-up) and answers one
  request through the whole pipeline.

Each child prints a RESULT line the moment its first prediction is done; the time is from spawning
the process to reading that line. The model is a 100-tree random forest on sklearn's digits,
pickled and trusted by sha256 in a spec; ``svai build`` converts it to ONNX. Also reports the build
time (one ``svai build`` process) and the artifact sizes.

Usage: .venv/bin/python bench/bench_build.py [--runs 7] [--out bench/results/build.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_log import append_result

ROOT = Path(__file__).resolve().parents[1]

PICKLE = """
import pickle
import numpy as np
with open({path!r}, "rb") as f:
    model = pickle.load(f)
print("RESULT", int(model.predict(np.asarray([{row!r}]))[0]), flush=True)
"""

ARTIFACT = """
import json
from svai.runtime.core import Request, Service, load_config
service = Service.from_config(load_config("svai_runtime.json"))
service.load()
r = service.handle(Request(json.dumps({{"inputs": [{row!r}]}}).encode()))
print("RESULT", json.loads(r.body)["outputs"]["label"][0], flush=True)
"""

SPEC = """\
version: 1
name: digits
model:
  artifact: model/forest.pkl
  framework: sklearn
  task: classification
  trust: {{pickle: true, sha256: {sha256}}}
latency: {{p95: 200ms}}
traffic: {{pattern: steady, baseline_rps: 2}}
targets:
  - {{cloud: gcp, region: europe-west1, runtime: container}}
"""


def _time_child(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith("RESULT"):
            elapsed = time.perf_counter() - started
            child.stdout.read()
            child.wait()
            return elapsed, line.split()[1]
    child.wait()
    raise RuntimeError(f"{command[:3]} exited {child.returncode} without a result")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "bench/results/build.json"))
    args = parser.parse_args()

    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier

    x, y = load_digits(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(x, y)
    row = x[0].tolist()
    with tempfile.TemporaryDirectory(prefix="svai-bench-build-") as scratch:
        project = Path(scratch)
        (project / "model").mkdir()
        blob = pickle.dumps(forest, protocol=5)
        (project / "model/forest.pkl").write_bytes(blob)
        (project / "svai.yaml").write_text(SPEC.format(sha256=hashlib.sha256(blob).hexdigest()))
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "from svai.cli.main import main; main()", "build", str(project / "svai.yaml"),
             "--format", "json"],
            check=True, capture_output=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        build_s = time.perf_counter() - began
        (built,) = [p.parent for p in (project / ".svai/build").rglob("svai_runtime.json")]
        pickle_env = dict(os.environ)
        artifact_env = {**os.environ, "PYTHONPATH": str(built)}
        pickle_cmd = [sys.executable, "-c", PICKLE.format(path=str(project / "model/forest.pkl"),
                                                          row=row)]  # fmt: skip
        artifact_cmd = [sys.executable, "-c", ARTIFACT.format(row=row)]
        times: dict[str, list[float]] = {"pickle": [], "artifact": []}
        for _ in range(args.runs):
            t, a = _time_child(pickle_cmd, pickle_env, project)
            times["pickle"].append(t)
            t, b = _time_child(artifact_cmd, artifact_env, built)
            times["artifact"].append(t)
            assert a == b == str(int(forest.predict([row])[0])), (a, b)
        medians = {k: statistics.median(v) for k, v in times.items()}
        result = {
            "what": "fresh process -> first prediction: pickle+sklearn vs svai build artifact",
            "runs": args.runs,
            "median_s": medians,
            "samples_s": times,
            "pickle_over_artifact": medians["pickle"] / medians["artifact"],
            "build_s": build_s,
            "pickle_bytes": len(blob),
            "onnx_bytes": (built / "model.onnx").stat().st_size,
            "cpu_count": os.cpu_count(),
        }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    append_result(Path(args.out), result)
    print(json.dumps({k: result[k] for k in ("median_s", "pickle_over_artifact", "build_s")}))


if __name__ == "__main__":
    main()
