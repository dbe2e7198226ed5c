"""Whole-process wall time of ``svai plan`` offline, against ``import pulumi``.

Runs, interleaved (A B C D E A B C D E ...), fresh interpreters that
  A: ``import pulumi`` (the floor any Pulumi-based plan pays),
  B: import the AWS backend, record a sync plan under mocks, run the rules,
  C, D: the same for the GCP and the Azure backend (registered by type token), and
  E: ``svai plan examples/fraud-sklearn/svai.yaml``, the CLI on a 3-cloud example;
then, ``--runs`` times each, in one fresh process per run: records 50 AWS sample plans (distinct
names, sync and async) back to back, and plans 50 distinct specs through ``svai.api.plan``. The
50 specs are generated variants of the bundled examples (each example in turn, with its own
name, traffic volume and budget), so no spec is planned twice and no per-process cache answers
for a spec it has already seen.

Every figure is reported as the median and the spread (min, max) over the runs, and every run's
figure is kept. Results are appended to ``bench/results/plan.json`` (see ``results_log.py``):
an earlier invocation is never overwritten, so a figure cannot be picked from several tries.

Usage: ``.venv/bin/python bench/bench_plan.py [--runs 5]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from results_log import append_result, spread

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p.parent for p in (ROOT / "examples").glob("*/svai.yaml"))

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
count = targets = 0
for spec in sys.argv[1:]:
    _, result = api.plan(spec)
    targets += len(result.targets)
    count += sum(len(t.resources) for t in result.targets)
print(json.dumps({"seconds": time.perf_counter() - t0, "resources": count, "targets": targets}))
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


def variant(index: int, root: Path) -> Path:
    """Write the ``index``-th generated spec (a copy of one example, renamed and rescaled).

    The examples take turns; the ``k``-th copy of an example gets the name ``NAME-k``, its
    traffic scaled by ``1 + 0.2 k`` and its budget raised by ``10 k`` USD, so every spec differs.
    """
    source = SOURCES[index % len(SOURCES)]
    k = index // len(SOURCES)
    folder = root / f"{index:02d}-{source.name}"
    shutil.copytree(source, folder)
    spec = yaml.safe_load((folder / "svai.yaml").read_text(encoding="utf-8"))
    spec["name"] = f"{spec['name']}-{k:02d}"
    traffic = spec["traffic"]
    for field in ("baseline_rps", "peak_rps"):
        if field in traffic:
            traffic[field] = round(traffic[field] * (1 + 0.2 * k), 3)
    if "batch" in traffic:
        traffic["batch"]["items"] = int(traffic["batch"]["items"] * (1 + 0.2 * k))
    spec["observability"]["budget_usd_month"] += 10 * k
    (folder / "svai.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return folder / "svai.yaml"


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def _one_process(argv: list[str]) -> dict[str, float]:
    out = subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "plan.json")
    options = parser.parse_args()
    runs = max(5, options.runs)
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
    for _ in range(runs):
        for name, argv in commands.items():
            samples[name].append(_time(argv))
    with tempfile.TemporaryDirectory(prefix="svai-bench-plan-") as tmp:
        specs = [str(variant(i, Path(tmp))) for i in range(50)]
        many = [_one_process([sys.executable, "-c", PLAN_MANY]) for _ in range(runs)]
        distinct = [_one_process([sys.executable, "-c", SPECS_MANY, *specs]) for _ in range(runs)]
    floor = spread(samples["import_pulumi"])["median"]
    result = {
        "runs": runs,
        "seconds": {name: spread(values) for name, values in samples.items()},
        "ratio_median_to_import_pulumi": {
            name: round(spread(values)["median"] / floor, 3)
            for name, values in samples.items()
            if name != "import_pulumi"
        },
        "target_plan_s": 1.0,
        "fifty_aws_sample_plans_one_process_s": spread([m["seconds"] for m in many]),
        "fifty_aws_sample_plans_resources": many[0]["resources"],
        "fifty_distinct_specs_one_process_s": spread([m["seconds"] for m in distinct]),
        "fifty_distinct_specs_targets": distinct[0]["targets"],
        "fifty_distinct_specs_resources": distinct[0]["resources"],
        "fifty_distinct_specs_from": [p.name for p in SOURCES],
        "target_fifty_specs_s": 10.0,
        "python": sys.version.split()[0],
    }
    append_result(options.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
