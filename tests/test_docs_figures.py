"""The benchmark figures the docs quote match the newest results in ``bench/results/*.json``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "docs_figures.py"


def _check() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_every_generated_figure_block_matches_the_results() -> None:
    done = _check()
    assert done.returncode == 0, done.stderr + "\nrun: python scripts/docs_figures.py"


def test_no_measured_figure_is_quoted_outside_a_generated_block() -> None:
    # The sections that quote benchmark results hold no millisecond, MAPE or ratio figure of
    # their own: everything measured comes from a block (the design constants stay in prose).
    text = (ROOT / "docs" / "performance-model.md").read_text(encoding="utf-8")
    outside = []
    inside = False
    for line in text.splitlines():
        if line.startswith("<!-- figures:"):
            inside = True
        elif line.startswith("<!-- /figures:"):
            inside = False
        elif not inside and ("MAPE**" in line or " ms per " in line or "×)" in line):
            outside.append(line)
    assert outside == []


def test_a_drifted_block_is_reported(tmp_path: Path) -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import docs_figures
    finally:
        sys.path.remove(str(SCRIPT.parent))
    text = "intro\n<!-- figures:perf-speed -->\nold figure\n<!-- /figures:perf-speed -->\n"
    fresh = docs_figures.render(text, "perf-speed", docs_figures.perf_speed())
    assert "old figure" not in fresh and "ms per scenario median" in fresh
    assert docs_figures.render(fresh, "perf-speed", docs_figures.perf_speed()) == fresh
