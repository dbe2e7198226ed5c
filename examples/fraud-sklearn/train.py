"""Train the example fraud model and export it to ONNX: `python train.py` (deterministic).

A gradient-boosting classifier on synthetic card transactions (scikit-learn's make_classification
with a fixed seed), exported with skl2onnx so the served model needs onnxruntime only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skl2onnx import to_onnx
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier

# The feature list the served pre-processing hook builds: one source for both sides.
from src.features import FEATURES


def main() -> None:
    """Train, export and write ``model/model.onnx``."""
    x, y = make_classification(
        n_samples=4000, n_features=len(FEATURES), n_informative=5, weights=[0.95], random_state=7
    )
    model = GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=7).fit(x, y)
    onnx = to_onnx(model, x[:1].astype(np.float32), options={id(model): {"zipmap": False}})
    # skl2onnx lists opset imports in set order (hash-seeded); sort them for identical bytes.
    opsets = sorted(onnx.opset_import, key=lambda o: o.domain)
    del onnx.opset_import[:]
    onnx.opset_import.extend(opsets)
    out = Path(__file__).with_name("model") / "model.onnx"
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(onnx.SerializeToString())
    print(f"wrote {out} ({out.stat().st_size:,} bytes); train accuracy {model.score(x, y):.3f}")


if __name__ == "__main__":
    main()
