"""Which model formats svai serves, and what to do with the rest: one home for the fact.

svai serves every model as ONNX behind the I/O contract of its task. It takes:

* an ONNX file (``.onnx``, any ``framework``), served as it is;
* a trusted scikit-learn / XGBoost / LightGBM pickle (``.pkl``, ``.pickle``, ``.joblib``);
* the boosters' own files: XGBoost ``.json`` / ``.ubj``, LightGBM ``.txt``, CatBoost ``.cbm``;
* a Hugging Face folder as ``save_pretrained`` writes it (``framework: transformers``): a text
  classifier, a token classifier or an image classifier (``config.json`` names a
  ``*ForSequenceClassification`` / ``*ForTokenClassification`` / ``*ForImageClassification``
  architecture), or a sentence-transformers folder (``modules.json``) for embeddings.

The loader refuses a local artifact outside that list (``model-unservable``, so ``validate`` and
``plan`` stop with the reason and what would work); ``svai check`` flags a remote one whose
framework and name already show it (``SVAI_READY_017``); ``svai build`` dispatches on the same
table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from svai.spec.paths import escape

__all__ = [
    "BOOSTER_FORMATS",
    "FOLDER_TASKS",
    "PICKLE_SUFFIXES",
    "Unservable",
    "artifact_problem",
    "folder_problem",
    "folder_task",
]

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
"""Pickle-family files svai converts (scikit-learn API estimators, behind ``model.trust``)."""

BOOSTER_FORMATS = {".json": "xgboost", ".ubj": "xgboost", ".txt": "lightgbm", ".cbm": "catboost"}
"""A booster library's own file format, by suffix."""

FOLDER_TASKS = {
    "ForSequenceClassification": "text-classification",
    "ForTokenClassification": "token-classification",
    "ForImageClassification": "image-classification",
}
"""The end of a ``config.json`` architecture name -> the task svai serves it as."""

TEXT_MODEL_TYPES = ("bert", "roberta", "distilbert", "xlm-roberta", "electra", "albert", "mpnet")
"""Encoder families whose exported graphs take ``input_ids`` / ``attention_mask``."""

IMAGE_MODEL_TYPES = ("vit", "deit", "convnext", "convnextv2", "resnet", "regnet", "swin", "dinov2")
"""Image classifiers whose exported graph takes ``pixel_values`` and answers ``logits``; the
build refuses a processor it does not reproduce (``svai/build/optimize/hf.py``) and checks the
served answers against the pipeline."""

_TABULAR = ("sklearn", "xgboost", "lightgbm")

_SERVED = (
    "svai serves an ONNX file; a trusted scikit-learn / XGBoost / LightGBM pickle; XGBoost "
    ".json/.ubj, LightGBM .txt and CatBoost .cbm files; and Hugging Face save_pretrained "
    "folders (text, token and image classifiers, sentence-transformers encoders)"
)

# The spec's coarse `task` and the folder's task must agree where the spec names one.
_SPEC_TASKS = {
    "text-classification": (None, "classification", "other"),
    "token-classification": (None, "classification", "other"),
    "image-classification": (None, "classification", "vision", "other"),
    "sentence-embedding": (None, "embedding", "other"),
}


@dataclass(frozen=True, slots=True)
class Unservable:
    """Why svai cannot serve a model, and what would work instead."""

    reason: str
    hint: str


def artifact_problem(framework: str, artifact: str) -> Unservable | None:
    """Judge a model from its framework and its artifact's name alone (local or remote).

    Returns:
        The problem, or ``None`` when the name fits a format svai serves (a folder is judged
        by :func:`folder_problem` once it can be read).
    """
    remote = "://" in artifact
    name = PurePosixPath(artifact.split("?", 1)[0].split("#", 1)[0].split("@", 1)[0]).name
    suffix = PurePosixPath(name).suffix.lower()
    if suffix == ".onnx":
        return None
    if framework == "onnx":
        if artifact.startswith("hf://"):
            return None  # a hub repository that holds the ONNX file
        return Unservable(f"{name} is not an ONNX file", "point `model.artifact` at the .onnx file")
    if framework in ("pytorch", "custom"):
        return Unservable(
            f"svai has no engine for {framework} artifacts ({name})",
            "export the model to ONNX (torch.onnx.export) and set `framework: onnx`, or save a "
            "transformers model with save_pretrained and set `framework: transformers`",
        )
    if framework == "transformers":
        if remote or not suffix:
            return None  # a folder (read once it is here), or an object the engines read
        return Unservable(
            f"{name} is a file; svai reads a Hugging Face model as the folder save_pretrained "
            "writes",
            "point `model.artifact` at the folder (config.json, weights, tokenizer.json or "
            "preprocessor_config.json)",
        )
    native = BOOSTER_FORMATS.get(suffix)
    if native == framework or (suffix in PICKLE_SUFFIXES and framework in _TABULAR):
        return None
    if native is not None:
        return Unservable(
            f"{name} is {native}'s file format, but `framework` says {framework}",
            f"set `framework: {native}`",
        )
    return Unservable(
        f"{name} is not a format svai reads for {framework} models", _tabular_hint(framework)
    )


def _tabular_hint(framework: str) -> str:
    if framework == "catboost":
        return "save it with `model.save_model('model.cbm')` and point `model.artifact` at it"
    native = {"xgboost": "a .json or .ubj file", "lightgbm": "a .txt file"}.get(framework)
    if native is None:
        return "export it to ONNX (skl2onnx), or give a trusted pickle (`model.trust`)"
    return f"save it with `save_model` as {native}, or give a trusted pickle (`model.trust`)"


def folder_task(project: Path, relative: str) -> str | Unservable:
    """Read a ``save_pretrained`` folder's task, or say why svai cannot serve it.

    Args:
        project: The spec's folder.
        relative: The folder, relative to ``project`` (files are read under the path policy).

    Returns:
        ``text-classification``, ``token-classification``, ``image-classification`` or
        ``sentence-embedding``; or the problem.
    """
    folder = project.resolve().joinpath(*PurePosixPath(relative).parts)
    modules = _read_json(project, f"{relative}/modules.json", list)
    config = _read_json(project, f"{relative}/config.json", dict)
    if isinstance(config, Unservable):
        return config
    if config is None:
        return Unservable(
            f"{relative} has no config.json, so it is not a save_pretrained folder",
            "save the model with `model.save_pretrained(folder)` (and its tokenizer or image "
            "processor into the same folder)",
        )
    model_type = str(config.get("model_type", ""))
    if isinstance(modules, Unservable):
        return modules
    if modules is not None:
        task = "sentence-embedding"
    else:
        architectures = config.get("architectures") or [""]
        found = [t for end, t in FOLDER_TASKS.items() if str(architectures[0]).endswith(end)]
        if not found:
            return Unservable(
                f"{relative} holds a {architectures[0] or 'bare'} model; svai serves Hugging Face "
                "folders for text, token and image classification and sentence-transformers "
                "encoders",
                "export this model to ONNX yourself and set `framework: onnx` (it then answers "
                "with its graph's outputs)",
            )
        task = found[0]
    families = IMAGE_MODEL_TYPES if task == "image-classification" else TEXT_MODEL_TYPES
    if model_type not in families:
        return Unservable(
            f"{relative} is a {model_type or 'unknown'} model; svai exports "
            f"{', '.join(families)} models for {task}",
            "export this model to ONNX yourself and set `framework: onnx`",
        )
    needed = "preprocessor_config.json" if task == "image-classification" else "tokenizer.json"
    if not (folder / needed).is_file():
        what = "image processor" if needed.startswith("pre") else "fast tokenizer"
        return Unservable(
            f"{relative} has no {needed}; the runtime needs the {what} beside the model",
            f"save it into the folder too: `{'processor' if what[0] == 'i' else 'tokenizer'}"
            ".save_pretrained(folder)`",
        )
    return task


def folder_problem(project: Path, relative: str, spec_task: str | None) -> Unservable | None:
    """:func:`folder_task`, and whether it agrees with the spec's ``model.task``."""
    task = folder_task(project, relative)
    if isinstance(task, Unservable):
        return task
    if spec_task not in _SPEC_TASKS[task]:
        return Unservable(
            f"{relative} is a {task} model, but `model.task` says {spec_task}",
            f"set `model.task` to one of {', '.join(str(t) for t in _SPEC_TASKS[task] if t)}",
        )
    return None


def _read_json(project: Path, relative: str, kind: type) -> Any:
    """A JSON ``kind`` from the project, ``None`` when absent; a link out of it is refused."""
    reason = escape(project, relative)
    if reason is not None:
        return Unservable(reason, "keep the model's files inside the folder of svai.yaml")
    path = project.resolve().joinpath(*PurePosixPath(relative).parts)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return Unservable(f"{relative} is not readable JSON ({exc})", "save the folder again")
    if not isinstance(data, kind):
        return Unservable(f"{relative} is not a JSON {kind.__name__}", "save the folder again")
    return data
