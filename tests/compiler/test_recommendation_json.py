"""The recommendation's JSON is stable across numeric libraries: every float is rounded."""

from __future__ import annotations

from pathlib import Path

from svai import api
from svai.compiler.recommendation import to_dict

ROOT = Path(__file__).resolve().parents[2]


def floats(value: object) -> list[float]:
    if isinstance(value, dict):
        return [f for v in value.values() for f in floats(v)]
    if isinstance(value, list):
        return [f for v in value for f in floats(v)]
    return [value] if isinstance(value, float) else []


def test_every_float_in_the_json_is_rounded_pairs_included() -> None:
    # Pair fields (cost breakdown, cold-start components) once kept full precision, so the
    # golden plans changed in the 16th digit with the numpy version installed.
    _, recommendation = api.recommend(ROOT / "examples" / "fraud-sklearn" / "svai.yaml")
    data = to_dict(recommendation)
    breakdowns = [t["predicted"]["cost_breakdown"] for t in data["targets"]]
    assert breakdowns and all(isinstance(b, dict) and b for b in breakdowns)
    values = floats(data)
    assert values and all(v == round(v, 6) for v in values)
