"""The I/O contract per task: what ``inputs`` holds and what each answer looks like.

``svai build`` records the task in ``svai_runtime.json`` (``model.task``); every transport
(HTTP server, Lambda, queue worker, ``svai bench``, the eval set) then speaks the same shapes. A
request is ``{"inputs": X}`` or ``{"instances": [x, ...]}``; the answer's ``outputs`` (or
``predictions``) holds one item per input, in order -- one input alone is a list of one:

================================  ===========================  =================================
task                              one input                    one answer
================================  ===========================  =================================
``classification`` (tabular)      a row of numbers             ``{"label", "score", "scores"}``
``regression`` (tabular)          a row of numbers             ``{"value"}``
``text-classification``           a string                     ``{"label", "score", "scores"}``
``token-classification``          a string                     ``{"spans": [{"label", "score",
                                                               "start", "end", "text"}]}``
``sentence-embedding``            a string                     ``{"embedding": [...]}``
``image-classification``          base64 image or ``{"b64"}``  ``{"label", "score", "scores"}``
``raw`` (an ONNX file as given)   an array, or an object by    the graph's outputs by name
                                  input name
================================  ===========================  =================================

``label`` is the class name (``config.id2label`` for Hugging Face models, the classes the
booster or estimator was trained on for tabular ones), ``score`` its probability and ``scores``
every class's probability by name. Spans are character offsets into the input string, grouped
the way the ``transformers`` pipeline's ``aggregation_strategy="simple"`` groups them (``O``
tokens left out). Embeddings come out pooled and L2-normalised by the exported graph, as
sentence-transformers gives them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from svai.runtime.core.config import ModelConfig
from svai.runtime.core.errors import ConfigError, ModelRefusedError
from svai.runtime.core.model import (
    Model,
    OnnxModel,
    load_model,
    text_inputs,
    text_tokenizer,
    token_feeds,
)

__all__ = ["load_task_model"]


def load_task_model(cfg: ModelConfig, path: Path, tokenizer: Path | None = None) -> Model:
    """Load the model and put its task's contract around it (``raw``: the model as it is).

    Raises:
        ModelRefusedError: a task model that is not ONNX, or whose graph lacks the inputs the
            task feeds.
        ConfigError: a missing file.
    """
    model = load_model(cfg, path, tokenizer)
    if cfg.task == "raw":
        return model
    if not isinstance(model, OnnxModel):
        raise ModelRefusedError(f"{path.name}: task {cfg.task} needs an ONNX model")
    if cfg.task in ("classification", "regression"):
        return TabularModel(cfg, model)
    if cfg.task == "image-classification":
        return ImageClassifier(cfg, model)
    if tokenizer is None:
        raise ConfigError(f"model.tokenizer: required for task {cfg.task}")
    return TextModel(cfg, model, tokenizer)


def _probabilities(logits: np.ndarray, activation: str) -> np.ndarray:
    values = logits.astype(np.float64)
    if activation == "sigmoid":
        return np.asarray(1.0 / (1.0 + np.exp(-values)))
    shifted = np.exp(values - values.max(axis=-1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=-1, keepdims=True))


def _classified(probabilities: np.ndarray, labels: Sequence[str | int]) -> list[dict[str, Any]]:
    if probabilities.shape[-1] != len(labels):
        raise ModelRefusedError(
            f"the model gives {probabilities.shape[-1]} scores per input but model.labels "
            f"names {len(labels)} classes"
        )
    names = [str(label) for label in labels]
    best = probabilities.argmax(axis=-1)
    return [
        {
            "label": labels[int(index)],
            "score": float(row[index]),
            "scores": dict(zip(names, row.tolist(), strict=True)),
        }
        for row, index in zip(probabilities, best, strict=True)
    ]


class TabularModel:
    """A converted tabular classifier or regressor: rows in, labelled answers out."""

    def __init__(self, cfg: ModelConfig, model: OnnxModel) -> None:
        self.model = model
        self.task = cfg.task
        self.labels = cfg.labels
        names = model.output_names
        wanted = "probabilities" if cfg.task == "classification" else names[0]
        self.output = wanted if wanted in names else names[-1]
        if cfg.task == "classification" and not self.labels:
            raise ConfigError("model.labels: required for task classification")

    def to_feeds(self, inputs: Any) -> Any:
        """Rows, as the raw model takes them."""
        return self.model.to_feeds(inputs)

    def run_batch(self, batch: Sequence[Any]) -> list[Any]:
        """Run the rows and turn each request's outputs into one answer per row."""
        return [self._answer(raw) for raw in self.model.run_batch(batch)]

    def _answer(self, raw: dict[str, Any]) -> list[dict[str, Any]]:
        values = np.asarray(raw[self.output], dtype=np.float64)
        if self.task == "classification":
            return _classified(values.reshape(values.shape[0], -1), self.labels)
        rows = values.reshape(values.shape[0], -1)
        return [{"value": float(r[0]) if r.size == 1 else r.tolist()} for r in rows]

    def warmup(self) -> None:
        """Warm the underlying session."""
        self.model.warmup()


class TextModel:
    """A transformer over text, fed by the ``tokenizers`` tokenizer shipped beside it.

    ``inputs`` is a string or a non-empty list of strings; every request's texts are tokenised
    together (padded to the longest) and run as one batch.
    """

    def __init__(self, cfg: ModelConfig, model: OnnxModel, tokenizer: Path) -> None:
        self.task = cfg.task
        self.labels = cfg.labels
        self.activation = cfg.activation
        self.session = model.session
        self.tokenizer = text_tokenizer(tokenizer, cfg.max_length)
        self.input_names = [name for name, _, _ in model.inputs]
        missing = {"input_ids", "attention_mask"} - set(self.input_names)
        if missing:
            raise ModelRefusedError(
                f"task {cfg.task} feeds input_ids and attention_mask; the graph lacks "
                f"{sorted(missing)}"
            )
        self.output = model.output_names[0]

    def to_feeds(self, inputs: Any) -> list[str]:
        """Accept one string or a non-empty list of strings."""
        return text_inputs(inputs)

    def run_batch(self, batch: Sequence[list[str]]) -> list[Any]:
        """Tokenise every request's texts together, run once, answer per request."""
        texts = [text for texts in batch for text in texts]
        encodings = self.tokenizer.encode_batch(texts)
        feeds = token_feeds(encodings, self.input_names)
        (raw,) = self.session.run([self.output], feeds)
        answers = self._answers(np.asarray(raw), texts, encodings)
        out: list[Any] = []
        start = 0
        for texts_ in batch:
            out.append(answers[start : start + len(texts_)])
            start += len(texts_)
        return out

    def _answers(self, raw: np.ndarray, texts: list[str], encodings: list[Any]) -> list[Any]:
        if self.task == "sentence-embedding":
            return [{"embedding": row.tolist()} for row in raw.astype(np.float32)]
        if self.task == "text-classification":
            return _classified(_probabilities(raw, self.activation), self.labels)
        scores = _probabilities(raw, "softmax")
        return [
            {"spans": self._spans(text, encoding, token_scores)}
            for text, encoding, token_scores in zip(texts, encodings, scores, strict=True)
        ]

    def _spans(self, text: str, encoding: Any, scores: np.ndarray) -> list[dict[str, Any]]:
        # Mirrors transformers' TokenClassificationPipeline with aggregation_strategy="simple":
        # each non-special token takes its best label; adjacent tokens of one entity type merge
        # unless the later one opens a new entity (B-); the group scores the mean of its tokens.
        tokens = []
        for index, (special, mask) in enumerate(
            zip(encoding.special_tokens_mask, encoding.attention_mask, strict=True)
        ):
            if special or not mask:
                continue
            best = int(scores[index].argmax())
            start, end = encoding.offsets[index]
            tokens.append((str(self.labels[best]), float(scores[index][best]), start, end))
        groups: list[list[tuple[str, float, int, int]]] = []
        for token in tokens:
            opens, tag = _tag(token[0])
            if groups and tag == _tag(groups[-1][-1][0])[1] and not opens:
                groups[-1].append(token)
            else:
                groups.append([token])
        spans = []
        for group in groups:
            label = group[0][0].split("-", 1)[-1]
            if label == "O":
                continue
            start, end = group[0][2], group[-1][3]
            spans.append(
                {
                    "label": label,
                    "score": float(np.mean([token[1] for token in group])),
                    "start": start,
                    "end": end,
                    "text": text[start:end],
                }
            )
        return spans

    def warmup(self) -> None:
        """Run one short text."""
        self.run_batch([["warm up"]])


def _tag(label: str) -> tuple[bool, str]:
    """``(opens a new entity, entity type)`` of a token label such as ``B-PER``."""
    if label.startswith(("B-", "I-")):
        return label.startswith("B-"), label[2:]
    return False, label


class ImageClassifier:
    """An image classifier: base64 images in, labelled answers out (numpy + Pillow only)."""

    def __init__(self, cfg: ModelConfig, model: OnnxModel) -> None:
        from svai.runtime.core.images import ImageProcessor

        assert cfg.processor is not None  # the config check requires it for this task
        self.processor = ImageProcessor(cfg.processor)
        self.labels = cfg.labels
        self.activation = cfg.activation
        self.session = model.session
        self.input, _, self._shape = model.inputs[0]
        self.output = model.output_names[0]

    def to_feeds(self, inputs: Any) -> np.ndarray:
        """Decode and process the request's images (a 422 for anything that is not one)."""
        from svai.runtime.core.images import decode_images

        return self.processor(decode_images(inputs))

    def run_batch(self, batch: Sequence[np.ndarray]) -> list[Any]:
        """Run every request's images as one batch; answer per request."""
        pixels = np.concatenate(list(batch)) if len(batch) > 1 else batch[0]
        (logits,) = self.session.run([self.output], {self.input: pixels})
        answers = _classified(_probabilities(np.asarray(logits), self.activation), self.labels)
        out: list[Any] = []
        start = 0
        for request in batch:
            out.append(answers[start : start + request.shape[0]])
            start += request.shape[0]
        return out

    def warmup(self) -> None:
        """Classify one black image the size of the processor's output (or the graph's input)."""
        fixed = [d if isinstance(d, int) and d > 0 else 32 for d in self._shape[2:4]]
        height, width = self.processor.crop or self.processor.size or (fixed[0], fixed[1])
        pixels = np.zeros((1, 3, height, width), dtype=np.float32)
        self.session.run([self.output], {self.input: pixels})
