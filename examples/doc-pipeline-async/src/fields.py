"""Post-processing: model outputs → extracted contract fields."""

from __future__ import annotations

from typing import Any

FIELDS = ("party_a", "party_b", "effective_date", "term_months", "governing_law")


def to_json(outputs: dict[str, Any]) -> dict[str, Any]:
    """Name the fields the model extracted (output ``<field>``) with their confidences.

    The model answers one document per request: each output holds one row. A field the model
    does not extract is left out rather than guessed.
    """
    fields = {name: outputs[name][0] for name in FIELDS if name in outputs}
    confidence = {
        name: outputs[f"{name}_confidence"][0] for name in fields if f"{name}_confidence" in outputs
    }
    return {"fields": fields, "confidence": confidence}
