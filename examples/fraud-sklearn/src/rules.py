"""Fallback rules: answer from amount and velocity when the model fails or is too slow."""

from __future__ import annotations

from typing import Any


def score(payload: dict[str, Any]) -> dict[str, Any]:
    """A conservative rules-based decision, marked as such."""
    tx = payload["transaction"]
    amount = float(tx.get("amount", 0.0))
    velocity = float(tx.get("velocity_1h", 0.0))
    risky = amount > 2000 or velocity > 10 or float(tx.get("attempts", 1)) > 3
    return {
        "fraud_probability": None,
        "decision": "review" if risky else "allow",
        "source": "rules",
    }
