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
# The model was trained on standardised features; these are the training set's means and
# standard deviations (train.py standardises with the same numbers).
MEAN = (111.0, 0.22, 1.52, 12.6, 805.0, 0.112, 92.4, 1.2)
SCALE = (200.0, 0.156, 1.5, 6.04, 873.0, 0.315, 281.0, 0.547)


def prepare(payload: dict[str, Any]) -> dict[str, Any]:
    """Return ``{"inputs": [[...8 standardised features...]]}`` for one transaction."""
    tx = payload["transaction"]
    row = [
        (float(tx.get(name, 0.0)) - m) / s for name, m, s in zip(FEATURES, MEAN, SCALE, strict=True)
    ]
    return {"inputs": [row]}
