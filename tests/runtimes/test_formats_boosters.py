"""Boosters as users save them (XGBoost .json/.ubj, LightGBM .txt, CatBoost .cbm): build, serve.

Each model is trained here on a dataset bundled with scikit-learn and saved with its library's
own ``save_model``; ``svai build`` converts it with no manual export, and the served artifact
answers with labels and scores equal to the library's own predictions within the tolerance the
build reports -- without importing the library.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from formats_helpers import built_dir, check_openapi, serve_once, serving, write_spec
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from svai import api
from svai.errors import SpecError, UsageError

BOOSTER_LIBRARIES = {"xgboost", "lightgbm", "catboost", "sklearn"}


def _xgboost(x: np.ndarray, y: np.ndarray, path: Path, objective: str) -> Callable[..., Any]:
    import xgboost

    params: dict[str, Any] = {"objective": objective, "max_depth": 3, "nthread": 1, "seed": 0}
    if objective == "multi:softprob":
        params["num_class"] = int(y.max()) + 1
    booster = xgboost.train(params, xgboost.DMatrix(x, y), num_boost_round=15)
    booster.save_model(str(path))
    loaded = xgboost.Booster(model_file=str(path))
    return lambda rows: loaded.predict(xgboost.DMatrix(rows))


def _lightgbm(x: np.ndarray, y: np.ndarray, path: Path, objective: str) -> Callable[..., Any]:
    import lightgbm

    params: dict[str, Any] = {"objective": objective, "num_leaves": 7, "seed": 0, "verbose": -1}
    params["num_threads"] = 1
    if objective == "multiclass":
        params["num_class"] = int(y.max()) + 1
    booster = lightgbm.train(params, lightgbm.Dataset(x, y), num_boost_round=15)
    booster.save_model(str(path))
    loaded = lightgbm.Booster(model_file=str(path))
    return lambda rows: loaded.predict(rows)


def _catboost(x: np.ndarray, y: np.ndarray, path: Path, objective: str) -> Callable[..., Any]:
    import catboost

    kind = catboost.CatBoostRegressor if objective == "RMSE" else catboost.CatBoostClassifier
    model = kind(
        iterations=20, depth=3, verbose=False, random_seed=0, thread_count=1,
        allow_writing_files=False,
    )  # fmt: skip
    model.fit(x, y)
    model.save_model(str(path))
    loaded = catboost.CatBoost()
    loaded.load_model(str(path))
    kind_of = "RawFormulaVal" if objective == "RMSE" else "Probability"
    return lambda rows: loaded.predict(rows, prediction_type=kind_of)


DATASETS = {"binary": load_breast_cancer, "multiclass": load_iris, "regression": load_diabetes}

CASES = [
    ("xgboost", "model.json", "binary", "binary:logistic", _xgboost),
    ("xgboost", "model.ubj", "multiclass", "multi:softprob", _xgboost),
    ("lightgbm", "model.txt", "multiclass", "multiclass", _lightgbm),
    ("lightgbm", "model.txt", "regression", "regression", _lightgbm),
    ("catboost", "model.cbm", "binary", "Logloss", _catboost),
    ("catboost", "model.cbm", "regression", "RMSE", _catboost),
]


def _project(tmp_path: Path, framework: str, name: str, data: str, objective: str, train: Any):
    x, y = DATASETS[data](return_X_y=True)
    (tmp_path / "model").mkdir()
    (tmp_path / "eval").mkdir()
    native = train(x, y, tmp_path / "model" / name, objective)
    # Real rows for the conversion check: every fourth row of the dataset, in both request forms.
    rows = x[::4]
    lines = [json.dumps({"inputs": rows[i : i + 5].tolist()}) for i in range(0, len(rows), 10)]
    lines += [json.dumps({"instances": rows[i : i + 5].tolist()}) for i in range(5, len(rows), 10)]
    (tmp_path / "eval/holdout.jsonl").write_text("\n".join(lines) + "\n")
    gates = "rollout:\n  gates: {eval_set: eval/holdout.jsonl, metric: accuracy, min: 0.5}\n"
    spec = write_spec(tmp_path, f"model/{name}", framework, name="booster", extra=gates)
    return spec, x, y, native


@pytest.mark.parametrize(("framework", "name", "data", "objective", "train"), CASES)
def test_native_booster_builds_and_serves_labelled_predictions(
    tmp_path: Path, framework: str, name: str, data: str, objective: str, train: Any
) -> None:
    spec, x, _, native = _project(tmp_path, framework, name, data, objective, train)
    result = api.build(spec, out_dir=tmp_path / "out")
    conversion = result.optimisation["conversion"]
    assert conversion["check_source"] == "eval-set rows"
    assert conversion["max_abs_diff"] <= 1e-5
    assert any(f"max difference {conversion['max_abs_diff']:.2g}" in n for n in result.notes)
    folder = built_dir(result)
    config = json.loads((folder / "svai_runtime.json").read_text())
    rows = x[1::37]
    expected = np.asarray(native(rows), dtype=np.float64)
    with serving(folder) as server:
        by_inputs = server.predict({"inputs": rows.tolist()})["outputs"]
        by_instances = server.predict({"instances": rows.tolist()})["predictions"]
    assert by_inputs == by_instances and len(by_inputs) == len(rows)
    tolerance = max(conversion["max_abs_diff"], 1e-6) * 10
    if data == "regression":
        assert config["model"]["task"] == "regression"
        got = np.asarray([answer["value"] for answer in by_inputs])
        scale = max(1.0, float(np.max(np.abs(expected))))
        np.testing.assert_allclose(got / scale, expected.reshape(-1) / scale, atol=tolerance)
        return
    assert config["model"]["task"] == "classification"
    labels = config["model"]["labels"]
    assert labels == list(range(len(labels)))
    if expected.ndim == 1:  # a binary booster answers P(class 1)
        expected = np.column_stack([1 - expected, expected])
    for answer, want in zip(by_inputs, expected, strict=True):
        assert answer["label"] == labels[int(np.argmax(want))]
        assert answer["score"] == pytest.approx(float(np.max(want)), abs=tolerance)
        got = [answer["scores"][str(label)] for label in labels]
        np.testing.assert_allclose(got, want, atol=tolerance)


def test_serving_a_converted_booster_never_imports_the_library(tmp_path: Path) -> None:
    spec, x, _, native = _project(
        tmp_path, "xgboost", "model.json", "binary", "binary:logistic", _xgboost
    )
    folder = built_dir(api.build(spec, out_dir=tmp_path / "out"))
    probe = serve_once(folder, {"instances": x[:3].tolist()})
    assert probe["status"] == 200
    assert not BOOSTER_LIBRARIES & set(probe["modules"]), probe["modules"]
    want = np.asarray(native(x[:3]))
    assert [p["label"] for p in probe["body"]["predictions"]] == (want > 0.5).astype(int).tolist()


def test_bench_takes_either_request_form(tmp_path: Path) -> None:
    spec, x, _, _ = _project(
        tmp_path, "lightgbm", "model.txt", "multiclass", "multiclass", _lightgbm
    )
    payloads = tmp_path / "payloads.json"
    payloads.write_text(json.dumps([{"instances": x[:2].tolist()}, {"inputs": x[2].tolist()}]))
    result = api.bench(spec, payload=payloads, requests=4)
    assert result.requests == 4 and result.payloads == 2
    # Without --payload, the eval set's lines (both forms) are the requests.
    lines = (tmp_path / "eval/holdout.jsonl").read_text().splitlines()
    assert api.bench(spec, requests=2).payloads == len(lines)


def test_framework_that_does_not_match_the_file_is_refused_at_validate(tmp_path: Path) -> None:
    spec, *_ = _project(tmp_path, "xgboost", "model.txt", "binary", "binary", _lightgbm)
    with pytest.raises(SpecError) as caught:
        api.validate(spec)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "model-unservable"
    assert "model.txt is lightgbm's file format, but `framework` says xgboost" in diagnostic.message
    assert diagnostic.hint == "set `framework: lightgbm`"
    assert diagnostic.path == "model.artifact" and diagnostic.line == 4


def test_a_file_that_is_not_the_library_format_is_refused_at_build(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model/model.cbm").write_bytes(b"not a catboost model")
    spec = write_spec(tmp_path, "model/model.cbm", "catboost")
    with pytest.raises(UsageError, match=r"model\.cbm is not a CatBoost model file"):
        api.build(spec, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.onnx"))


def test_openapi_document_of_a_classifier_and_of_a_raw_onnx_model(tmp_path: Path) -> None:
    from svai.build.optimize import convert_booster

    (tmp_path / "a").mkdir()
    spec, x, _, _ = _project(
        tmp_path / "a", "xgboost", "model.json", "multiclass", "multi:softprob", _xgboost
    )
    folder = built_dir(api.build(spec, out_dir=tmp_path / "a/out"))
    with serving(folder) as server:
        answer = check_openapi(folder, server, {"inputs": x[:2].tolist()})
    assert [item["label"] for item in answer["outputs"]] == [0, 0]
    document = json.loads((folder / "openapi.json").read_text())
    assert document["components"]["schemas"]["Item"]["properties"]["label"]["enum"] == [0, 1, 2]
    # The same model exported by hand: served raw, documented by its graph's outputs.
    (tmp_path / "b/model").mkdir(parents=True)
    convert_booster(tmp_path / "a/model/model.json", x[:20], tmp_path / "b/model/model.onnx")
    raw = built_dir(api.build(write_spec(tmp_path / "b", "model/model.onnx", "onnx"),
                              out_dir=tmp_path / "b/out"))  # fmt: skip
    with serving(raw) as server:
        answer = check_openapi(raw, server, {"inputs": x[:2].tolist()})
    assert set(answer["outputs"]) == {"label", "probabilities"}
