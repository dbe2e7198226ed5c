"""The model a build ships: checked, converted to ONNX where needed, and quantised behind a check.

An ONNX file is copied as it is (task ``raw``: it answers with its graph's outputs), or
int8-quantised when the accuracy check on the eval set passes. What svai converts, checked
against the source library, gets the I/O contract of its task (``svai.runtime.core.tasks``):

* a trusted scikit-learn / XGBoost / LightGBM pickle, and the boosters' own files -- XGBoost
  ``.json`` / ``.ubj``, LightGBM ``.txt``, CatBoost ``.cbm`` -- become ONNX classifiers (labels
  and scores) or regressors, so no training library is imported at serve time;
* a Hugging Face ``save_pretrained`` folder (text, token or image classifier, sentence
  encoder) becomes ONNX with its tokenizer or image processor and label names
  (:mod:`svai.build.optimize.hf`), checked against the ``transformers`` pipeline.

A remote artifact (``s3://``, ``gs://``, Azure Blob, ``hf://``) is fetched and verified first
(:mod:`svai.build.fetch`), then prepared like a local one. The model is prepared once per build, for every target.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from svai.build.artifact import safe_source
from svai.build.fetch import fetch_artifact
from svai.errors import UsageError
from svai.runtime.core.messages import resolve_protocol
from svai.spec.formats import (
    BOOSTER_FORMATS,
    PICKLE_SUFFIXES,
    Unservable,
    artifact_problem,
    folder_problem,
    folder_task,
)
from svai.spec.paths import project_path
from svai.spec.resolve import ResolvedSpec

if TYPE_CHECKING:
    from svai.build.optimize import Conversion, Quantization
    from svai.build.optimize.hf import FolderExport

__all__ = [
    "EvalCase",
    "PreparedModel",
    "prepare_model",
    "read_eval_set",
]


_TABULAR = ("sklearn", "xgboost", "lightgbm")


_SAMPLE_ROWS = 64


_SYNTHETIC = "synthetic rows (add rollout.gates.eval_set to check on real ones)"


@dataclass(frozen=True, slots=True)
class EvalCase:
    """One line of the spec's eval set: a request payload and its expected label, if any."""

    payload: Any
    label: Any = None


@dataclass(frozen=True, slots=True)
class PreparedModel:
    """The prepared model shared by every target of one build.

    Attributes:
        data: the ``model.onnx`` bytes, if packaged.
        info: what the manifest records about the model (source, conversion, quantisation).
        remote: artifacts the deployment must fetch.
        notes: one line per decision, for the build's output.
        runtime: keys of ``svai_runtime.json``'s ``model`` section this model needs (its task,
            labels, tokenizer, image processor).
        files: other files the model needs beside it (``tokenizer.json``), by package path.
        requirements: Python packages its task needs at serve time beyond onnxruntime.
        weights: a GPU engine's model folder, by package path (read only when packaged).
    """

    data: bytes | None
    info: dict[str, Any]
    remote: tuple[dict[str, Any], ...]
    notes: tuple[str, ...]
    runtime: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    requirements: tuple[str, ...] = ()
    weights: dict[str, Path] = field(default_factory=dict)


def read_eval_set(spec: ResolvedSpec, base_dir: Path) -> list[EvalCase]:
    """Read ``rollout.gates.eval_set`` (JSON Lines), or return ``[]`` when the spec has none.

    Each line is a request body with its expected answer beside it --
    ``{"inputs": ..., "expected": ...}`` or ``{"instances": [...], "expected": ...}``, the
    request forms every entry point takes -- or the older ``{"input": <request body>,
    "expected": ...}``. ``expected`` is optional (latency-only gates need none). This is the
    format ``docs/spec.md`` documents.

    Raises:
        UsageError: the file is missing or a line is not one of those objects.
    """
    gates = spec.rollout.gates
    if gates is None:
        return []
    path = safe_source(base_dir, gates.eval_set, "rollout.gates.eval_set", copied=False)
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"{gates.eval_set}:{number}: not JSON ({exc})") from None
        if not isinstance(record, dict):
            raise UsageError(f"{gates.eval_set}:{number}: expected a JSON object per line")
        keys = set(record) - {"expected"}
        if keys == {"input"}:
            payload = record["input"]
        elif len(keys & {"inputs", "instances", "input"}) == 1 and "input" not in keys:
            payload = {k: v for k, v in record.items() if k != "expected"}
        else:
            raise UsageError(
                f"{gates.eval_set}:{number}: expected a request body with its answer, "
                f'{{"inputs": ..., "expected": ...}} or {{"instances": [...], "expected": ...}}, '
                f"got keys {sorted(record)}"
            )
        cases.append(EvalCase(payload, record.get("expected")))
    return cases


def prepare_model(spec: ResolvedSpec, base_dir: Path, scratch: Path) -> PreparedModel:
    """Check, convert and quantise the spec's model once per build (``scratch``: work files).

    Raises:
        UsageError: an invalid ONNX file, an untrusted or unconvertible pickle, an unsupported
            format.
    """
    model = spec.model
    if model.source.remote:
        source = fetch_artifact(model.source, model.sha256).path  # verified, from the cache
    else:
        local = project_path(base_dir, model.artifact, "model.artifact")
        source = (
            local
            if local.is_dir()
            else safe_source(base_dir, model.artifact, "model.artifact", copied=False)
        )
    if source.is_dir():
        return _prepare_folder(spec, base_dir, source, scratch)
    cases = read_eval_set(spec, base_dir)
    rows, labels = _eval_rows(cases)
    notes: list[str] = []
    info: dict[str, Any] = {"source": model.artifact, "framework": model.framework}
    runtime: dict[str, Any] = {"task": "raw"}
    suffix = source.suffix.lower()
    if suffix == ".onnx":
        _check_onnx(source, model.artifact)
        fp32 = source  # read only: the quantiser writes its int8 variant into scratch
        info["conversion"] = None
    elif (model.framework in _TABULAR and suffix in PICKLE_SUFFIXES) or (
        BOOSTER_FORMATS.get(suffix) == model.framework
    ):
        convert = _convert_pickle if suffix in PICKLE_SUFFIXES else _convert_booster
        fp32, conversion = convert(spec, source, scratch, rows)
        info["conversion"] = conversion
        runtime = _tabular_contract(conversion)
        library = "scikit-learn" if model.framework == "sklearn" else model.framework
        notes.append(
            f"converted {conversion['estimator']} ({model.framework}) to ONNX, max difference "
            f"{conversion['max_abs_diff']:.2g} from {library} on {conversion['check_rows']} "
            f"{conversion['check_source']}; {library} is not needed at serve time"
        )
    else:
        problem = artifact_problem(model.framework, model.artifact)
        why = f"{problem.reason}; {problem.hint}" if problem else "not a format svai serves"
        raise UsageError(f"model.artifact: {why}")
    shipped, quant = _quantize(spec, fp32, scratch, rows, labels)
    info["quantization"] = quant
    if quant.get("message"):
        notes.append(str(quant["message"]))
    data = shipped.read_bytes()
    info["sha256"] = hashlib.sha256(data).hexdigest()
    info["bytes"] = len(data)
    info["packaged"] = True
    info["task"] = runtime["task"]
    return PreparedModel(data, info, (), tuple(notes), runtime)


def _prepare_folder(
    spec: ResolvedSpec, base_dir: Path, folder: Path, scratch: Path
) -> PreparedModel:
    """Export a Hugging Face folder for its task, checked against the transformers pipeline."""
    model = spec.model
    where, relative = base_dir, model.artifact
    if folder.is_relative_to(base_dir.resolve()):
        for path in sorted(folder.rglob("*")):  # every file the exporter may read stays inside
            project_path(
                base_dir, path.relative_to(base_dir.resolve()).as_posix(), "model.artifact"
            )
    else:  # fetched into svai's cache and verified against its pin: read it where it is
        where, relative = folder, "."
    task = folder_task(where, relative)
    problem = folder_problem(where, relative, model.task)
    if isinstance(task, Unservable) or problem is not None:
        why = problem or task
        assert isinstance(why, Unservable)
        raise UsageError(f"model.artifact: {why.reason}; {why.hint}")
    texts, images = _eval_media(read_eval_set(spec, base_dir))
    from svai.build.optimize import OptimizeError
    from svai.build.optimize.hf import CHECK_TEXTS, export_folder

    try:
        export = export_folder(
            folder, scratch / "hf", task, texts=texts or CHECK_TEXTS, images=images
        )
    except OptimizeError as exc:
        raise UsageError(f"model: cannot export {model.artifact}: {exc}") from None
    source = (
        "eval-set inputs"
        if (images if task == "image-classification" else texts)
        else ("svai's check inputs (add rollout.gates.eval_set to check on yours)")
    )
    conversion = {
        "task": task,
        "exporter": export.exporter,
        "reference": export.reference,
        "max_abs_diff": export.max_abs_diff,
        "check_inputs": export.checked,
        "check_source": source,
    }
    notes = [
        f"exported {model.artifact} ({task}) to ONNX; max difference {export.max_abs_diff:.2g} "
        f"from the {export.reference} on {export.checked} {source}; transformers and torch "
        "are not needed at serve time"
    ]
    shipped, quant = _quantize_folder(spec, export, texts or list(CHECK_TEXTS), scratch)
    if "message" in quant:
        notes.append(str(quant["message"]))
    data = shipped.read_bytes()
    info: dict[str, Any] = {
        "source": model.artifact,
        "framework": model.framework,
        "conversion": conversion,
        "quantization": quant,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "packaged": True,
        "task": task,
    }
    files = {name: path.read_bytes() for name, path in export.files.items()}
    needs = ("pillow",) if task == "image-classification" else ("tokenizers",)
    return PreparedModel(data, info, (), tuple(notes), export.runtime, files, needs)


def _eval_media(cases: Sequence[EvalCase]) -> tuple[list[str], list[bytes]]:
    """The eval set's texts and images (base64 or ``{"b64": ...}``), for the export check."""
    import base64
    import binascii

    texts: list[str] = []
    images: list[bytes] = []
    for case in cases:
        payload = case.payload if isinstance(case.payload, dict) else {}
        inputs = payload.get("inputs", payload.get("instances"))
        for item in inputs if isinstance(inputs, list) else [inputs]:
            encoded = item.get("b64") if isinstance(item, dict) else None
            if isinstance(item, str):
                texts.append(item)
                encoded = item
            if isinstance(encoded, str):
                with contextlib.suppress(binascii.Error, ValueError):  # a text, not an image
                    images.append(base64.b64decode(encoded, validate=True))
    return texts, images


def _check_onnx(path: Path, name: str) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:  # the checker raises several unrelated types
        raise UsageError(f"model.artifact: {name} is not a valid ONNX model: {exc}") from None


def _eval_rows(cases: Sequence[EvalCase]) -> tuple[list[list[float]], list[Any]]:
    # Only payloads that carry model-ready rows can feed the converter and the accuracy check;
    # payloads meant for a pre-processing hook are not rows.
    rows: list[list[float]] = []
    labels: list[Any] = []
    for case in cases:
        payload = case.payload
        if resolve_protocol("auto", payload) == "vertex" and isinstance(payload, dict):
            payload = {"inputs": payload.get("instances")}
        inputs = payload.get("inputs") if isinstance(payload, dict) else None
        if not isinstance(inputs, list):
            continue
        batch = inputs if inputs and isinstance(inputs[0], list) else [inputs]
        if not all(isinstance(v, int | float) for row in batch for v in row):
            continue
        rows.extend([float(v) for v in row] for row in batch)
        labels.extend([case.label] * len(batch))
    return rows, labels


def _convert_pickle(
    spec: ResolvedSpec, source: Path, scratch: Path, rows: list[list[float]]
) -> tuple[Path, dict[str, Any]]:
    expected = spec.model.trusted_sha256
    # Hashed and loaded from the same bytes: the file cannot change between check and load.
    blob = source.read_bytes()
    actual = hashlib.sha256(blob).hexdigest()
    if expected is None or actual != expected:
        raise UsageError(
            f"model.artifact: {spec.model.artifact} is a pickle; it loads only when "
            f"`model.trust: {{pickle: true, sha256: ...}}` names its sha256 (file has {actual}, "
            f"spec trusts {expected or 'nothing'})"
        )
    import numpy as np

    from svai.build.optimize import OptimizeError, convert_tabular

    # Safe to unpickle only because the sha256 pinned by the spec matched above.
    if source.suffix.lower() == ".joblib":
        import joblib  # type: ignore[import-untyped]

        estimator = joblib.load(io.BytesIO(blob))
    else:
        estimator = pickle.loads(blob)
    where = "eval-set rows"
    if rows:
        sample = np.asarray(rows, dtype=np.float32)
    else:
        where = _SYNTHETIC
        n_features = getattr(estimator, "n_features_in_", None)
        if not isinstance(n_features, int):
            raise UsageError(
                "model: cannot tell how many features the model takes; add an eval set "
                "(rollout.gates.eval_set) whose lines carry model inputs"
            )
        # Seeded: the conversion check (and so the build) must be the same every time.
        sample = np.random.default_rng(0).normal(size=(_SAMPLE_ROWS, n_features)).astype(np.float32)
    path = scratch / "converted.onnx"
    try:
        result = convert_tabular(estimator, sample, path)
    except OptimizeError as exc:
        raise UsageError(f"model: cannot convert {spec.model.artifact} to ONNX: {exc}") from None
    return result.path, _conversion_record(result, int(sample.shape[0]), where)


def _conversion_record(result: Conversion, rows: int, where: str) -> dict[str, Any]:
    """What the manifest records about a checked tabular conversion."""
    return {
        "estimator": result.estimator,
        "task": result.task,
        "n_features": result.n_features,
        "max_abs_diff": result.max_abs_diff,
        "check_rows": rows,
        "check_source": where,
        "classes": list(result.classes),
    }


def _convert_booster(
    spec: ResolvedSpec, source: Path, scratch: Path, rows: list[list[float]]
) -> tuple[Path, dict[str, Any]]:
    """Convert a native booster file; checked on the eval set's rows when it has some."""
    import numpy as np

    from svai.build.optimize import OptimizeError, booster_features, convert_booster

    try:
        if rows:
            sample, where = np.asarray(rows, dtype=np.float32), "eval-set rows"
        else:
            # Seeded: the conversion check (and so the build) must be the same every time.
            n_features = booster_features(source)
            shape = (_SAMPLE_ROWS, n_features)
            sample = np.random.default_rng(0).normal(size=shape).astype(np.float32)
            where = _SYNTHETIC
        result = convert_booster(source, sample, scratch / "converted.onnx")
    except OptimizeError as exc:
        raise UsageError(f"model: cannot convert {spec.model.artifact} to ONNX: {exc}") from None
    return result.path, _conversion_record(result, int(sample.shape[0]), where)


def _tabular_contract(conversion: dict[str, Any]) -> dict[str, Any]:
    """The runtime's task and labels for a converted tabular model."""
    if conversion["task"] == "classification":
        return {"task": "classification", "labels": conversion["classes"]}
    return {"task": "regression"}


def _quantize(
    spec: ResolvedSpec, fp32: Path, scratch: Path, rows: list[list[float]], labels: list[Any]
) -> tuple[Path, dict[str, Any]]:
    wanted = spec.model.quantize
    if wanted == "none":
        return fp32, {"requested": "none", "chosen": "fp32"}
    if wanted != "int8":
        return fp32, {
            "requested": wanted,
            "chosen": "fp32",
            "message": f"kept fp32: {wanted} quantisation is not supported by svai build yet",
        }
    if not rows:
        return fp32, {
            "requested": "int8",
            "chosen": "fp32",
            "message": "kept fp32: int8 needs an accuracy check, and the spec has no eval set "
            "(rollout.gates.eval_set) with model inputs to check it on",
        }
    import numpy as np
    import onnxruntime as ort

    from svai.build.optimize import Accuracy, ArgmaxAgreement, quantize_model

    session = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    feeds = {session.get_inputs()[0].name: np.asarray(rows, dtype=np.float32)}
    metric: Any
    if all(isinstance(label, int) and not isinstance(label, bool) for label in labels):
        metric = Accuracy(feeds, np.asarray(labels, dtype=np.int64))
    else:
        metric = ArgmaxAgreement(feeds)
    # A reproducible build decides on size and quality only: a timed speed ratio on a shared
    # machine would make the same inputs ship different bytes (`bench/bench_optimize.py`
    # measures the speed). The message therefore carries no timings either.
    result = quantize_model(
        fp32,
        scratch / "int8.onnx",
        metric=metric,
        feeds=feeds,
        tolerance=spec.model.max_accuracy_drop,
        min_speed_ratio=math.inf,
    )
    return result.path, _quantization_info(result)


def _quantize_folder(
    spec: ResolvedSpec, export: FolderExport, texts: Sequence[str], scratch: Path
) -> tuple[Path, dict[str, Any]]:
    """int8 for an exported Hugging Face folder, checked on ``texts`` against its fp32 export."""
    wanted = spec.model.quantize
    if wanted == "none":
        return export.model_path, {"requested": "none", "chosen": "fp32"}
    if wanted != "int8":
        message = f"kept fp32: {wanted} quantisation is not supported by svai build yet"
        return export.model_path, {"requested": wanted, "chosen": "fp32", "message": message}
    from svai.build.optimize.hf import quantize_folder

    result = quantize_folder(
        export, scratch / "int8.onnx", texts, tolerance=spec.model.max_accuracy_drop
    )
    if isinstance(result, str):
        return export.model_path, {"requested": "int8", "chosen": "fp32", "message": result}
    return result.path, _quantization_info(result)


def _quantization_info(result: Quantization) -> dict[str, Any]:
    """What the manifest records of an int8 decision (no timings: builds stay reproducible)."""
    return {
        "requested": "int8",
        "chosen": result.chosen,
        "verdict": result.verdict,
        "metric": result.metric,
        "fp32_score": result.fp32_score,
        "int8_score": result.int8_score,
        "fp32_bytes": result.fp32_bytes,
        "int8_bytes": result.int8_bytes,
        "message": _quantization_message(result),
    }


def _quantization_message(result: Quantization) -> str:
    """The verdict with the figures that do not vary from run to run (no timings)."""
    if result.verdict == "nothing_to_quantize":
        return str(result.message)
    scores = (
        f"{result.metric} {result.fp32_score:.4f} -> {result.int8_score:.4f} "
        f"(drop {result.quality_drop:.3g}, tolerance {result.tolerance:.3g})"
    )
    size = (
        f"{result.fp32_bytes:,} -> {result.int8_bytes:,} bytes ({result.size_ratio:.2f}x smaller)"
    )
    if result.verdict == "accuracy_drop":
        return f"kept fp32: the int8 quality drop exceeds the tolerance; {scores}; {size}"
    if result.verdict == "no_gain":
        return f"kept fp32: int8 gains nothing worth shipping here; {size}; {scores}"
    return f"shipping int8: {size}; {scores}"
