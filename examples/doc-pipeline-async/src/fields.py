"""Post-processing: model outputs → extracted contract fields."""

from __future__ import annotations

from typing import Any

FIELDS = ("party_a", "party_b", "effective_date", "term_months", "governing_law")


def to_json(outputs: dict[str, Any]) -> dict[str, Any]:
    """Map the model's per-field outputs onto named fields with confidences."""
    values = next(iter(outputs.values()))
    return {"fields": {name: value for name, value in zip(FIELDS, values, strict=False)}}
