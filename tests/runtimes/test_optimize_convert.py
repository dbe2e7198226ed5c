"""sklearn / XGBoost / LightGBM -> ONNX: checked, plain-tensor outputs, byte-stable."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from optimize_conftest import digits_split  # noqa: F401  (fixture)
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from svai.build.optimize import (
    ConversionMismatchError,
    UnsupportedModelError,
    convert_tabular,
)


def _run(path: Path, rows: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"input": rows.astype(np.float32)})
    return dict(zip([o.name for o in session.get_outputs()], outputs, strict=True))


def test_random_forest_on_digits_matches_predict_proba(digits_split, tmp_path: Path) -> None:  # noqa: F811
    x_train, y_train, x_test, _ = digits_split
    model = RandomForestClassifier(n_estimators=40, random_state=0).fit(x_train, y_train)
    result = convert_tabular(model, x_test, tmp_path / "rf.onnx")
    assert result.task == "classification"
    assert result.output_names == ("label", "probabilities")
    assert result.max_abs_diff <= 1e-5
    outputs = _run(result.path, x_test)
    # zipmap=False: probabilities are a plain [n, classes] float tensor, not a list of dicts.
    assert outputs["probabilities"].shape == (len(x_test), 10)
    assert outputs["probabilities"].dtype == np.float32
    np.testing.assert_allclose(
        outputs["probabilities"], model.predict_proba(x_test.astype(np.float32)), atol=1e-5
    )
    np.testing.assert_array_equal(outputs["label"], model.predict(x_test))


def test_pipeline_on_iris_and_metadata(tmp_path: Path) -> None:
    features, labels = load_iris(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(features, labels)
    result = convert_tabular(model, features, tmp_path / "iris.onnx")
    assert result.max_abs_diff <= 1e-5
    meta = {p.key: p.value for p in onnx.load(str(result.path)).metadata_props}
    assert meta == {
        "svai.estimator": "Pipeline",
        "svai.family": "sklearn",
        "svai.input": "input",
        "svai.task": "classification",
    }


@pytest.mark.parametrize(
    "estimator", [Ridge(), RandomForestRegressor(n_estimators=20, random_state=0)]
)
def test_regressors_on_diabetes(estimator: object, tmp_path: Path) -> None:
    features, target = load_diabetes(return_X_y=True)
    model = estimator.fit(features, target)  # type: ignore[attr-defined]
    result = convert_tabular(model, features, tmp_path / "reg.onnx")
    assert result.task == "regression"
    assert result.max_abs_diff <= 1e-5
    got = next(iter(_run(result.path, features).values())).reshape(-1)
    np.testing.assert_allclose(got, model.predict(features.astype(np.float32)), rtol=1e-5)


def test_xgboost_and_lightgbm(tmp_path: Path) -> None:
    xgboost = pytest.importorskip("xgboost")
    lightgbm = pytest.importorskip("lightgbm")
    features, labels = load_iris(return_X_y=True)
    for family, model in (
        ("xgboost", xgboost.XGBClassifier(n_estimators=15, max_depth=3, random_state=0)),
        ("lightgbm", lightgbm.LGBMClassifier(n_estimators=15, random_state=0, verbose=-1)),
    ):
        model.fit(features, labels)
        result = convert_tabular(model, features, tmp_path / f"{family}.onnx")
        assert (result.family, result.task) == (family, "classification")
        assert result.max_abs_diff <= 1e-5
        probabilities = _run(result.path, features)["probabilities"]
        assert probabilities.shape == (len(features), 3)
    features, target = load_diabetes(return_X_y=True)
    for family, model in (
        ("xgboost", xgboost.XGBRegressor(n_estimators=15, random_state=0)),
        ("lightgbm", lightgbm.LGBMRegressor(n_estimators=15, random_state=0, verbose=-1)),
    ):
        model.fit(features, target)
        result = convert_tabular(model, features, tmp_path / f"{family}-reg.onnx")
        assert (result.family, result.task) == (family, "regression")
        assert result.max_abs_diff <= 1e-5


def test_mismatch_is_refused_and_nothing_left_behind(digits_split, tmp_path: Path) -> None:  # noqa: F811
    x_train, y_train, x_test, _ = digits_split
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(x_train, y_train)
    target = tmp_path / "lr.onnx"
    with pytest.raises(ConversionMismatchError) as caught:
        convert_tabular(model, x_test, target, tolerance=1e-12)
    assert caught.value.max_abs_diff > 1e-12
    assert not target.exists()


def test_unsupported_models_are_refused(tmp_path: Path) -> None:
    class Homemade:
        def predict(self, rows: object) -> object:
            return rows

    with pytest.raises(UnsupportedModelError, match="cannot convert"):
        convert_tabular(Homemade(), np.zeros((2, 3)), tmp_path / "x.onnx")
    with pytest.raises(UnsupportedModelError, match="2-D"):
        convert_tabular(Ridge(), np.zeros(3), tmp_path / "x.onnx")


_CONVERT_SCRIPT = textwrap.dedent(
    """
    import sys
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from svai.build.optimize import convert_tabular
    x, y = load_digits(return_X_y=True)
    model = RandomForestClassifier(n_estimators=10, random_state=3).fit(x, y)
    convert_tabular(model, x[:50], sys.argv[1])
    """
)


def test_two_conversions_are_byte_identical(digits_split, tmp_path: Path) -> None:  # noqa: F811
    x_train, y_train, x_test, _ = digits_split
    model = RandomForestClassifier(n_estimators=10, random_state=3).fit(x_train, y_train)
    first = convert_tabular(model, x_test, tmp_path / "a.onnx")
    second = convert_tabular(model, x_test, tmp_path / "b.onnx")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256
    # And across processes with different hash seeds (set/dict order must not leak into bytes).
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"p{seed}.onnx"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", _CONVERT_SCRIPT, str(out)], check=True, env=env)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    producer = onnx.load_from_string(outputs[0])
    assert (producer.producer_name, producer.graph.name) == ("svai", "svai_model")


def test_serving_the_converted_model_never_imports_sklearn(digits_split, tmp_path: Path) -> None:  # noqa: F811
    x_train, y_train, x_test, _ = digits_split
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(x_train, y_train)
    result = convert_tabular(model, x_test, tmp_path / "rf.onnx")
    np.save(tmp_path / "rows.npy", x_test[:5].astype(np.float32))
    script = textwrap.dedent(
        f"""
        import sys, numpy as np, onnxruntime as ort
        s = ort.InferenceSession({str(result.path)!r}, providers=["CPUExecutionProvider"])
        labels = s.run(["label"], {{"input": np.load({str(tmp_path / "rows.npy")!r})}})[0]
        assert "sklearn" not in sys.modules
        print(",".join(str(int(v)) for v in labels))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    )
    assert done.stdout.strip() == ",".join(str(int(v)) for v in model.predict(x_test[:5]))
