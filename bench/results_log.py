"""How the benchmarks keep their results: every invocation appended, none overwritten.

A results file is ``{"invocations": [record, ...]}``, oldest first. Each benchmark run appends
its record (stamped with the time and the git commit it measured) instead of replacing the file,
so a figure quoted in the docs is always the latest invocation's and the earlier ones stay next
to it: a run cannot be repeated until it looks good and the other tries dropped.

A file from before this format (one record, no ``invocations``) becomes the first invocation,
marked ``"format": "single-run"``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def spread(values: list[float], digits: int = 4) -> dict[str, Any]:
    """Median, min and max of ``values``, with every value kept (rounded to ``digits``)."""
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "runs": [round(v, digits) for v in values],
    }


def invocations(path: Path) -> list[dict[str, Any]]:
    """Every recorded invocation in ``path``, oldest first (empty when the file is absent)."""
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and "invocations" in data:
        return list(data["invocations"])
    return [{"format": "single-run", **data}]


def latest(path: Path) -> dict[str, Any]:
    """The newest invocation in ``path``."""
    found = invocations(path)
    if not found:
        raise FileNotFoundError(f"{path} holds no benchmark results")
    return found[-1]


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def append_result(path: Path, record: dict[str, Any]) -> None:
    """Append ``record`` to the results file at ``path``.

    The record is stamped with the time, the commit measured and the machine's load average at
    the end of the run (1, 5 and 15 minutes): other work on the same cores shows there.
    """
    stamped = {
        "recorded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        **record,
    }
    history = [*invocations(path), stamped]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"invocations": history}, indent=2) + "\n", encoding="utf-8")
