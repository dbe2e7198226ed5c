"""Train the example fraud model, export it to ONNX and write its eval set: `python train.py`.

Synthetic card transactions with the fields the API takes (``schemas/transaction.json``), drawn
from a fixed-seed generator: legitimate and fraudulent transactions differ in amount, merchant
risk, velocity, hour, card age, country and distance, with overlap, and about 8 % of the label
is noise, so no model is perfect. A gradient-boosting classifier is trained on 4,000
transactions, standardised exactly as the serving hook (``src/features.py``) does, and exported
with skl2onnx so the served model needs onnxruntime only. The next 400 transactions, never seen
in training, become ``eval/holdout.jsonl``: the request body and whether it was fraud (1) or not
(0). ``svai eval`` sends them through the built artifact and the gate checks the F1 of the fraud
class. Everything is deterministic: the same run writes the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingClassifier

# The feature list and scaling the served pre-processing hook uses: one source for both sides.
from src.features import FEATURES, MEAN, SCALE

HERE = Path(__file__).parent
TRAIN, HOLDOUT = 4000, 400
FRAUD_RATE = 0.12


def transactions(
    n: int, rng: np.random.Generator
) -> tuple[list[dict[str, float | int]], np.ndarray]:
    """``n`` transactions (API fields) and their labels (1: fraud)."""
    fraud = rng.random(n) < FRAUD_RATE
    pick = lambda yes, no: np.where(fraud, yes, no)  # noqa: E731 - reads as a column rule
    amount = pick(rng.lognormal(5.2, 1.1, n), rng.lognormal(3.9, 1.0, n))
    merchant_risk = pick(rng.beta(4, 4, n), rng.beta(2, 9, n))
    velocity = pick(rng.poisson(4.0, n), rng.poisson(1.2, n))
    night = rng.integers(0, 6, n)
    day = rng.integers(7, 23, n)
    hour = pick(
        np.where(rng.random(n) < 0.6, night, day), np.where(rng.random(n) < 0.1, night, day)
    )
    card_age = pick(rng.exponential(120, n), rng.exponential(900, n)).astype(int)
    foreign = (rng.random(n) < pick(0.45, 0.07)).astype(int)
    distance = pick(rng.exponential(600, n), rng.exponential(25, n))
    attempts = 1 + pick(rng.poisson(1.0, n), rng.poisson(0.08, n))
    # Label noise: some fraud looks ordinary and some ordinary purchases look odd.
    flipped = rng.random(n) < 0.04
    labels = (fraud ^ flipped).astype(int)
    rows = [
        {
            "amount": round(float(amount[i]), 2),
            "merchant_risk": round(float(merchant_risk[i]), 3),
            "velocity_1h": int(velocity[i]),
            "hour": int(hour[i]),
            "card_age_days": int(card_age[i]),
            "foreign": int(foreign[i]),
            "distance_km": round(float(distance[i]), 1),
            "attempts": int(attempts[i]),
        }
        for i in range(n)
    ]
    return rows, labels


def features(rows: list[dict[str, float | int]]) -> np.ndarray:
    """The model's input, as the serving hook computes it."""
    return np.array(
        [
            [(float(r[f]) - m) / s for f, m, s in zip(FEATURES, MEAN, SCALE, strict=True)]
            for r in rows
        ],
        dtype=np.float32,
    )


def main() -> None:
    """Train, export ``model/model.onnx`` and write ``eval/holdout.jsonl``."""
    rng = np.random.default_rng(7)
    rows, labels = transactions(TRAIN + HOLDOUT, rng)
    x = features(rows)
    model = GradientBoostingClassifier(n_estimators=80, max_depth=3, random_state=7)
    model.fit(x[:TRAIN], labels[:TRAIN])
    onnx = to_onnx(model, x[:1], options={id(model): {"zipmap": False}})
    # skl2onnx lists opset imports in set order (hash-seeded); sort them for identical bytes.
    opsets = sorted(onnx.opset_import, key=lambda o: o.domain)
    del onnx.opset_import[:]
    onnx.opset_import.extend(opsets)
    out = HERE / "model" / "model.onnx"
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(onnx.SerializeToString())
    eval_set = HERE / "eval" / "holdout.jsonl"
    eval_set.parent.mkdir(exist_ok=True)
    with eval_set.open("w", encoding="utf-8") as lines:
        for row, label in zip(rows[TRAIN:], labels[TRAIN:], strict=True):
            record = {"input": {"transaction": row}, "expected": int(label)}
            lines.write(json.dumps(record, sort_keys=True) + "\n")
    held = model.predict(x[TRAIN:])
    tp = int(((held == 1) & (labels[TRAIN:] == 1)).sum())
    f1 = 2 * tp / (int(held.sum()) + int(labels[TRAIN:].sum()))
    print(f"wrote {out} ({out.stat().st_size:,} bytes) and {eval_set} ({HOLDOUT} unseen rows);")
    print(f"train accuracy {model.score(x[:TRAIN], labels[:TRAIN]):.3f}, holdout fraud F1 {f1:.3f}")


if __name__ == "__main__":
    main()
