"""Convert tabular models (scikit-learn, XGBoost, LightGBM) to ONNX at build time.

The runtime then serves the ONNX file with onnxruntime alone, so scikit-learn (1.2 s to import)
never enters a cold start. Every conversion is checked against the original model on a sample
and refused when the outputs drift: a silently wrong model is worse than a failed build.

Classifiers are converted without ZipMap so that probabilities come out as a plain float tensor,
which is what the runtime core and the quantiser expect.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort

from svai.build.optimize.canonical import save_model, sha256_file
from svai.build.optimize.errors import ConversionMismatchError, UnsupportedModelError

__all__ = ["DEFAULT_OPSET", "Conversion", "check_conversion", "convert_tabular"]

# Pinned so that a converter upgrade cannot change the bytes of an unchanged model.
DEFAULT_OPSET = 17
ML_OPSET = 3
# onnxmltools 1.16 refuses opsets above 15 for XGBoost and LightGBM.
MLTOOLS_MAX_OPSET = 15
INPUT_NAME = "input"

Task = Literal["classification", "regression"]
Family = Literal["sklearn", "xgboost", "lightgbm", "catboost"]


@dataclass(frozen=True)
class Conversion:
    """The outcome of one checked conversion.

    Attributes:
        path: The ONNX file written.
        family: Which library the original model came from.
        estimator: The original model's class name.
        task: ``"classification"`` (outputs ``label`` and ``probabilities``) or ``"regression"``.
        input_name: Name of the single float32 input, shape ``[batch, n_features]``.
        output_names: Output names in graph order.
        n_features: Number of input columns.
        max_abs_diff: Largest difference from the original on the check sample (probabilities for
            classifiers; for regressors, relative to the largest absolute prediction).
        sha256: Hex digest of the file, for the artifact's version id.
        classes: The class labels in the order of the ``probabilities`` columns (classifiers;
            empty for regressors).
    """

    path: Path
    family: Family
    estimator: str
    task: Task
    input_name: str
    output_names: tuple[str, ...]
    n_features: int
    max_abs_diff: float
    sha256: str
    classes: tuple[Any, ...] = ()


def convert_tabular(
    model: Any,
    sample: npt.ArrayLike,
    path: str | os.PathLike[str],
    *,
    tolerance: float = 1e-5,
    opset: int = DEFAULT_OPSET,
) -> Conversion:
    """Convert a fitted tabular model to ONNX, check it on ``sample`` and write it.

    Args:
        model: A fitted scikit-learn estimator or pipeline, or an XGBoost / LightGBM model using
            the scikit-learn API.
        sample: Rows of input features used to trace the input type and to check the result.
            They are compared as float32, the precision the served model receives.
        path: Where to write the ONNX file.
        tolerance: Largest accepted difference between original and ONNX outputs (probabilities
            for classifiers, relative difference for regressors).
        opset: The ONNX opset to target.

    Returns:
        A :class:`Conversion` describing the written file.

    Raises:
        UnsupportedModelError: The model's type cannot be converted here.
        ConversionMismatchError: The ONNX outputs differ by more than ``tolerance``.
    """
    rows = np.asarray(sample, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise UnsupportedModelError(
            f"the check sample must be a non-empty 2-D array, got shape {rows.shape}"
        )
    family = _family_of(model)
    task: Task = "classification" if hasattr(model, "predict_proba") else "regression"
    onnx_model = _convert(model, family, task, rows, opset)
    reference_rows = rows.astype(np.float64)
    if task == "classification":
        expected = np.asarray(model.predict_proba(reference_rows), dtype=np.float64)
    else:
        expected = np.asarray(model.predict(reference_rows), dtype=np.float64)
    classes = getattr(_final_step(model), "classes_", ())
    return check_conversion(
        onnx_model,
        path,
        family=family,
        estimator=type(model).__name__,
        task=task,
        rows=rows,
        expected=expected,
        classes=tuple(np.asarray(classes).tolist()),
        tolerance=tolerance,
    )


def check_conversion(
    onnx_model: onnx.ModelProto,
    path: str | os.PathLike[str],
    *,
    family: Family,
    estimator: str,
    task: Task,
    rows: npt.NDArray[np.float32],
    expected: npt.NDArray[np.float64],
    classes: tuple[Any, ...],
    tolerance: float,
) -> Conversion:
    """Write ``onnx_model`` and check it on ``rows`` against the source library's ``expected``.

    Args:
        onnx_model: The converted graph (one float input ``[batch, n_features]``).
        path: Where to write it.
        family: The library the model came from.
        estimator: The model's class name, for messages and metadata.
        task: What ``expected`` holds: class probabilities ``[n, classes]`` or values ``[n]``.
        rows: The check rows, float32 as the served model receives them.
        expected: The source library's answers on ``rows``.
        classes: Class labels in column order (classifiers).
        tolerance: Largest accepted difference (relative to the largest value for regressors).

    Returns:
        The :class:`Conversion`; the file is removed when the check fails.

    Raises:
        ConversionMismatchError: The ONNX outputs differ by more than ``tolerance``.
    """
    metadata = {
        "svai.estimator": estimator,
        "svai.family": family,
        "svai.input": INPUT_NAME,
        "svai.task": task,
    }
    written = save_model(onnx_model, path, metadata=metadata)
    session = ort.InferenceSession(str(written), providers=["CPUExecutionProvider"])
    output_names = tuple(o.name for o in session.get_outputs())
    diff = _compare(task, session, rows, expected)
    if not diff <= tolerance:  # written this way so that NaN also fails
        written.unlink()
        raise ConversionMismatchError(
            f"{estimator} -> ONNX: max abs difference {diff:.3g} exceeds the "
            f"tolerance {tolerance:.3g} on {rows.shape[0]} sample rows; refusing the conversion",
            max_abs_diff=diff,
            tolerance=tolerance,
        )
    return Conversion(
        path=written,
        family=family,
        estimator=estimator,
        task=task,
        input_name=INPUT_NAME,
        output_names=output_names,
        n_features=int(rows.shape[1]),
        max_abs_diff=diff,
        sha256=sha256_file(written),
        classes=classes if task == "classification" else (),
    )


def _family_of(model: Any) -> Family:
    root = type(model).__module__.split(".", 1)[0]
    if root == "sklearn":
        return "sklearn"
    if root in ("xgboost", "lightgbm"):
        return root  # type: ignore[return-value]
    raise UnsupportedModelError(
        f"cannot convert {type(model).__module__}.{type(model).__name__} to ONNX: svai converts "
        "scikit-learn estimators and pipelines, XGBoost and LightGBM models"
    )


def _final_step(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def _convert(
    model: Any, family: Family, task: Task, rows: npt.NDArray[np.float32], opset: int
) -> onnx.ModelProto:
    target = {"": opset, "ai.onnx.ml": ML_OPSET}
    if family == "sklearn":
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType as SklFloat

        options = {id(_final_step(model)): {"zipmap": False}} if task == "classification" else None
        return convert_sklearn(  # type: ignore[no-any-return]
            model,
            initial_types=[(INPUT_NAME, SklFloat([None, int(rows.shape[1])]))],
            options=options,
            target_opset=target,
        )
    try:
        import onnxmltools  # type: ignore[import-untyped]
        from onnxmltools.convert.common.data_types import (  # type: ignore[import-untyped]
            FloatTensorType,
        )
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise UnsupportedModelError(
            f"converting {family} models needs the 'onnxmltools' package (pip install onnxmltools)"
        ) from exc
    initial = [(INPUT_NAME, FloatTensorType([None, int(rows.shape[1])]))]
    if family == "xgboost":
        return onnxmltools.convert_xgboost(  # type: ignore[no-any-return]
            model, initial_types=initial, target_opset=min(opset, MLTOOLS_MAX_OPSET)
        )
    return onnxmltools.convert_lightgbm(  # type: ignore[no-any-return]
        model, initial_types=initial, target_opset=min(opset, MLTOOLS_MAX_OPSET), zipmap=False
    )


def _compare(
    task: Task,
    session: ort.InferenceSession,
    rows: npt.NDArray[np.float32],
    expected: npt.NDArray[np.float64],
) -> float:
    feeds = {session.get_inputs()[0].name: rows}
    outputs = dict(
        zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True)
    )
    if task == "classification":
        got = np.asarray(outputs.get("probabilities", list(outputs.values())[-1]), np.float64)
        return float(np.max(np.abs(got.reshape(expected.shape) - expected)))
    want = expected.reshape(-1)
    got = np.asarray(next(iter(outputs.values())), dtype=np.float64).reshape(-1)
    scale = max(1.0, float(np.max(np.abs(want))))
    return float(np.max(np.abs(got - want)) / scale)
