"""Whole-process wall time of recording one AWS plan offline, against ``import pulumi``.

Runs, interleaved (A B A B ...), fresh interpreters that
  A: ``import pulumi`` (the floor any Pulumi-based plan pays), and
  B: import the AWS backend, record a sync and an async plan under mocks, run the rules;
then, in one process, records 50 plans back to back. Writes medians and ratios to
``bench/results/plan.json``.

Usage: ``.venv/bin/python bench/bench_plan.py [--runs 5]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BASELINE = "import pulumi"
PLAN_ONE = """
from svai.backends.preview import record
from svai.backends.registry import get_backend
from svai.backends.rules import evaluate
from tests.backends.plans import sync_plan
backend = get_backend("aws")
plan = sync_plan("aws")
resources = record(lambda: backend.program(plan))
assert len(resources) > 30 and not evaluate(backend.rules(), resources, plan)
"""
PLAN_MANY = """
import json, time
t0 = time.perf_counter()
from svai.backends.preview import record
from svai.backends.registry import get_backend
from tests.backends.plans import async_plan, sync_plan
backend = get_backend("aws")
count = 0
for i in range(50):
    plan = sync_plan("aws", name=f"spec{i}") if i % 2 else async_plan("aws", name=f"spec{i}")
    count += len(record(lambda: backend.program(plan)))
print(json.dumps({"seconds": time.perf_counter() - t0, "resources": count}))
"""


def _time(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    _time(PLAN_ONE)  # warm the OS page cache and .pyc files for both sides
    baseline: list[float] = []
    plan: list[float] = []
    for _ in range(options.runs):
        baseline.append(_time(BASELINE))
        plan.append(_time(PLAN_ONE))
    many = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", PLAN_MANY],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        for _ in range(3)
    ]
    result = {
        "runs": options.runs,
        "import_pulumi_median_s": round(statistics.median(baseline), 4),
        "plan_aws_one_median_s": round(statistics.median(plan), 4),
        "ratio_plan_to_import_pulumi": round(
            statistics.median(plan) / statistics.median(baseline), 3
        ),
        "target_plan_s": 1.0,
        "fifty_plans_one_process_median_s": round(statistics.median(m["seconds"] for m in many), 3),
        "fifty_plans_resources": many[0]["resources"],
        "target_fifty_plans_s": 10.0,
        "samples": {"import_pulumi": baseline, "plan_aws_one": plan},
        "python": sys.version.split()[0],
    }
    out = ROOT / "bench" / "results" / "plan.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
