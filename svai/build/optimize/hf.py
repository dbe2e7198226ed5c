"""Export Hugging Face task folders (``save_pretrained``) to ONNX, checked against the pipeline.

Four tasks (:data:`svai.spec.formats.FOLDER_TASKS`, and sentence-transformers folders):

* text and token classification: the graph takes ``input_ids`` / ``attention_mask`` (and
  ``token_type_ids`` where the model has them) and returns ``logits``; the folder's
  ``tokenizer.json`` ships beside it and runs in the runtime with ``tokenizers``;
* image classification: the graph takes ``pixel_values``; the folder's image processor becomes
  the runtime config's ``processor`` (numpy + Pillow at serve time);
* sentence embeddings: :func:`svai.build.optimize.export_sentence_encoder` (pooling and
  normalisation inside the graph).

Labels come from ``config.id2label``; scores use the activation the pipeline uses (sigmoid for
multi-label or single-logit models, else softmax). Every export is then served through the
runtime's own task model (:mod:`svai.runtime.core.tasks`) and compared with the
``transformers`` pipeline (``SentenceTransformer.encode`` for embeddings) on the same inputs;
an export that differs by more than the tolerance is refused.

The exporter. Where it is installed, the maintained one: ``optimum-onnx``
(``optimum.exporters.onnx.main_export``). Its only release line (0.1.x) requires
``transformers<4.58`` and ``optimum~=2.1``, so it resolves with the ``hf-export`` extra's pins
(``optimum-onnx==0.1.0``, ``optimum==2.1.0``, ``transformers==4.57.6``,
``huggingface_hub==0.36.2``, ``tokenizers==0.22.2``) but not beside sentence-transformers 6,
which requires transformers 5 (svai's default environment). Without it, the graph is exported by
torch's own exporter (``torch.onnx.export``, TorchScript path, opset 17) from transformers'
``AutoModelFor<Task>`` class with eager attention -- the path the sentence encoder export
already takes. Either way the pipeline check above vouches for the export, and
``FolderExport.exporter`` names the path and the versions used.
"""

from __future__ import annotations

import inspect
import io
import json
import math
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from svai.build.optimize.canonical import save_model, sha256_file
from svai.build.optimize.encoder import (
    MODEL_FILE,
    TOKENIZER_FILE,
    export_sentence_encoder,
    token_limit,
    write_tokenizer,
)
from svai.build.optimize.errors import ConversionMismatchError, UnsupportedModelError
from svai.build.optimize.quality import ArgmaxAgreement, MeanCosine, QualityMetric
from svai.build.optimize.quantize import Quantization, quantize_model

__all__ = ["CHECK_TEXTS", "FolderExport", "check_images", "export_folder", "quantize_folder"]

OPSET = 17
TOLERANCE = 1e-4
"""Largest difference from the pipeline (scores; embedding components) an export may show."""

CHECK_TEXTS = (
    "The service was quick and the food was great.",
    "I would not go back: cold soup, rude staff.",
    "Marie Curie moved from Warsaw to Paris in 1891.",
    "ok",
    "Ünïcödé, punctuation -- and numbers 12,345.67!",
    "Alice and Bob met in London on Tuesday.",
)
"""Check inputs when the spec's eval set carries no texts."""

_AUTO_CLASSES = {
    "text-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "image-classification": "AutoModelForImageClassification",
}


@dataclass(frozen=True)
class FolderExport:
    """What :func:`export_folder` wrote and how closely it matches the source library.

    Attributes:
        task: The runtime task (``svai.runtime.core.tasks``).
        model_path: The fp32 ONNX graph.
        runtime: The runtime config's ``model`` keys for this task (labels, tokenizer, ...).
        files: Files that ship beside the model, package path -> local file.
        exporter: The export path and the library versions it ran with.
        reference: What the export was compared with.
        max_abs_diff: Largest difference from the reference on the check inputs.
        checked: How many inputs were compared.
        sha256: Hex digest of the ONNX file.
    """

    task: str
    model_path: Path
    runtime: dict[str, Any]
    files: dict[str, Path]
    exporter: str
    reference: str
    max_abs_diff: float
    checked: int
    sha256: str


def export_folder(
    folder: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    task: str,
    *,
    texts: Sequence[str] = CHECK_TEXTS,
    images: Sequence[bytes] = (),
    tolerance: float = TOLERANCE,
) -> FolderExport:
    """Export a ``save_pretrained`` folder for ``task`` and check it against its library.

    Args:
        folder: The local folder (nothing is downloaded).
        out_dir: Where to write ``model.onnx`` (and ``tokenizer.json``).
        task: ``text-classification``, ``token-classification``, ``image-classification`` or
            ``sentence-embedding`` (:func:`svai.spec.formats.folder_task` reads it).
        texts: Check inputs for text tasks.
        images: Check inputs (image file bytes) for image classification; default: seeded
            synthetic images.
        tolerance: Largest accepted difference from the reference.

    Returns:
        The :class:`FolderExport`.

    Raises:
        UnsupportedModelError: an image processor svai does not reproduce, missing files.
        ConversionMismatchError: the served answers differ from the library's.
    """
    source = Path(folder)
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    config = json.loads((source / "config.json").read_text("utf-8"))
    files: dict[str, Path] = {}
    if task == "sentence-embedding":
        export = export_sentence_encoder(source, target)
        model_path = export.model_path
        runtime: dict[str, Any] = {"max_length": export.max_seq_length}
        exporter = _exporter(
            f"torch.onnx.export (TorchScript, opset {OPSET}) via "
            "svai.build.optimize.export_sentence_encoder"
        )
    else:
        labels = _labels(config)
        runtime = {"labels": labels, "activation": _activation(config, task)}
        with tempfile.TemporaryDirectory(prefix="svai-hf-") as scratch:
            raw, exporter = _export_graph(source, Path(scratch), task, config)
            graph = onnx.load(str(raw))
            names = [i.name for i in graph.graph.input]
            model_path = save_model(
                graph,
                target / MODEL_FILE,
                metadata={"svai.task": task, "svai.inputs": ",".join(names)},
            )
        if task == "image-classification":
            runtime["processor"] = _processor(source)
    if task in ("text-classification", "token-classification"):
        runtime["max_length"] = token_limit(source, config)
        write_tokenizer(source / TOKENIZER_FILE, target / TOKENIZER_FILE, runtime["max_length"])
    if task != "image-classification":  # the encoder export writes its tokenizer itself
        runtime["tokenizer"] = TOKENIZER_FILE
        files[TOKENIZER_FILE] = target / TOKENIZER_FILE
    runtime["task"] = task
    inputs: Sequence[Any] = texts
    if task == "image-classification":
        inputs = images or check_images()
    reference, diff = _check(source, target, model_path, task, runtime, inputs)
    if not diff <= tolerance:  # NaN fails too
        raise ConversionMismatchError(
            f"{task} export of {source.name} differs from {reference} by {diff:.3g} (tolerance "
            f"{tolerance:.3g}) on {len(inputs)} inputs; refusing it",
            max_abs_diff=diff,
            tolerance=tolerance,
        )
    return FolderExport(
        task=task,
        model_path=model_path,
        runtime=runtime,
        files=files,
        exporter=exporter,
        reference=reference,
        max_abs_diff=diff,
        checked=len(inputs),
        sha256=sha256_file(model_path),
    )


def quantize_folder(
    export: FolderExport, int8_path: Path, texts: Sequence[str], tolerance: float
) -> Quantization | str:
    """Build the dynamic int8 variant of an exported text model and choose what ships.

    Sentence embeddings are scored by their mean cosine to the fp32 ones, text classifiers by
    how often their argmax agrees with fp32, on ``texts`` tokenised as the runtime tokenises
    them. The choice rests on quality and size only (no timing), so a build stays reproducible.

    Returns:
        The :class:`Quantization` verdict, or why this task keeps fp32.
    """
    if export.task not in ("sentence-embedding", "text-classification"):
        return (
            f"kept fp32: int8 of {export.task} folders is not checked by svai build yet "
            "(it scores sentence embeddings and text classifiers)"
        )
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(export.files[TOKENIZER_FILE]))
    tokenizer.enable_truncation(int(export.runtime["max_length"]))
    tokenizer.enable_padding()
    encoded = tokenizer.encode_batch(list(texts))
    columns = {
        "input_ids": [e.ids for e in encoded],
        "attention_mask": [e.attention_mask for e in encoded],
        "token_type_ids": [e.type_ids for e in encoded],
    }
    session = ort.InferenceSession(str(export.model_path), providers=["CPUExecutionProvider"])
    feeds = {i.name: np.asarray(columns[i.name], dtype=np.int64) for i in session.get_inputs()}
    metric: QualityMetric
    if export.task == "sentence-embedding":
        metric = MeanCosine(feeds, output=session.get_outputs()[0].name)
    else:
        metric = ArgmaxAgreement(feeds, output=session.get_outputs()[0].name)
    return quantize_model(
        export.model_path,
        int8_path,
        metric=metric,
        feeds={name: rows[:1] for name, rows in feeds.items()},
        tolerance=tolerance,
        min_speed_ratio=math.inf,
    )


def _exporter(path: str, names: Sequence[str] = ("torch", "transformers")) -> str:
    import importlib.metadata

    versions = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in names)
    return f"{path}; {versions}"


def _export_graph(
    source: Path, scratch: Path, task: str, config: dict[str, Any]
) -> tuple[Path, str]:
    """Export the folder's graph with optimum-onnx where installed, else with torch's exporter.

    Returns:
        The ONNX file written under ``scratch`` and the exporter's description.
    """
    try:
        from optimum.exporters.onnx import main_export  # type: ignore[import-not-found]
    except ImportError:
        raw = scratch / "raw.onnx"
        _torch_export(source, raw, task, config)
        via = f"transformers.{_AUTO_CLASSES[task]}"
        return raw, _exporter(f"torch.onnx.export (TorchScript, opset {OPSET}) via {via}")
    out = scratch / "optimum"
    # svai checks the served export against the pipeline itself (stricter: the whole path).
    main_export(
        str(source), output=str(out), task=task, opset=OPSET, device="cpu", do_validation=False
    )
    versions = ("optimum-onnx", "optimum", "torch", "transformers")
    return out / "model.onnx", _exporter(
        f"optimum-onnx (optimum.exporters.onnx.main_export, opset {OPSET})", versions
    )


def _labels(config: dict[str, Any]) -> list[str]:
    id2label = config.get("id2label") or {}
    try:
        ordered = sorted((int(k), str(v)) for k, v in id2label.items())
    except ValueError:
        raise UnsupportedModelError("config.json: id2label keys must be class numbers") from None
    if not ordered or [k for k, _ in ordered] != list(range(len(ordered))):
        raise UnsupportedModelError(
            "config.json: id2label must name every class 0..n-1 (the response's label names)"
        )
    return [name for _, name in ordered]


def _activation(config: dict[str, Any], task: str) -> str:
    """The pipeline's rule: sigmoid for multi-label or single-logit classifiers, else softmax."""
    if task == "token-classification":
        return "softmax"
    multi = config.get("problem_type") == "multi_label_classification"
    return "sigmoid" if multi or len(config.get("id2label") or {}) == 1 else "softmax"


_STANDARD_PROCESSORS = frozenset({"ViT", "DeiT", "CLIP", "Bit", "MobileNetV1", "Siglip"})
"""Image processors that resize, crop, rescale and normalise in that order and nothing else
(transformers' PIL backend, no overrides); ConvNeXT's ``crop_pct`` is read separately."""


def _processor(source: Path) -> dict[str, Any]:
    """The runtime's ``model.processor`` from the folder's ``preprocessor_config.json``.

    Reproduced: a fixed-size resize (ViT), a shortest-edge resize then a center crop (CLIP,
    BiT, DeiT-style crops) and ConvNeXT's ``crop_pct`` (resize the shortest edge to
    ``size / crop_pct``, crop ``size``; from 384 on a plain resize), as transformers does.
    """
    settings = json.loads((source / "preprocessor_config.json").read_text("utf-8"))
    kind = str(settings.get("image_processor_type") or settings.get("feature_extractor_type"))
    family = re.sub(r"(ImageProcessor|FeatureExtractor)(Fast|Pil)?$", "", kind)
    if family not in _STANDARD_PROCESSORS | {"ConvNext"}:
        known = ", ".join(sorted(_STANDARD_PROCESSORS | {"ConvNext"}))
        raise UnsupportedModelError(
            f"preprocessor_config.json: image_processor_type {kind!r}; svai reproduces the "
            f"image processors of {known} (resize, center crop, rescale, normalise)"
        )
    if settings.get("do_pad"):
        raise UnsupportedModelError(
            "preprocessor_config.json: do_pad is not reproduced by svai's image processor"
        )
    resize: dict[str, Any] = {"size": None, "shortest_edge": None}
    if settings.get("do_resize", True):
        resize = _resize(settings.get("size"), family, settings)
    crop = resize.pop("crop", None)
    if settings.get("do_center_crop"):
        if crop is not None:
            raise UnsupportedModelError(
                "preprocessor_config.json: crop_pct and do_center_crop together are not "
                "reproduced by svai's image processor"
            )
        crop = _height_width(settings.get("crop_size"), "crop_size")
    if resize["shortest_edge"] is not None and crop is None:
        raise UnsupportedModelError(
            "preprocessor_config.json: a shortest-edge resize with no center crop gives every "
            "image its own size; svai serves processors whose output has one fixed size"
        )
    normalize = settings.get("do_normalize", True)
    return {
        **resize,
        "crop": crop,
        "resample": int(settings.get("resample", 2)),
        "rescale": float(settings.get("rescale_factor", 1 / 255))
        if settings.get("do_rescale", True)
        else None,
        "mean": [float(v) for v in settings["image_mean"]] if normalize else None,
        "std": [float(v) for v in settings["image_std"]] if normalize else None,
    }


def _resize(size: Any, family: str, settings: dict[str, Any]) -> dict[str, Any]:
    if isinstance(size, dict) and set(size) == {"shortest_edge"}:
        edge = int(size["shortest_edge"])
        if family == "ConvNext":
            if edge >= 384:  # ConvNeXT warps large sizes to a square
                return {"size": [edge, edge], "shortest_edge": None}
            crop_pct = float(settings.get("crop_pct", 224 / 256))
            return {"size": None, "shortest_edge": int(edge / crop_pct), "crop": [edge, edge]}
        return {"size": None, "shortest_edge": edge}
    if family == "ConvNext":
        raise UnsupportedModelError(
            f"preprocessor_config.json: size {size!r}; ConvNeXT processors take "
            '{"shortest_edge": n}'
        )
    return {"size": _height_width(size, "size"), "shortest_edge": None}


def _height_width(size: Any, field: str) -> list[int]:
    if not (isinstance(size, dict) and set(size) == {"height", "width"}):
        raise UnsupportedModelError(
            f"preprocessor_config.json: {field} {size!r}; svai reproduces a fixed height and "
            'width ({"height": h, "width": w}) or, for the resize, {"shortest_edge": n}'
        )
    return [int(size["height"]), int(size["width"])]


def _torch_export(source: Path, destination: Path, task: str, config: dict[str, Any]) -> None:
    """Export ``AutoModelFor<Task>`` to ONNX with torch's exporter."""
    import torch
    import transformers

    auto = getattr(transformers, _AUTO_CLASSES[task])
    # Eager attention exports as plain MatMul/Softmax; the SDPA path exports patterns that
    # onnxruntime does not fuse.
    model = auto.from_pretrained(str(source), attn_implementation="eager")
    model.eval()
    if task == "image-classification":
        # The graph's spatial size is what the processor hands it (a ResNet config has none).
        processor = _processor(source)
        size = config.get("image_size", 224)
        height, width = processor["crop"] or processor["size"] or (size, size)
        names = ["pixel_values"]
        channels = config.get("num_channels", 3)
        dummy: tuple[Any, ...] = (torch.zeros((2, channels, height, width)),)
        dynamic = {"pixel_values": {0: "batch"}, "logits": {0: "batch"}}
    else:
        accepted = inspect.signature(model.forward).parameters
        names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted]
        dummy = tuple(
            torch.zeros((2, 8), dtype=torch.int64)
            if name == "token_type_ids"
            else torch.ones((2, 8), dtype=torch.int64)
            for name in names
        )
        dynamic = {name: {0: "batch", 1: "sequence"} for name in names}
        per_token = task == "token-classification"
        dynamic["logits"] = {0: "batch", 1: "sequence"} if per_token else {0: "batch"}

    class _Logits(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            logits: torch.Tensor = self.inner(**dict(zip(names, tensors, strict=True))).logits
            return logits

    with torch.no_grad():
        torch.onnx.export(
            _Logits(model),
            dummy,
            str(destination),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def check_images(count: int = 4) -> list[bytes]:
    """Seeded synthetic PNGs in a few sizes: check inputs when the eval set has no images."""
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        pixels = rng.integers(0, 256, size=(48 + 16 * i, 64 - 8 * i, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def _check(
    source: Path,
    exported: Path,
    model_path: Path,
    task: str,
    runtime: dict[str, Any],
    inputs: Sequence[Any],
) -> tuple[str, float]:
    """Serve ``inputs`` through the runtime's task model and compare with the library."""
    import base64

    from svai.runtime.core.config import ModelConfig
    from svai.runtime.core.tasks import load_task_model

    settings = {k: v for k, v in runtime.items() if k != "tokenizer"}
    if "labels" in settings:
        settings["labels"] = tuple(settings["labels"])
    cfg = ModelConfig(path=MODEL_FILE, version="check", **settings)
    tokenizer = exported / TOKENIZER_FILE if "tokenizer" in runtime else None
    served = load_task_model(cfg, model_path, tokenizer)
    if task == "image-classification":
        encoded = [base64.b64encode(data).decode() for data in inputs]
        (answers,) = served.run_batch([served.to_feeds(encoded)])
    else:
        (answers,) = served.run_batch([served.to_feeds(list(inputs))])
    if task == "sentence-embedding":
        return "sentence-transformers encode", _compare_embeddings(source, inputs, answers)
    import transformers

    # Typed per task literal upstream; the task here is a runtime value.
    pipeline: Any = transformers.pipeline
    if task == "image-classification":
        from PIL import Image

        pipe = pipeline(task, model=str(source), device=-1)
        pictures = [Image.open(io.BytesIO(data)).convert("RGB") for data in inputs]
        return "transformers pipeline", _compare_classes(pipe(pictures, top_k=None), answers)
    pipe = pipeline(task, model=str(source), tokenizer=str(source), device=-1)
    if task == "text-classification":
        return "transformers pipeline", _compare_classes(pipe(list(inputs), top_k=None), answers)
    expected = [pipe(text, aggregation_strategy="simple") for text in inputs]
    return "transformers pipeline (aggregation simple)", _compare_spans(expected, answers)


def _compare_classes(expected: list[list[dict[str, Any]]], answers: list[Any]) -> float:
    diff = 0.0
    for want, got in zip(expected, answers, strict=True):
        for item in want:
            diff = max(diff, abs(float(item["score"]) - got["scores"][item["label"]]))
        top = sorted(want, key=lambda item: -float(item["score"]))
        # Near-ties may legitimately order either way; anything else must agree.
        clear = len(top) < 2 or float(top[0]["score"]) - float(top[1]["score"]) > TOLERANCE
        if clear and got["label"] != top[0]["label"]:
            return float("inf")
    return diff


def _compare_spans(expected: list[list[dict[str, Any]]], answers: list[Any]) -> float:
    diff = 0.0
    for want, got in zip(expected, answers, strict=True):
        spans = got["spans"]
        shape = [(w["entity_group"], int(w["start"]), int(w["end"])) for w in want]
        if shape != [(s["label"], s["start"], s["end"]) for s in spans]:
            return float("inf")
        for w, s in zip(want, spans, strict=True):
            diff = max(diff, abs(float(w["score"]) - s["score"]))
    return diff


def _compare_embeddings(source: Path, texts: Sequence[str], answers: list[Any]) -> float:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(source), device="cpu").encode(
        list(texts), convert_to_numpy=True
    )
    got = np.asarray([answer["embedding"] for answer in answers], dtype=np.float64)
    return float(np.max(np.abs(got - np.asarray(reference, dtype=np.float64))))
