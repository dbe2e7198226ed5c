"""Whole-process wall time of ``svai plan`` offline, against ``import pulumi``.

Runs, interleaved (A B C D E A B C D E ...), fresh interpreters that
  A: ``import pulumi`` (the floor any Pulumi-based plan pays),
  B: import the AWS backend, record a sync plan under mocks, run the rules,
  C, D: the same for the GCP and the Azure backend (registered by type token), and
  E: ``svai plan examples/fraud-sklearn/svai.yaml``, the CLI on a 3-cloud example;
then, in one process each (3 times), records 50 AWS plans back to back, and plans the 3-cloud
example 50 times through ``svai.api.plan`` (50 specs, 150 cloud targets). Writes medians and
ratios to ``bench/results/plan.json``.

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
backend = get_backend("{cloud}")
plan = sync_plan("{cloud}")
resources = record(lambda: backend.program(plan))
assert len(resources) > 20
evaluate(backend.rules(), resources, plan)
"""
EXAMPLE = ROOT / "examples" / "fraud-sklearn" / "svai.yaml"
SPECS_MANY = """
import json, sys, time
t0 = time.perf_counter()
from svai import api
count = 0
for _ in range(50):
    _, result = api.plan(sys.argv[1])
    count += sum(len(t.resources) for t in result.targets)
print(json.dumps({"seconds": time.perf_counter() - t0, "resources": count}))
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


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def _one_process(argv: list[str]) -> dict[str, float]:
    out = subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    svai = str(Path(sys.executable).with_name("svai"))
    commands = {
        "import_pulumi": [sys.executable, "-c", BASELINE],
        "plan_aws_one": [sys.executable, "-c", PLAN_ONE.format(cloud="aws")],
        "plan_gcp_one": [sys.executable, "-c", PLAN_ONE.format(cloud="gcp")],
        "plan_azure_one": [sys.executable, "-c", PLAN_ONE.format(cloud="azure")],
        "svai_plan_3_clouds": [svai, "plan", str(EXAMPLE)],
    }
    for argv in commands.values():
        _time(argv)  # warm the OS page cache and .pyc files for every side
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(options.runs):
        for name, argv in commands.items():
            samples[name].append(_time(argv))
    many = [_one_process([sys.executable, "-c", PLAN_MANY]) for _ in range(3)]
    specs = [_one_process([sys.executable, "-c", SPECS_MANY, str(EXAMPLE)]) for _ in range(3)]
    medians = {name: _median(values) for name, values in samples.items()}
    floor = medians["import_pulumi"]
    result = {
        "runs": options.runs,
        "import_pulumi_median_s": floor,
        **{f"{name}_median_s": m for name, m in medians.items() if name != "import_pulumi"},
        **{
            f"ratio_{name}_to_import_pulumi": round(m / floor, 3)
            for name, m in medians.items()
            if name != "import_pulumi"
        },
        "target_plan_s": 1.0,
        "fifty_plans_one_process_median_s": _median([m["seconds"] for m in many]),
        "fifty_plans_resources": many[0]["resources"],
        "fifty_specs_3_clouds_one_process_median_s": _median([m["seconds"] for m in specs]),
        "fifty_specs_3_clouds_resources": specs[0]["resources"],
        "target_fifty_plans_s": 10.0,
        "samples": samples,
        "python": sys.version.split()[0],
    }
    out = ROOT / "bench" / "results" / "plan.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
