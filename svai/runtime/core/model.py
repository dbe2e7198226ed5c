"""Model loaders: ONNX (onnxruntime), ONNX text encoders (+ ``tokenizers``), trusted pickles.

Every loader returns a ``Model``: it turns the JSON ``inputs`` of one request into model feeds
(``to_feeds``, where shape and type errors become a 422 naming the field) and runs a list of
feeds as one batch (``run_batch``), returning one JSON-ready output mapping per request.
Batched and unbatched runs give identical outputs: rows are concatenated along axis 0 only when
every request's trailing shapes agree, and split back by row counts.

Pickle-family files (``.pkl``, ``.pickle``, ``.joblib``, ``.pt``, ``.pth``) run code when loaded,
so they are refused unless the config sets ``trust_pickle`` and pins a ``sha256`` that matches
the file; the hash is checked before a single byte is unpickled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from svai.runtime.core.config import ModelConfig
from svai.runtime.core.errors import ConfigError, InvalidInputError, ModelRefusedError

__all__ = [
    "PICKLE_SUFFIXES",
    "Model",
    "OnnxModel",
    "PickleModel",
    "TextEncoderModel",
    "check_sha256",
    "load_model",
    "text_inputs",
    "text_tokenizer",
    "token_feeds",
]

PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".pt", ".pth"})
_ONNX_DTYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}
_GRAPH_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC"}
_GRAPH_LEVELS |= {"extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}

Feeds = Any
Outputs = dict[str, Any]


class Model(Protocol):
    """What the service needs from a loaded model."""

    def to_feeds(self, inputs: Any) -> Feeds:
        """Convert the JSON ``inputs`` of one request; raise ``InvalidInputError`` if wrong."""
        ...

    def run_batch(self, batch: Sequence[Feeds]) -> list[Any]:
        """Run several requests' feeds, returning one JSON-ready answer per request."""
        ...

    def warmup(self) -> None:
        """Run one inference on a dummy input so the first real request is not slower."""
        ...


def check_sha256(path: Path, expected: str) -> None:
    """Raise ``ModelRefusedError`` unless the file's SHA-256 equals ``expected``.

    Args:
        path: file to hash.
        expected: hex digest, optionally prefixed ``sha256:``.
    """
    with path.open("rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    want = expected.removeprefix("sha256:").lower()
    if digest != want:
        raise ModelRefusedError(f"{path.name}: sha256 {digest} does not match the pinned {want}")


def load_model(cfg: ModelConfig, path: Path, tokenizer: Path | None = None) -> Model:
    """Load the model described by ``cfg`` from ``path``.

    Args:
        cfg: the ``model`` section of the runtime config.
        path: the model file, already resolved against the artifact directory.
        tokenizer: ``tokenizer.json`` for text encoders.

    Returns:
        The loaded model (not yet warmed up).

    Raises:
        ModelRefusedError: a pickle-family file without trust and a matching hash, or an
            unsupported format.
        ConfigError: the file is missing.
    """
    if not path.is_file():
        raise ConfigError(f"model.path: {path} does not exist")
    is_pickle = path.suffix.lower() in PICKLE_SUFFIXES or cfg.framework == "pickle"
    if is_pickle:
        if not cfg.trust_pickle or not cfg.sha256:
            raise ModelRefusedError(
                f"{path.name}: pickle-family models run code when loaded; set "
                "model.trust_pickle and pin model.sha256 to load it (or convert it to ONNX)"
            )
        check_sha256(path, cfg.sha256)
        if path.suffix.lower() in (".pt", ".pth") or cfg.framework != "pickle":
            raise ModelRefusedError(
                f"{path.name}: only scikit-learn style pickles (framework 'pickle', .pkl/.joblib)"
                " are served directly; export other models to ONNX at build time"
            )
        return PickleModel(path)
    if cfg.sha256:
        check_sha256(path, cfg.sha256)
    if cfg.framework == "onnx-text-encoder":
        if tokenizer is None:
            raise ConfigError("model.tokenizer: required for framework onnx-text-encoder")
        return TextEncoderModel(cfg, path, tokenizer)
    return OnnxModel(cfg, path)


def _session(cfg: ModelConfig, path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = cfg.intra_op_threads
    opts.inter_op_num_threads = cfg.inter_op_threads
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = getattr(
        ort.GraphOptimizationLevel, _GRAPH_LEVELS[cfg.graph_optimization]
    )
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


class OnnxModel:
    """An ONNX model served by onnxruntime; inputs are row-major arrays with a batch axis."""

    def __init__(self, cfg: ModelConfig, path: Path) -> None:
        self.session = _session(cfg, path)
        self.inputs = [
            (i.name, _ONNX_DTYPES.get(i.type), i.shape) for i in self.session.get_inputs()
        ]
        self.output_names = [o.name for o in self.session.get_outputs()]
        for name, dtype, _ in self.inputs:
            if dtype is None:
                raise ModelRefusedError(f"{path.name}: input {name!r} has an unsupported type")

    def to_feeds(self, inputs: Any) -> dict[str, np.ndarray]:
        """Convert ``inputs`` (an array for one-input models, else an object by input name)."""
        if len(self.inputs) == 1 and not isinstance(inputs, dict):
            name, dtype, shape = self.inputs[0]
            return {name: self._array(inputs, dtype, shape, "$.inputs")}
        if not isinstance(inputs, dict):
            raise InvalidInputError(
                "$.inputs: this model has several inputs; send an object keyed by input name",
                path="$.inputs",
            )
        names = {n for n, _, _ in self.inputs}
        for key in inputs:
            if key not in names:
                raise InvalidInputError(
                    f"$.inputs.{key}: unknown model input", path=f"$.inputs.{key}"
                )
        feeds: dict[str, np.ndarray] = {}
        for name, dtype, shape in self.inputs:
            path = f"$.inputs.{name}"
            if name not in inputs:
                raise InvalidInputError(f"{path}: required model input is missing", path=path)
            feeds[name] = self._array(inputs[name], dtype, shape, path)
        rows = {a.shape[0] for a in feeds.values()}
        if len(rows) > 1:
            raise InvalidInputError("$.inputs: inputs have different row counts", path="$.inputs")
        return feeds

    @staticmethod
    def _array(value: Any, dtype: Any, shape: Sequence[Any], path: str) -> np.ndarray:
        try:
            arr = np.asarray(value, dtype=dtype)
        except (ValueError, TypeError, OverflowError) as exc:
            raise InvalidInputError(
                f"{path}: not a rectangular {dtype.__name__} array ({exc})", path=path
            ) from None
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            # 1e300 is a finite JSON number but overflows float32: never feed inf to a model.
            raise InvalidInputError(f"{path}: values out of range for {dtype.__name__}", path=path)
        if arr.ndim == len(shape) - 1:
            arr = arr[np.newaxis, ...]
        if arr.ndim != len(shape):
            raise InvalidInputError(
                f"{path}: expected {len(shape)} dimensions {list(shape)}, got shape {list(arr.shape)}",
                path=path,
            )
        for axis, (want, got) in enumerate(zip(shape, arr.shape, strict=True)):
            if isinstance(want, int) and want > 0 and want != got:
                raise InvalidInputError(
                    f"{path}: axis {axis} must have {want} elements, got {got}", path=path
                )
        if arr.shape[0] == 0:
            raise InvalidInputError(f"{path}: no rows", path=path)
        return arr

    def run_batch(self, batch: Sequence[dict[str, np.ndarray]]) -> list[Outputs]:
        """Run the feeds of several requests as one inference when their shapes allow."""
        if len(batch) == 1:
            return [self._run(batch[0])]
        first = batch[0]
        same = all(f[name].shape[1:] == first[name].shape[1:] for f in batch for name in first)
        if not same:
            return [self._run(f) for f in batch]
        counts = [next(iter(f.values())).shape[0] for f in batch]
        total = sum(counts)
        merged = {name: np.concatenate([f[name] for f in batch]) for name in first}
        raw = self.session.run(self.output_names, merged)
        if not all(isinstance(r, np.ndarray) and r.shape[:1] == (total,) for r in raw):
            return [self._run(f) for f in batch]
        bounds = np.cumsum(counts)[:-1]
        parts = [np.split(r, bounds) for r in raw]
        return [
            {name: parts[j][i].tolist() for j, name in enumerate(self.output_names)}
            for i in range(len(batch))
        ]

    def _run(self, feeds: dict[str, np.ndarray]) -> Outputs:
        raw = self.session.run(self.output_names, feeds)
        return {name: _jsonable(r) for name, r in zip(self.output_names, raw, strict=True)}

    def warmup(self) -> None:
        """Run once on zeros shaped like the inputs (symbolic dimensions set to 1)."""
        feeds = {}
        for name, dtype, shape in self.inputs:
            dims = [d if isinstance(d, int) and d > 0 else 1 for d in shape]
            feeds[name] = (
                np.zeros(dims, dtype=dtype)
                if dtype is not np.object_
                else np.full(dims, "", dtype=object)
            )
        self.session.run(self.output_names, feeds)


class TextEncoderModel:
    """A transformer encoder exported to ONNX, fed by a ``tokenizers`` tokenizer.

    ``inputs`` is a list of strings (or one string); the output is ``{"embeddings": [[...]]}``,
    pooled over the attention mask (``mean``), taken from the first token (``cls``) or the raw
    first output (``none``), and L2-normalised when ``normalize`` is set.
    """

    def __init__(self, cfg: ModelConfig, path: Path, tokenizer: Path) -> None:
        self.tokenizer = text_tokenizer(tokenizer, cfg.max_length)
        self.session = _session(cfg, path)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_name = self.session.get_outputs()[0].name
        self.pooling = cfg.pooling
        self.normalize = cfg.normalize

    def to_feeds(self, inputs: Any) -> list[str]:
        """Accept one string or a non-empty list of strings."""
        return text_inputs(inputs)

    def run_batch(self, batch: Sequence[list[str]]) -> list[Outputs]:
        """Tokenise every request's texts together (padded to the longest) and run once."""
        texts = [t for texts in batch for t in texts]
        encodings = self.tokenizer.encode_batch(texts)
        feeds = token_feeds(encodings, self.input_names)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = self.session.run([self.output_name], feeds)[0]
        emb = self._pool(hidden, mask)
        out: list[Outputs] = []
        start = 0
        for texts_ in batch:
            out.append({"embeddings": emb[start : start + len(texts_)].tolist()})
            start += len(texts_)
        return out

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if hidden.ndim != 3 or self.pooling == "none":
            emb = hidden
        elif self.pooling == "cls":
            emb = hidden[:, 0, :]
        else:
            m = mask[:, :, np.newaxis].astype(hidden.dtype)
            emb = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        if self.normalize and emb.ndim == 2:
            emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return np.asarray(emb, dtype=np.float32)

    def warmup(self) -> None:
        """Encode one short sentence."""
        self.run_batch([["warm up"]])


def text_inputs(inputs: Any) -> list[str]:
    """A request's texts: one string or a non-empty list of strings (else a 422)."""
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, list) or not texts:
        raise InvalidInputError("$.inputs: expected a string or a list of strings", path="$.inputs")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidInputError(f"$.inputs[{i}]: expected a string", path=f"$.inputs[{i}]")
    return texts


def token_feeds(encodings: Sequence[Any], input_names: Sequence[str]) -> dict[str, np.ndarray]:
    """The int64 ``[batch, tokens]`` feeds a text graph takes, from ``tokenizers`` encodings."""
    available = {
        "input_ids": [e.ids for e in encodings],
        "attention_mask": [e.attention_mask for e in encodings],
        "token_type_ids": [e.type_ids for e in encodings],
    }
    return {
        name: np.asarray(available[name], dtype=np.int64)
        for name in input_names
        if name in available
    }


def text_tokenizer(path: Path, max_length: int) -> Any:
    """Load ``tokenizer.json``, truncating to ``max_length`` and padding to the longest input.

    Raises:
        ConfigError: the file is missing.
    """
    from tokenizers import Tokenizer

    if not path.is_file():
        raise ConfigError(f"model.tokenizer: {path} does not exist")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=max_length)
    padding = tokenizer.padding
    if padding is not None:
        tokenizer.enable_padding(pad_id=padding["pad_id"], pad_token=padding["pad_token"])
    else:
        pad_id = tokenizer.token_to_id("[PAD]")
        tokenizer.enable_padding(pad_id=pad_id or 0, pad_token="[PAD]")
    return tokenizer


class PickleModel:
    """A trusted, hash-pinned scikit-learn style estimator (``predict``/``predict_proba``)."""

    def __init__(self, path: Path) -> None:
        if path.suffix.lower() == ".joblib":
            import joblib  # type: ignore[import-untyped]

            self.estimator = joblib.load(path)
        else:
            import pickle

            with path.open("rb") as fh:
                self.estimator = pickle.load(fh)  # hash-pinned and trusted above
        self.n_features = getattr(self.estimator, "n_features_in_", None)

    def to_feeds(self, inputs: Any) -> np.ndarray:
        """Convert ``inputs`` to a 2-D float array."""
        try:
            arr = np.asarray(inputs, dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(
                f"$.inputs: not a rectangular number array ({exc})", path="$.inputs"
            ) from None
        if arr.ndim == 1:
            arr = arr[np.newaxis, :]
        if arr.ndim != 2 or (self.n_features is not None and arr.shape[1] != self.n_features):
            raise InvalidInputError(
                f"$.inputs: expected shape [n, {self.n_features}], got {list(arr.shape)}",
                path="$.inputs",
            )
        return arr

    def run_batch(self, batch: Sequence[np.ndarray]) -> list[Outputs]:
        """Predict each request (estimators are cheap to call row-block by row-block)."""
        out: list[Outputs] = []
        for x in batch:
            result: Outputs = {"label": _jsonable(self.estimator.predict(x))}
            if hasattr(self.estimator, "predict_proba"):
                result["probabilities"] = _jsonable(self.estimator.predict_proba(x))
            out.append(result)
        return out

    def warmup(self) -> None:
        """Predict on one row of zeros when the feature count is known."""
        if self.n_features is not None:
            self.run_batch([np.zeros((1, self.n_features))])
