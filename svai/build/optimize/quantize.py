"""Dynamic int8 quantisation with a quality gate and an honest verdict.

``quantize_model`` quantises the weight matrices of an fp32 ONNX model (MatMul, fused Attention,
embedding Gathers), measures size, speed and quality against the fp32 model, and picks the
variant to ship:

* the int8 model, when its quality drop is within tolerance and it is smaller or faster;
* the fp32 model, when the drop exceeds the tolerance (automatic fall-back), when the measured
  gain is below the thresholds, or when the graph has nothing dynamic int8 can touch (tree
  ensembles, convolution-only networks) -- and the result's message says which.

Convolutions are deliberately left out: dynamic quantisation turns them into ``ConvInteger``,
which onnxruntime runs slower than fp32 ``Conv`` on CPU, so claiming a gain there would be wrong.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import onnxruntime as ort

from svai.build.optimize.canonical import save_model
from svai.build.optimize.quality import Feeds, QualityMetric

__all__ = ["QUANTIZED_OPS", "Quantization", "WeightCensus", "count_weights", "quantize_model"]

# Ops whose float weights quantize_dynamic turns into int8. MatMul/Attention also get integer
# kernels (speed); Gather/EmbedLayerNormalization only shrink (embedding tables).
QUANTIZED_OPS = ("Attention", "EmbedLayerNormalization", "Gather", "MatMul")
_SPEED_OPS = frozenset({"Attention", "MatMul"})
_TREE_OPS = frozenset(
    {"TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble", "LinearClassifier"}
)
_CONV_OPS = frozenset({"Conv", "ConvTranspose"})

Verdict = Literal["quantized", "accuracy_drop", "no_gain", "nothing_to_quantize"]


@dataclass(frozen=True)
class WeightCensus:
    """How many float weight parameters each op type of a graph consumes.

    Attributes:
        by_op: Op type to number of float initializer elements it reads.
    """

    by_op: Mapping[str, int]

    @property
    def total(self) -> int:
        """All float weight parameters."""
        return sum(self.by_op.values())

    @property
    def quantizable(self) -> int:
        """Parameters in ops that dynamic int8 quantises."""
        return sum(n for op, n in self.by_op.items() if op in QUANTIZED_OPS)

    @property
    def speedable(self) -> int:
        """Parameters in ops that get integer kernels (MatMul, Attention)."""
        return sum(n for op, n in self.by_op.items() if op in _SPEED_OPS)

    @property
    def dominant_op(self) -> str | None:
        """The op type holding the most parameters, if any."""
        return max(self.by_op, key=lambda op: (self.by_op[op], op)) if self.by_op else None


@dataclass(frozen=True)
class Quantization:
    """What ``quantize_model`` chose and why.

    Attributes:
        chosen: ``"int8"`` or ``"fp32"``: the variant to ship.
        path: The file to ship (the int8 file, or the untouched fp32 file).
        verdict: Why: ``quantized``, ``accuracy_drop`` (fall-back), ``no_gain`` or
            ``nothing_to_quantize``.
        fp32_bytes: Size of the fp32 file.
        int8_bytes: Size of the int8 file, when one was built.
        size_ratio: fp32 bytes / int8 bytes, when one was built.
        speed_ratio: fp32 time / int8 time (interleaved medians), when one was built.
        metric: Name of the quality metric.
        fp32_score: The fp32 model's score (``None`` when nothing was quantised).
        int8_score: The int8 model's score.
        quality_drop: ``fp32_score - int8_score``.
        tolerance: The accepted drop.
        census: Float weight parameters by op type in the fp32 graph.
        message: One human sentence or two saying what happened.
    """

    chosen: Literal["int8", "fp32"]
    path: Path
    verdict: Verdict
    fp32_bytes: int
    int8_bytes: int | None
    size_ratio: float | None
    speed_ratio: float | None
    metric: str
    fp32_score: float | None
    int8_score: float | None
    quality_drop: float | None
    tolerance: float
    census: WeightCensus
    message: str


def count_weights(model: onnx.ModelProto) -> WeightCensus:
    """Count the float initializer parameters read by each op type.

    Args:
        model: The ONNX model to inspect.

    Returns:
        The census (an initializer read by several nodes is counted once, under the first).
    """
    sizes = {
        init.name: int(np.prod(init.dims, dtype=np.int64))
        for init in model.graph.initializer
        if init.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE)
    }
    counts: Counter[str] = Counter()
    claimed: set[str] = set()
    for node in model.graph.node:
        for name in node.input:
            if name in sizes and name not in claimed:
                claimed.add(name)
                counts[node.op_type] += sizes[name]
        for attr in node.attribute:
            # ai.onnx.ml tree and linear ops keep their parameters in attributes.
            if attr.type == onnx.AttributeProto.FLOATS:
                counts[node.op_type] += len(attr.floats)
    return WeightCensus(by_op=dict(sorted(counts.items())))


def quantize_model(
    fp32_path: str | os.PathLike[str],
    int8_path: str | os.PathLike[str],
    *,
    metric: QualityMetric,
    feeds: Feeds,
    tolerance: float = 0.01,
    min_size_ratio: float = 1.5,
    min_speed_ratio: float = 1.1,
    repeats: int = 5,
    per_channel: bool = True,
) -> Quantization:
    """Build a dynamic int8 variant of ``fp32_path`` and choose which variant to ship.

    Args:
        fp32_path: The fp32 ONNX model (left untouched).
        int8_path: Where to write the int8 model; removed again when fp32 is chosen.
        metric: Scores both variants against the fp32 model on a fixed sample.
        feeds: A representative input, used to time both variants.
        tolerance: Largest accepted ``fp32_score - int8_score``.
        min_size_ratio: int8 is kept only if it is at least this much smaller...
        min_speed_ratio: ...or at least this much faster.
        repeats: Interleaved timing rounds (the median is used; at least 5 recommended).
        per_channel: Quantise weights per output channel (much better accuracy for transformer
            encoders, a few KB larger).

    Returns:
        The :class:`Quantization` verdict.
    """
    source = Path(fp32_path)
    target = Path(int8_path)
    fp32_model = onnx.load(str(source))
    census = count_weights(fp32_model)
    fp32_bytes = source.stat().st_size
    if census.quantizable == 0:
        return Quantization(
            chosen="fp32",
            path=source,
            verdict="nothing_to_quantize",
            fp32_bytes=fp32_bytes,
            int8_bytes=None,
            size_ratio=None,
            speed_ratio=None,
            metric=metric.name,
            fp32_score=None,
            int8_score=None,
            quality_drop=None,
            tolerance=tolerance,
            census=census,
            message=_nothing_message(census),
        )

    _write_int8(fp32_model, source, target, per_channel=per_channel)
    reference = _session(source)
    candidate = _session(target)
    fp32_score = metric.score(reference, reference)
    int8_score = metric.score(candidate, reference)
    drop = fp32_score - int8_score
    int8_bytes = target.stat().st_size
    size_ratio = fp32_bytes / int8_bytes
    speed_ratio = _speed_ratio(reference, candidate, feeds, repeats)
    figures = (
        f"int8 is {size_ratio:.2f}x smaller and {speed_ratio:.2f}x as fast; "
        f"{metric.name} {fp32_score:.4f} -> {int8_score:.4f} (drop {drop:.3g}, "
        f"tolerance {tolerance:.3g})"
    )
    verdict: Verdict
    if not drop <= tolerance:
        verdict = "accuracy_drop"
        message = f"kept fp32: the int8 quality drop exceeds the tolerance. {figures}."
    elif size_ratio < min_size_ratio and speed_ratio < min_speed_ratio:
        verdict = "no_gain"
        message = (
            f"kept fp32: dynamic int8 gains nothing worth shipping here (below {min_size_ratio}x "
            f"smaller and {min_speed_ratio}x faster). {figures}."
        )
    else:
        verdict = "quantized"
        message = f"shipping int8: {figures}."
        if speed_ratio < min_speed_ratio:
            message += " The gain is in size only, not speed."
    shipped = verdict == "quantized"
    if not shipped:
        target.unlink()
    return Quantization(
        chosen="int8" if shipped else "fp32",
        path=target if shipped else source,
        verdict=verdict,
        fp32_bytes=fp32_bytes,
        int8_bytes=int8_bytes,
        size_ratio=size_ratio,
        speed_ratio=speed_ratio,
        metric=metric.name,
        fp32_score=fp32_score,
        int8_score=int8_score,
        quality_drop=drop,
        tolerance=tolerance,
        census=census,
        message=message,
    )


def _nothing_message(census: WeightCensus) -> str:
    ops = set(census.by_op)
    if ops & _TREE_OPS:
        return (
            "kept fp32: this is a tree ensemble / linear ML-opset graph with no weight matrices "
            "(MatMul/Gemm), so dynamic int8 quantisation gains nothing."
        )
    if ops & _CONV_OPS:
        return (
            "kept fp32: the weights are convolutions; dynamic int8 would run them as ConvInteger, "
            "which is no faster than fp32 on CPU, so it gains nothing (static quantisation with "
            "calibration data is the tool for CNNs)."
        )
    return "kept fp32: the graph has no MatMul/Attention/embedding weights for int8 to quantise."


def _write_int8(
    fp32_model: onnx.ModelProto, source: Path, target: Path, *, per_channel: bool
) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="svai-quant-") as scratch:
        raw = Path(scratch) / "int8.onnx"
        quantize_dynamic(
            str(source),
            str(raw),
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            op_types_to_quantize=list(QUANTIZED_OPS),
            # Fused contrib ops (Attention, BiasGelu) defeat ONNX shape inference; their
            # outputs are float in every graph svai builds.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        metadata = {p.key: p.value for p in fp32_model.metadata_props}
        metadata["svai.quantization"] = (
            "int8-dynamic-per-channel" if per_channel else "int8-dynamic"
        )
        save_model(onnx.load(str(raw)), target, metadata=metadata)


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # One thread each: the ratio then compares kernels, not how two sessions share two cores.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _speed_ratio(
    reference: ort.InferenceSession, candidate: ort.InferenceSession, feeds: Feeds, repeats: int
) -> float:
    inputs = dict(feeds)
    reference.run(None, inputs)
    candidate.run(None, inputs)
    started = time.perf_counter()
    reference.run(None, inputs)
    once = max(time.perf_counter() - started, 1e-6)
    # Enough calls per sample that timer resolution and scheduling noise stay small.
    inner = int(min(200, max(1, 0.02 / once)))
    fp32_times: list[float] = []
    int8_times: list[float] = []
    for _ in range(max(1, repeats)):
        for session, sink in ((reference, fp32_times), (candidate, int8_times)):
            started = time.perf_counter()
            for _ in range(inner):
                session.run(None, inputs)
            sink.append(time.perf_counter() - started)
    return statistics.median(fp32_times) / statistics.median(int8_times)
