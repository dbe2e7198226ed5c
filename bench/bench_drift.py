"""Benchmark the runtime's drift summaries: their cost per request at the bench's concurrency.

Model and client as ``bench_server.py`` (100-tree forest on sklearn's digits, ONNX; keep-alive
raw-socket clients, concurrency 4). Three servers run side by side: drift off, drift on at the
spec's default ``sample_rate: 0.01``, and drift on at ``sample_rate: 1.0`` (every request
summarised: the worst case), each with 8 pixel features and the predicted label binned from a
baseline of 500 rows as ``svai build`` bins them. Rounds are interleaved with the arm order
rotated; per round each server gets the same load for ``--seconds``, and we record its
throughput and its process CPU time per request (what a load generator sharing the cores cannot
blur). Reported: medians over rounds and the ratios drift-on / drift-off (target: ≤ 1.02, the
issue's 2% of request time).

Usage: ``.venv/bin/python bench/bench_drift.py [--rounds 5] [--seconds 3]
[--out bench/results/drift.json]``. Results are appended (``results_log.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from bench_server import INPUT_SCHEMA, Server, build_model, request_bytes, rotated, throughput
from results_log import append_result

from svai.compiler.drift import bins_of, counts
from svai.runtime.core.drift import Bins

FEATURES = [f"inputs.*.{column}" for column in (10, 20, 21, 28, 36, 42, 43, 52)]


def drift_section(x: np.ndarray, rate: float) -> dict[str, Any]:
    """Bins of 8 pixel columns and of the label, from 500 baseline rows."""
    features = {}
    for path in FEATURES:
        values = [float(v) for v in x[:500, int(path.rsplit(".", 1)[1])]]
        spec = bins_of(values)
        assert spec is not None
        features[path] = {**spec, "baseline": counts(Bins(path, spec), values)}
    labels = list(range(10)) * 50
    spec = bins_of(labels)
    assert spec is not None
    prediction = {"name": "label.*", **spec, "baseline": counts(Bins("label.*", spec), labels)}
    return {
        "enabled": True,
        "sample_rate": rate,
        "interval_s": 1.0,
        "min_samples": 100,
        "features": features,
        "prediction": prediction,
    }


def write_config(root: Path, model: Path, name: str, drift: dict[str, Any] | None) -> Path:
    d = root / name
    d.mkdir()
    cfg: dict[str, Any] = {
        "model": {"path": str(model), "version": "bench-v1"},
        "idempotency": {"enabled": False},
        "observability": {"log_requests": False},
        "api": {"input_schema": INPUT_SCHEMA},
    }
    if drift is not None:
        cfg["drift"] = drift
    (d / "svai_runtime.json").write_text(json.dumps(cfg))
    return d / "svai_runtime.json"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/drift.json"))
    args = parser.parse_args()
    from sklearn.datasets import load_digits

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, row = build_model(root)
        x = load_digits().data.astype(np.float32)
        data = request_bytes(row)
        arms = {
            "off": write_config(root, model, "off", None),
            "rate_0.01": write_config(root, model, "low", drift_section(x, 0.01)),
            "rate_1.0": write_config(root, model, "all", drift_section(x, 1.0)),
        }
        servers = {name: Server.svai(config, data) for name, config in arms.items()}
        rps: dict[str, list[float]] = {name: [] for name in arms}
        cpu_ms: dict[str, list[float]] = {name: [] for name in arms}
        try:
            throughput(servers["off"].port, data, 4, 1.0)  # warm every path once
            for r in range(args.rounds):
                for name in rotated(list(arms), r):
                    server = servers[name]
                    before = cpu_seconds(server.proc.pid)
                    rate = throughput(server.port, data, 4, args.seconds)
                    used = cpu_seconds(server.proc.pid) - before
                    rps[name].append(round(rate, 1))
                    cpu_ms[name].append(round(used * 1000 / (rate * args.seconds), 4))
        finally:
            for server in servers.values():
                server.stop()
    median_rps = {k: statistics.median(v) for k, v in rps.items()}
    median_cpu = {k: statistics.median(v) for k, v in cpu_ms.items()}
    record = {
        "benchmark": "drift summaries: cost per request at concurrency 4",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "rounds": args.rounds,
        "seconds_per_run": args.seconds,
        "features": len(FEATURES) + 1,
        "throughput_rps": rps,
        "cpu_ms_per_request": cpu_ms,
        "median_throughput_rps": median_rps,
        "median_cpu_ms_per_request": median_cpu,
        "cpu_per_request_over_off": {
            k: round(median_cpu[k] / median_cpu["off"], 4) for k in arms if k != "off"
        },
        "request_time_over_off": {
            k: round(median_rps["off"] / median_rps[k], 4) for k in arms if k != "off"
        },
        "target": {"over_off": 1.02},
    }
    append_result(args.out, record)
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
