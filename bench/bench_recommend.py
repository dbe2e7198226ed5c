"""Milliseconds the recommender takes per scenario (one spec x one target x every offering).

For each bundled example, in one process: load the spec once, then time
``svai.compiler.recommend.recommend`` on it (every target, every offering of each target's cloud,
both API modes where the first misses; the whole-deployment bill of every option included) in
rounds interleaved across the examples (A B C D A B C D ...), and report the median per target
against QUALITY.md's 50 ms. Writes ``bench/results/recommend.json``.

Usage: ``.venv/bin/python bench/bench_recommend.py [--rounds 9] [--out FILE]``
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from svai import api
from svai.backends import registry
from svai.compiler.recommend import recommend

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 50.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "recommend.json")
    options = parser.parse_args()
    # What svai's own `recommend` passes: the offerings (and async workers) its backends build.
    kwargs: dict[str, Any] = {"buildable": registry.OFFERINGS}
    if "async_workers" in inspect.signature(recommend).parameters:
        kwargs["async_workers"] = getattr(registry, "ASYNC_WORKERS", None)
    cases = []
    for path in sorted(ROOT.glob("examples/*/svai.yaml")):
        loaded = api.validate(path)
        cases.append((path.parent.name, loaded.resolved, api.measurements(loaded)))
    samples: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for _name, spec, measured in cases:
        recommend(spec, measured, **kwargs)  # warm-up: the catalog is parsed once per process
    for _ in range(options.rounds):
        for name, spec, measured in cases:
            start = time.perf_counter()
            recommend(spec, measured, **kwargs)
            samples[name].append((time.perf_counter() - start) * 1000 / len(spec.targets))
    medians = {name: round(statistics.median(values), 2) for name, values in samples.items()}
    result = {
        "rounds": options.rounds,
        "ms_per_scenario_median": medians,
        "worst_ms_per_scenario": max(medians.values()),
        "target_ms_per_scenario": TARGET_MS,
        "samples_ms": {k: [round(v, 3) for v in vals] for k, vals in samples.items()},
        "python": sys.version.split()[0],
    }
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples_ms"}, indent=2))


if __name__ == "__main__":
    main()
