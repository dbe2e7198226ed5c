"""Pre-processing: a validated transaction → the model's feature vector."""

from __future__ import annotations

from typing import Any

FEATURES = (
    "amount",
    "merchant_risk",
    "velocity_1h",
    "hour",
    "card_age_days",
    "foreign",
    "distance_km",
    "attempts",
)
# The model was trained on standardised features; these are the training means and scales.
MEAN = (120.0, 0.2, 1.5, 12.0, 900.0, 0.1, 40.0, 1.1)
SCALE = (300.0, 0.2, 2.0, 7.0, 700.0, 0.3, 120.0, 0.5)


def prepare(payload: dict[str, Any]) -> dict[str, Any]:
    """Return ``{"inputs": [[...8 standardised features...]]}`` for one transaction."""
    tx = payload["transaction"]
    row = [
        (float(tx.get(name, 0.0)) - m) / s for name, m, s in zip(FEATURES, MEAN, SCALE, strict=True)
    ]
    return {"inputs": [row]}
