"""Convert native booster files to ONNX at build time: XGBoost, LightGBM and CatBoost.

Users save boosters in their libraries' own formats -- ``model.json`` / ``model.ubj``
(``Booster.save_model``), LightGBM's ``model.txt`` and CatBoost's ``model.cbm`` -- rather than as
pickles. Each is loaded with its own library (no code runs from the file: these formats are
data), converted (onnxmltools for XGBoost and LightGBM, CatBoost's built-in exporter) and
checked against the library's own predictions on the given rows, like
:func:`svai.build.optimize.convert_tabular`. The runtime then serves plain ONNX: no booster
library is imported at serve time.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx

from svai.build.optimize.convert import (
    DEFAULT_OPSET,
    INPUT_NAME,
    MLTOOLS_MAX_OPSET,
    Conversion,
    Family,
    Task,
    check_conversion,
)
from svai.build.optimize.errors import UnsupportedModelError
from svai.spec.formats import BOOSTER_FORMATS

__all__ = ["booster_features", "convert_booster"]


# Objectives (as each library names them) that svai serves as classifiers or regressors; the
# rest (ranking, survival, raw margins) have no probability or value a caller could use as is.
_XGB_CLASSIFIERS = ("binary:logistic", "multi:softprob", "multi:softmax")
_XGB_REGRESSORS = ("reg:", "count:poisson")
_LGB_CLASSIFIERS = ("binary", "multiclass", "multiclassova")
_LGB_REGRESSORS = (
    "regression",
    "regression_l1",
    "huber",
    "fair",
    "poisson",
    "quantile",
    "mape",
    "gamma",
    "tweedie",
)
_CB_CLASSIFIERS = ("Logloss", "CrossEntropy", "MultiClass", "MultiClassOneVsAll")


@dataclass(frozen=True)
class _Native:
    """A booster loaded by its own library, with what the conversion needs from it."""

    family: Family
    estimator: str
    task: Task
    n_features: int
    classes: tuple[Any, ...]
    predict: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]
    export: Callable[[int], onnx.ModelProto]


def booster_features(source: Path) -> int:
    """Return how many input columns the booster file takes (loads it with its library).

    Raises:
        UnsupportedModelError: not a booster format, its library is missing, or the file is
            not a model of that library.
    """
    return _load(source).n_features


def convert_booster(
    source: str | os.PathLike[str],
    sample: npt.ArrayLike,
    path: str | os.PathLike[str],
    *,
    tolerance: float = 1e-5,
    opset: int = DEFAULT_OPSET,
) -> Conversion:
    """Convert a native booster file to ONNX, check it on ``sample`` and write it.

    Args:
        source: ``.json`` / ``.ubj`` (XGBoost), ``.txt`` (LightGBM) or ``.cbm`` (CatBoost).
        sample: Rows to check the conversion on (compared as float32, as served).
        path: Where to write the ONNX file.
        tolerance: Largest accepted difference from the library's predictions (probabilities
            for classifiers, relative difference for regressors).
        opset: The ONNX opset to target (onnxmltools caps it at 15).

    Returns:
        The :class:`Conversion`, with the class labels in probability-column order.

    Raises:
        UnsupportedModelError: an unknown format or objective, a missing library, categorical
            CatBoost features.
        ConversionMismatchError: the ONNX model does not reproduce the library's predictions.
    """
    native = _load(Path(source))
    rows = np.asarray(sample, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[0] == 0 or rows.shape[1] != native.n_features:
        raise UnsupportedModelError(
            f"the check rows must be a non-empty [n, {native.n_features}] array for this "
            f"{native.family} model, got shape {list(rows.shape)}"
        )
    return check_conversion(
        _batch_outputs(native.export(opset)),
        path,
        family=native.family,
        estimator=native.estimator,
        task=native.task,
        rows=rows,
        expected=native.predict(rows.astype(np.float64)),
        classes=native.classes,
        tolerance=tolerance,
    )


def _load(source: Path) -> _Native:
    family = BOOSTER_FORMATS.get(source.suffix.lower())
    if family is None:
        known = ", ".join(f"{s} ({f})" for s, f in BOOSTER_FORMATS.items())
        raise UnsupportedModelError(f"{source.name}: not a native booster file ({known})")
    try:
        return _LOADERS[family](source)  # type: ignore[index]
    except ImportError as exc:
        raise UnsupportedModelError(
            f"reading {source.name} needs the {family!r} package at build time "
            f"(pip install {family}); it is not needed at serve time"
        ) from exc


def _family_error(source: Path, family: str, exc: Exception) -> UnsupportedModelError:
    return UnsupportedModelError(f"{source.name} is not a {family} model file: {exc}")


def _unsupported_objective(family: str, objective: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"{family} objective {objective!r} is not served: svai serves classifiers (class "
        "probabilities) and regressors (values); ranking, survival and raw-margin objectives "
        "have no answer a caller could use as is"
    )


def _load_xgboost(source: Path) -> _Native:
    import xgboost

    try:
        booster = xgboost.Booster(model_file=str(source))
    except xgboost.core.XGBoostError as exc:
        raise _family_error(source, "XGBoost", exc) from None
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    if objective.startswith(_XGB_CLASSIFIERS):
        wrapper: Any = xgboost.XGBClassifier()
    elif objective.startswith(_XGB_REGRESSORS):
        wrapper = xgboost.XGBRegressor()
    else:
        raise _unsupported_objective("XGBoost", objective)
    # The scikit-learn wrapper reads the same file and is what onnxmltools converts.
    wrapper.load_model(str(source))
    n_features = int(booster.num_features())
    classifier = isinstance(wrapper, xgboost.XGBClassifier)

    def export(opset: int) -> onnx.ModelProto:
        import onnxmltools  # type: ignore[import-untyped]
        from onnxmltools.convert.common.data_types import (  # type: ignore[import-untyped]
            FloatTensorType,
        )

        return onnxmltools.convert_xgboost(  # type: ignore[no-any-return]
            wrapper,
            initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
            target_opset=min(opset, MLTOOLS_MAX_OPSET),
        )

    def predict(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        answer = wrapper.predict_proba(rows) if classifier else wrapper.predict(rows)
        return np.asarray(answer, dtype=np.float64)

    return _Native(
        family="xgboost",
        estimator=f"xgboost.Booster({objective})",
        task="classification" if classifier else "regression",
        n_features=n_features,
        classes=tuple(np.asarray(wrapper.classes_).tolist()) if classifier else (),
        predict=predict,
        export=export,
    )


def _load_lightgbm(source: Path) -> _Native:
    import lightgbm

    try:
        booster = lightgbm.Booster(model_file=str(source))
    except lightgbm.basic.LightGBMError as exc:
        raise _family_error(source, "LightGBM", exc) from None
    # Only the header is needed: the objective ("binary sigmoid:1") and the class count.
    header = booster.dump_model(num_iteration=1)
    objective = str(header.get("objective", "")).split(" ", 1)[0]
    if objective in _LGB_CLASSIFIERS:
        task: Task = "classification"
        n_classes = max(2, int(header.get("num_class", 1)))
    elif objective in _LGB_REGRESSORS:
        task, n_classes = "regression", 0
    else:
        raise _unsupported_objective("LightGBM", objective)
    n_features = int(booster.num_feature())

    def export(opset: int) -> onnx.ModelProto:
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType

        return onnxmltools.convert_lightgbm(  # type: ignore[no-any-return]
            booster,
            initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
            target_opset=min(opset, MLTOOLS_MAX_OPSET),
            zipmap=False,
        )

    def predict(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        answer = np.asarray(booster.predict(rows), dtype=np.float64)
        if task == "classification" and answer.ndim == 1:
            # A binary booster answers P(class 1); the ONNX graph gives both columns.
            return np.column_stack([1.0 - answer, answer])
        return answer

    return _Native(
        family="lightgbm",
        estimator=f"lightgbm.Booster({objective})",
        task=task,
        n_features=n_features,
        classes=tuple(range(n_classes)),
        predict=predict,
        export=export,
    )


def _load_catboost(source: Path) -> _Native:
    import catboost  # type: ignore[import-untyped]

    model = catboost.CatBoost()
    try:
        model.load_model(str(source))
    except catboost.CatBoostError as exc:
        raise _family_error(source, "CatBoost", exc) from None
    if model.get_cat_feature_indices():
        raise UnsupportedModelError(
            f"{source.name}: CatBoost's ONNX export supports numeric features only; this model "
            "has categorical features (encode them before training, or serve it another way)"
        )
    loss = str(model.get_all_params().get("loss_function", ""))
    classifier = loss in _CB_CLASSIFIERS
    n_features = len(model.feature_names_)

    def export(opset: int) -> onnx.ModelProto:
        del opset  # CatBoost's exporter picks its own opsets
        with tempfile.TemporaryDirectory(prefix="svai-catboost-") as scratch:
            out = Path(scratch) / "model.onnx"
            model.save_model(str(out), format="onnx")
            return _plain_catboost_graph(onnx.load(str(out)))

    def predict(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        kind = "Probability" if classifier else "RawFormulaVal"
        return np.asarray(model.predict(rows, prediction_type=kind), dtype=np.float64)

    if not classifier and loss not in ("RMSE", "MAE", "Quantile", "MAPE", "Huber", "Lq"):
        raise _unsupported_objective("CatBoost", loss)
    return _Native(
        family="catboost",
        estimator=f"catboost.CatBoost({loss})",
        task="classification" if classifier else "regression",
        n_features=n_features,
        classes=tuple(np.asarray(model.classes_).tolist()) if classifier else (),
        predict=predict,
        export=export,
    )


def _plain_catboost_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give CatBoost's graph svai's input name and a plain ``probabilities`` tensor.

    CatBoost ends a classifier with ZipMap (a list of ``{class: probability}`` maps per row),
    which neither the runtime nor the quantiser batches; its input tensor is the plain
    ``[batch, classes]`` float matrix. A regressor declares ``[N]`` but answers ``[N, 1]``.
    """
    graph = model.graph
    _rename(graph, graph.input[0].name, INPUT_NAME)
    for node in list(graph.node):
        if node.op_type != "ZipMap":
            continue
        zipped = node.output[0]
        graph.node.remove(node)
        _rename(graph, node.input[0], "probabilities")
        for output in graph.output:
            if output.name == zipped:
                output.CopyFrom(
                    onnx.helper.make_tensor_value_info(
                        "probabilities", onnx.TensorProto.FLOAT, ["N", None]
                    )
                )
    for output in graph.output:
        dims = output.type.tensor_type.shape.dim
        if output.type.tensor_type.elem_type == onnx.TensorProto.FLOAT and len(dims) == 1:
            dims.add().dim_value = 1  # a regressor answers [N, 1]
    return model


def _batch_outputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """Make every output's first axis the symbolic batch axis.

    onnxmltools declares LightGBM's ``label`` as ``[1]`` although it answers ``[batch]``, and
    onnxruntime then warns on every call.
    """
    for output in model.graph.output:
        dims = output.type.tensor_type.shape.dim
        if dims:
            dims[0].dim_param = "N"
    return model


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename the tensor ``old`` to ``new`` wherever the graph names it."""
    for value in (*graph.input, *graph.output):
        if value.name == old:
            value.name = new
    for node in graph.node:
        for names in (node.input, node.output):
            for i, name in enumerate(names):
                if name == old:
                    names[i] = new


_LOADERS: dict[Family, Callable[[Path], _Native]] = {
    "xgboost": _load_xgboost,
    "lightgbm": _load_lightgbm,
    "catboost": _load_catboost,
}
