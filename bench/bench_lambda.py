"""Lambda cold start: fresh process -> first prediction, svai's handler vs the bare model.

Arms, interleaved (bare, handler, bare, handler, ...), median of --runs fresh processes each:

* bare: ``python -I -S``, add site-packages by hand, import onnxruntime, load the same ONNX
  model, run it once;
* handler: a fresh ``python -I -S`` with the same site-packages path plus the repository (as a
  Lambda zip puts its code straight on ``sys.path``, no ``.pth`` processing), importing
  ``svai.runtime.entry.aws_lambda`` (Lambda's init phase: config, Powertools, model load and
  warm-up) and answering one API Gateway v2 event through it.

Each child prints a RESULT line the moment its first prediction is done; the time is from spawning the
process to reading that line (interpreter teardown is not counted for either arm). The model is
a 100-tree random forest on sklearn's digits, converted by svai. Target (QUALITY.md): handler
<= 1.25x bare. Also reports the import cost of the Powertools pieces the handler uses.

Usage: .venv/bin/python bench/bench_lambda.py [--runs 7] [--out bench/results/lambda.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from results_log import append_result

ROOT = Path(__file__).resolve().parents[1]

BARE = """
import sys
sys.path.append({site!r})
import numpy as np, onnxruntime as ort
s = ort.InferenceSession({model!r}, providers=["CPUExecutionProvider"])
out = s.run(None, {{"input": np.asarray([{row!r}], dtype=np.float32)}})
print("RESULT", int(out[0][0]), flush=True)
"""

HANDLER = """
import sys
sys.path.insert(0, {root!r})
sys.path.append({site!r})
import json, os
os.environ["SVAI_CONFIG"] = {artifact!r}
from svai.runtime.entry.aws_lambda import handler
from svai.runtime.entry.emulator import LocalContext
event = {{"version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
          "headers": {{"content-type": "application/json"}},
          "requestContext": {{"http": {{"method": "POST", "path": "/"}}, "requestId": "bench"}},
          "body": json.dumps({{"inputs": [{row!r}]}}), "isBase64Encoded": False}}
r = handler(event, LocalContext())
sys.stdout.write("RESULT " + str(json.loads(r["body"])["outputs"]["label"][0]) + "\\n"); sys.stdout.flush()
"""

IMPORTS = """
import time; t = time.perf_counter()
import onnxruntime, numpy
t0 = time.perf_counter()
from aws_lambda_powertools.logging.logger import Logger
from aws_lambda_powertools.metrics import Metrics
t1 = time.perf_counter()
from aws_lambda_powertools.utilities.batch import BatchProcessor
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def first_line_time(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    child = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True
    )
    assert child.stdout is not None
    line = ""
    while not line.startswith("RESULT"):  # the handler logs "model loaded" lines first
        line = child.stdout.readline()
        if not line:
            break
    line = line.strip()
    elapsed = time.perf_counter() - started
    child.wait()
    if child.returncode != 0:
        raise RuntimeError(f"child failed ({child.returncode}): {argv[:3]}")
    return elapsed, line


def build_artifact(folder: Path) -> tuple[Path, list[float]]:
    sys.path.insert(0, str(ROOT))
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier

    from svai.build.optimize import convert_tabular

    x, y = load_digits(return_X_y=True)
    model = RandomForestClassifier(n_estimators=100, random_state=0).fit(x, y)
    convert_tabular(model, x[:200], folder / "model.onnx")
    config = {
        "model": {"path": "model.onnx", "version": "digits-rf100"},
        "observability": {"log_requests": False},
    }
    (folder / "svai_runtime.json").write_text(json.dumps(config))
    return folder / "model.onnx", [float(v) for v in x[0]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", default="bench/results/lambda.json")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SVAI_")}
    with tempfile.TemporaryDirectory() as scratch:
        model, row = build_artifact(Path(scratch))
        site = sysconfig.get_paths()["purelib"]
        bare = [sys.executable, "-I", "-S", "-c", BARE.format(site=site, model=str(model), row=row)]
        code = HANDLER.format(root=str(ROOT), site=site, artifact=scratch, row=row)
        handler = [sys.executable, "-I", "-S", "-c", code]
        first_line_time(bare, env)  # warm the page cache for both arms
        first_line_time(handler, env)
        times: dict[str, list[float]] = {"bare": [], "handler": []}
        answers = set()
        for _ in range(args.runs):
            for name, argv in (("bare", bare), ("handler", handler)):
                elapsed, line = first_line_time(argv, env)
                times[name].append(elapsed)
                answers.add(line)
        imports = [
            subprocess.run(
                [sys.executable, "-c", IMPORTS], capture_output=True, text=True, check=True
            ).stdout.split()
            for _ in range(5)
        ]
    if len(answers) != 1:
        raise RuntimeError(f"the arms disagree on the prediction: {answers}")
    bare_s = statistics.median(times["bare"])
    handler_s = statistics.median(times["handler"])
    report = {
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "bare_first_prediction_s": round(bare_s, 4),
        "handler_first_prediction_s": round(handler_s, 4),
        "ratio_handler_over_bare": round(handler_s / bare_s, 3),
        "target_ratio": 1.25,
        "samples_s": {k: [round(v, 4) for v in vs] for k, vs in times.items()},
        "powertools_import_after_onnxruntime_s": {
            "logger_and_metrics": round(statistics.median(float(i[0]) for i in imports), 4),
            "batch_processor": round(statistics.median(float(i[1]) for i in imports), 4),
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    append_result(Path(args.out), report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
