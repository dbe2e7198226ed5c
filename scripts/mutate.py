#!/usr/bin/env python3
"""Mutation testing of the modules that carry safety and numbers, with a score per module.

``make mutate`` runs this script: ``mutmut run`` over the modules that ``[tool.mutmut]
only_mutate`` in ``pyproject.toml`` names (the rule engines, the runtime's limits, idempotency and
cache, the cold-start model, the rollout splits), limited to the mutants that ``[tool.svai.mutate]
run`` selects, each mutant against only the tests of ``pytest_add_cli_args_test_selection`` that
cover the mutated function and that ``[tool.svai.mutate.tests]`` names for its module, if it names
any (``tests/conftest.py`` deselects the others for that mutant). Then it reads mutmut's results (``mutants/**/*.meta``) and prints, per
module, the mutants run, killed, survived and not covered by any test, and the score; the surviving
mutants are listed by name (``mutmut show NAME`` shows the change). Results are kept in
``mutants/``: ``--report-only`` reports them again, ``--resume`` runs only the selected mutants
that have no result yet (an interrupted run), ``--survivors`` retests only the mutants that
survived (after new tests were written), and a plain run retests every selected mutant.

It is slow (tens of minutes on two cores) and is not part of ``make test`` or CI.

Usage: ``python scripts/mutate.py [--max-children N] [--report-only | --resume | --survivors]
[--only PATTERN ...] [--json FILE] [--min-score PERCENT]`` (``--only`` narrows a run to the
mutants whose names match, e.g. ``'svai.backends.*'``). Exit codes: 0 done (every module at or above ``--min-score``);
1 a module scored below ``--min-score``; 2 mutmut failed, or ``--only`` matches no selected mutant.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"

# mutmut's exit codes per mutant (mutmut.stats.status_by_exit_code): a timeout counts as killed,
# as mutmut's own score does; anything else unexpected is "suspicious".
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped"}
STATUS |= {36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout"}
STATUS |= {37: "caught by type check", None: "not checked"}


def _config() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]


def modules() -> list[str]:
    """The ``only_mutate`` patterns of ``pyproject.toml``: the one list of mutated modules."""
    return list(_config()["mutmut"]["only_mutate"])


def selected() -> list[str]:
    """The mutant name patterns of ``[tool.svai.mutate] run``: the mutants that are run."""
    return list(_config()["svai"]["mutate"]["run"])


def mutated_files(patterns: list[str]) -> list[Path]:
    """Source files (relative to the root) that match ``patterns``, in pattern order."""
    found: list[Path] = []
    for pattern in patterns:
        for path in sorted((ROOT / "svai").rglob("*.py")):
            relative = path.relative_to(ROOT)
            if fnmatch.fnmatch(relative.as_posix(), pattern) and relative not in found:
                found.append(relative)
    return found


def module_results(path: Path) -> dict[str, Any]:
    """Counts, score and surviving mutant names of one module, from mutmut's ``.meta`` file."""
    meta = MUTANTS / f"{path}.meta"
    codes: dict[str, int | None] = {}
    if meta.exists():
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    patterns = selected()
    run = {n: c for n, c in codes.items() if any(fnmatch.fnmatch(n, p) for p in patterns)}
    statuses = {name: STATUS.get(code, "suspicious") for name, code in run.items()}
    counts = Counter(statuses.values())
    killed = counts["killed"] + counts["timeout"]
    judged = killed + counts["survived"] + counts["no tests"] + counts["suspicious"]
    return {
        "module": path.as_posix(),
        "generated": len(codes),
        "mutants": len(run),
        "killed": killed,
        "survived": counts["survived"],
        "no_tests": counts["no tests"],
        "other": len(run) - judged,
        "score_percent": round(100.0 * killed / judged, 1) if judged else None,
        "surviving": sorted(n for n, s in statuses.items() if s in ("survived", "no tests")),
        "pending": sorted(n for n, s in statuses.items() if s == "not checked"),
    }


def table(results: list[dict[str, Any]]) -> str:
    """The per-module scores as a Markdown table."""
    lines = [
        "| module | selected (generated) | killed | survived | no tests | score |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        score = "-" if r["score_percent"] is None else f"{r['score_percent']:.1f}%"
        lines.append(
            f"| `{r['module']}` | {r['mutants']} ({r['generated']}) | {r['killed']} | "
            f"{r['survived']} | "
            f"{r['no_tests']} | {score} |"
        )
    return "\n".join(lines)


def main() -> int:
    """Run mutmut, then report; see the module docstring for the options and exit codes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-children", type=int, default=None, help="parallel mutant runs")
    parser.add_argument("--report-only", action="store_true", help="report kept results")
    parser.add_argument("--resume", action="store_true", help="run mutants without a result")
    parser.add_argument(
        "--only", action="append", default=[], help="run only mutants matching this name pattern"
    )
    parser.add_argument("--survivors", action="store_true", help="retest the survivors only")
    parser.add_argument("--json", type=Path, default=MUTANTS / "scores.json")
    parser.add_argument("--min-score", type=float, default=0.0)
    options = parser.parse_args()
    files = mutated_files(modules())
    names = selected()
    if options.survivors:
        names = [n for path in files for n in module_results(path)["surviving"]]
    elif options.resume:
        names = [n for path in files for n in module_results(path)["pending"]]
    if options.only:
        covered = [n for n in names if any(fnmatch.fnmatch(n, p) for p in options.only)]
        if not (options.survivors or options.resume):
            # A wide --only ('svai.compiler.perf.pool.*') keeps the selected patterns it covers;
            # a narrow one (one function, one mutant) is run as given if a selected pattern
            # covers it. Either way only selected mutants run, the ones the report scores.
            covered += [p for p in options.only if any(fnmatch.fnmatch(p, n) for n in names)]
        names = list(dict.fromkeys(covered))
        if not names and not options.report_only:
            print(f"no selected mutant matches --only {' '.join(options.only)}", file=sys.stderr)
            return 2
    if not options.report_only and names:
        argv = [str(Path(sys.executable).with_name("mutmut")), "run"]
        if options.max_children:
            argv += ["--max-children", str(options.max_children)]
        if subprocess.run([*argv, *names], cwd=ROOT, check=False).returncode != 0:
            print("mutmut run failed", file=sys.stderr)
            return 2
    results = [module_results(path) for path in files]
    print(table(results))
    for r in results:
        if r["surviving"]:
            print(f"\nsurviving in {r['module']}: " + ", ".join(r["surviving"]))
    options.json.parent.mkdir(parents=True, exist_ok=True)
    options.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    low = [r for r in results if (r["score_percent"] or 0.0) < options.min_score]
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
