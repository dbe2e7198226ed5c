"""Export a sentence-transformers text encoder to ONNX + ``tokenizers`` at build time.

The exported graph takes ``input_ids`` and ``attention_mask`` (int64, ``[batch, seq]``) and
returns ``embedding`` (float32, ``[batch, dim]``) with the model's pooling and L2 normalisation
inside the graph, so the runtime needs only onnxruntime and the ``tokenizers`` library -- no
torch, no transformers -- and gives the same vectors as ``SentenceTransformer.encode``.

The graph is then fused with onnxruntime's transformer optimizer (Attention, SkipLayerNorm,
BiasGelu); fused Attention also lets int8 quantisation use integer attention kernels.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort

from svai.build.optimize.canonical import save_model, sha256_file
from svai.build.optimize.errors import ConversionMismatchError, UnsupportedModelError
from svai.build.optimize.quality import MeanCosine, row_cosines
from svai.build.optimize.quantize import Quantization, quantize_model

__all__ = [
    "ENCODER_CONFIG",
    "EncoderExport",
    "OnnxSentenceEncoder",
    "export_sentence_encoder",
    "quantize_encoder",
    "token_limit",
    "write_tokenizer",
]

ENCODER_CONFIG = "encoder.json"
MODEL_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
OPSET = 17
# The real sentence-transformers model must be matched this closely on every check sentence.
MIN_COSINE = 0.999


@dataclass(frozen=True)
class EncoderExport:
    """What ``export_sentence_encoder`` wrote.

    Attributes:
        directory: Folder holding ``model.onnx``, ``tokenizer.json`` and ``encoder.json``.
        model_path: The fp32 ONNX graph.
        dimension: Embedding width.
        max_seq_length: Token limit applied by the tokenizer (truncation).
        fused: Whether onnxruntime's transformer fusions were applied.
        min_cosine: Lowest cosine to sentence-transformers on the check sentences (``None``
            when no sentences were given).
        sha256: Hex digest of the ONNX file.
    """

    directory: Path
    model_path: Path
    dimension: int
    max_seq_length: int
    fused: bool
    min_cosine: float | None
    sha256: str


class OnnxSentenceEncoder:
    """Encode sentences with an exported encoder folder (onnxruntime + tokenizers only).

    Args:
        directory: A folder written by :func:`export_sentence_encoder`.
        model_file: The ONNX file inside it to use (e.g. an int8 variant).
        threads: onnxruntime intra-op threads (0 lets onnxruntime decide).
    """

    def __init__(
        self, directory: str | os.PathLike[str], model_file: str = MODEL_FILE, threads: int = 0
    ) -> None:
        from tokenizers import Tokenizer

        folder = Path(directory)
        self.config: dict[str, Any] = json.loads((folder / ENCODER_CONFIG).read_text("utf-8"))
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(folder / model_file), options, providers=["CPUExecutionProvider"]
        )

    def tokenize(self, sentences: Sequence[str]) -> dict[str, npt.NDArray[np.int64]]:
        """Turn sentences into the graph's int64 feeds (padded to the longest, truncated).

        Args:
            sentences: The texts.

        Returns:
            ``{"input_ids": ..., "attention_mask": ...}``.
        """
        encodings = self.tokenizer.encode_batch(list(sentences))
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        }

    def encode(self, sentences: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return one L2-normalised embedding row per sentence.

        Args:
            sentences: The texts.

        Returns:
            Float32 array ``[len(sentences), dimension]``.
        """
        (embedding,) = self.session.run(["embedding"], dict(self.tokenize(sentences)))
        return np.asarray(embedding, dtype=np.float32)


def export_sentence_encoder(
    model_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    check_sentences: Sequence[str] = (),
    fuse: bool = True,
) -> EncoderExport:
    """Export a local sentence-transformers folder (BERT-family, mean pooling) to ONNX.

    Args:
        model_dir: A sentence-transformers model folder (``config.json``, ``model.safetensors``,
            ``tokenizer.json``, ``modules.json``, ``1_Pooling/config.json``). Nothing is downloaded.
        out_dir: Folder to write ``model.onnx``, ``tokenizer.json`` and ``encoder.json`` into.
        check_sentences: When given, the export is compared with ``SentenceTransformer.encode``
            on them and refused below cosine 0.999.
        fuse: Apply onnxruntime's transformer fusions.

    Returns:
        An :class:`EncoderExport`.

    Raises:
        UnsupportedModelError: The folder is not a mean-pooling BERT-family encoder.
        ConversionMismatchError: The ONNX embeddings drift from sentence-transformers.
    """
    source = Path(model_dir)
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    settings = _read_settings(source)
    with tempfile.TemporaryDirectory(prefix="svai-encoder-") as scratch:
        raw = Path(scratch) / "raw.onnx"
        _torch_export(source, raw, settings["normalize"])
        graph = _fuse(raw, settings) if fuse else onnx.load(str(raw))
    model_path = save_model(
        graph,
        target / MODEL_FILE,
        metadata={
            "svai.task": "embedding",
            "svai.pooling": "mean",
            "svai.normalize": str(settings["normalize"]).lower(),
        },
    )
    write_tokenizer(source / TOKENIZER_FILE, target / TOKENIZER_FILE, settings["max_seq_length"])
    config = {
        "dimension": settings["dimension"],
        "inputs": ["input_ids", "attention_mask"],
        "max_seq_length": settings["max_seq_length"],
        "normalize": settings["normalize"],
        "output": "embedding",
        "pooling": "mean",
    }
    (target / ENCODER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    min_cosine = None
    if check_sentences:
        min_cosine = _compare_with_sentence_transformers(source, target, check_sentences)
        if not min_cosine >= MIN_COSINE:
            raise ConversionMismatchError(
                f"ONNX encoder drifts from sentence-transformers: min cosine {min_cosine:.6f} "
                f"< {MIN_COSINE}",
                max_abs_diff=1.0 - min_cosine,
                tolerance=1.0 - MIN_COSINE,
            )
    return EncoderExport(
        directory=target,
        model_path=model_path,
        dimension=settings["dimension"],
        max_seq_length=settings["max_seq_length"],
        fused=fuse,
        min_cosine=min_cosine,
        sha256=sha256_file(model_path),
    )


def _read_settings(source: Path) -> dict[str, Any]:
    try:
        config = json.loads((source / "config.json").read_text("utf-8"))
        pooling = json.loads((source / "1_Pooling" / "config.json").read_text("utf-8"))
        modules = json.loads((source / "modules.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise UnsupportedModelError(
            f"{source} is not a sentence-transformers folder (config.json, modules.json, "
            f"1_Pooling/config.json): {exc}"
        ) from exc
    if config.get("model_type") not in ("bert", "roberta", "xlm-roberta", "mpnet", "distilbert"):
        raise UnsupportedModelError(f"unsupported encoder type {config.get('model_type')!r}")
    # sentence-transformers 3-5 write pooling_mode_*_tokens flags; 6 writes pooling_mode.
    mean = pooling.get("pooling_mode") == "mean" or (
        pooling.get("pooling_mode_mean_tokens")
        and not any(pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens"))
    )
    if not mean:
        raise UnsupportedModelError("only mean pooling is supported by the ONNX encoder export")
    st_config_path = source / "sentence_bert_config.json"
    st_config = json.loads(st_config_path.read_text("utf-8")) if st_config_path.exists() else {}
    dimension = pooling.get("embedding_dimension", pooling.get("word_embedding_dimension"))
    return {
        "model_type": config["model_type"],
        "dimension": int(dimension or config["hidden_size"]),
        "hidden_size": int(config["hidden_size"]),
        "num_heads": int(config["num_attention_heads"]),
        "max_seq_length": int(st_config.get("max_seq_length") or token_limit(source, config)),
        "normalize": any(m.get("type", "").endswith("Normalize") for m in modules),
    }


def token_limit(source: Path, config: dict[str, Any]) -> int:
    """The token limit of a saved model: its tokenizer's, capped by its position embeddings.

    This is where sentence-transformers 6 and the transformers pipelines truncate.
    """
    limit = int(config.get("max_position_embeddings", 512))
    tokenizer_config = source / "tokenizer_config.json"
    if tokenizer_config.is_file():
        declared = json.loads(tokenizer_config.read_text("utf-8")).get("model_max_length")
        if isinstance(declared, int) and 0 < declared < limit:
            return declared
    return limit


def _torch_export(source: Path, destination: Path, normalize: bool) -> None:
    import torch
    from transformers import AutoModel

    # Eager attention exports as plain MatMul/Softmax, which onnxruntime fuses into Attention;
    # the SDPA path exports a pattern it does not recognise.
    encoder = AutoModel.from_pretrained(str(source), attn_implementation="eager")
    encoder.eval()

    class _Pooled(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.inner(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled: torch.Tensor = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            if normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
            return pooled

    dummy = torch.ones((2, 8), dtype=torch.int64)
    dynamic = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "sequence"},
    }
    with torch.no_grad():
        torch.onnx.export(
            _Pooled(encoder),
            (dummy, dummy),
            str(destination),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={**dynamic, "embedding": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def _fuse(raw: Path, settings: dict[str, Any]) -> onnx.ModelProto:
    from onnxruntime.transformers import optimizer

    kind = "bert" if settings["model_type"] in ("bert", "distilbert") else settings["model_type"]
    fused = optimizer.optimize_model(
        str(raw),
        model_type=kind,
        num_heads=settings["num_heads"],
        hidden_size=settings["hidden_size"],
        opt_level=0,
    )
    # Saving through the optimizer adds the com.microsoft opset import its fused ops need.
    fused_path = raw.with_name("fused.onnx")
    fused.save_model_to_file(str(fused_path))
    return onnx.load(str(fused_path))


def write_tokenizer(source: Path, destination: Path, max_seq_length: int) -> None:
    """Copy ``tokenizer.json``, truncating at ``max_seq_length`` and padding to the longest."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(source))
    padding = tokenizer.padding or {}
    # sentence-transformers truncates at max_seq_length and pads to the longest in the batch;
    # the shipped tokenizer.json pads every input to a fixed 128, which wastes compute.
    tokenizer.enable_truncation(max_length=max_seq_length)
    tokenizer.enable_padding(
        pad_id=int(padding.get("pad_id", 0)), pad_token=str(padding.get("pad_token", "[PAD]"))
    )
    destination.write_text(tokenizer.to_str(pretty=True), encoding="utf-8")


def _compare_with_sentence_transformers(
    source: Path, exported: Path, sentences: Sequence[str]
) -> float:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(source), device="cpu").encode(
        list(sentences), convert_to_numpy=True, normalize_embeddings=True
    )
    got = OnnxSentenceEncoder(exported).encode(sentences)
    return float(np.min(row_cosines(got, reference)))


def quantize_encoder(
    export: EncoderExport,
    sentences: Sequence[str],
    *,
    tolerance: float = 0.01,
    repeats: int = 5,
) -> Quantization:
    """Quantise an exported encoder to int8, gated on mean cosine to fp32 over ``sentences``.

    Args:
        export: The fp32 export to quantise.
        sentences: Real sentences for the quality check and the timing.
        tolerance: Largest accepted drop in mean cosine (0.01 = one point).
        repeats: Interleaved timing rounds.

    Returns:
        The :class:`Quantization` verdict; ``model.int8.onnx`` exists only if int8 was chosen.
    """
    feeds = OnnxSentenceEncoder(export.directory).tokenize(sentences)
    return quantize_model(
        export.model_path,
        export.directory / INT8_FILE,
        metric=MeanCosine(feeds, output="embedding"),
        feeds={k: v[:1] for k, v in feeds.items()},
        tolerance=tolerance,
        repeats=repeats,
    )
