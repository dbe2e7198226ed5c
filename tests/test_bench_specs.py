"""The 50 specs ``bench/bench_plan.py`` plans are valid and all different."""

from __future__ import annotations

import sys
from pathlib import Path

from svai import api

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_the_fifty_generated_specs_are_distinct_valid_variants_of_the_examples(
    tmp_path: Path,
) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import bench_plan
    finally:
        sys.path.remove(str(BENCH))
    specs = [bench_plan.variant(i, tmp_path) for i in range(50)]
    loaded = [api.validate(spec) for spec in specs]
    assert len({spec.read_text(encoding="utf-8") for spec in specs}) == 50
    assert len({item.resolved.name for item in loaded}) == 50
    # Every example takes its turn.
    assert {spec.parent.name.split("-", 1)[1] for spec in specs} == {
        p.name for p in bench_plan.SOURCES
    }
