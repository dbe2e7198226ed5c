"""Post-processing: model outputs → the checkout service's decision."""

from __future__ import annotations

from typing import Any


def to_response(outputs: dict[str, Any]) -> dict[str, Any]:
    """Turn ``probabilities`` into a fraud probability and a decision."""
    probabilities = outputs.get("probabilities") or next(iter(outputs.values()))
    fraud = float(probabilities[0][1])
    decision = "block" if fraud >= 0.9 else "review" if fraud >= 0.5 else "allow"
    return {"fraud_probability": round(fraud, 6), "decision": decision}
