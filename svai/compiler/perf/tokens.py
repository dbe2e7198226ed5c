"""Text generation in tokens: GPU memory fit (weights + KV cache), time to first token, tokens/s.

**Memory.** Serving a decoder needs, across the instance's GPUs (tensor parallel):

* the weights: parameters × bytes per serving dtype;
* the KV cache: ``2 (K and V) × layers × kv_heads × head_dim × bytes × context × concurrency``
  — every request in flight may hold a full context;
* a fixed overhead per GPU (:data:`OVERHEAD_GB_PER_GPU`: CUDA context, activations, the
  engine's own buffers);

and it must fit in ``GPU memory × memory fraction`` (the engine's ``gpu_memory_utilization``).

The architecture (layers, KV heads, head dimension) comes from :data:`SHAPES`, a catalogue of
common open decoder shapes, by the parameter count nearest the model's; the fit says which
shape it used. The parameter count comes from the artifact size at 2 bytes per parameter
(Hugging Face checkpoints of these models are 16-bit safetensors).

**Time.** Decoding one token reads every weight once (and the KV cache, small beside it at these
contexts), so it is memory-bound: ``time per output token = weight bytes ÷ (bandwidth × GPUs ×
decode efficiency)``. Prefill is compute-bound: ``2 × parameters × prompt tokens ÷ (tensor
FLOP/s × GPUs × prefill efficiency)``; time to first token is prefill + one decode step. The
figures per GPU are datasheet values in the catalog's ``gpu_throughput`` section, with the
efficiencies it states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from svai.compiler.catalog import GpuCard, GpuThroughput

__all__ = [
    "DTYPE_BYTES",
    "OVERHEAD_GB_PER_GPU",
    "SHAPES",
    "Dtype",
    "MemoryFit",
    "Shape",
    "TokenTiming",
    "measured_timing",
    "memory_fit",
    "params_from_size",
    "serving_dtype",
    "shape_for",
    "token_timing",
]

Dtype = Literal["bf16", "fp16", "int8", "fp8"]
DTYPE_BYTES: dict[str, float] = {"bf16": 2.0, "fp16": 2.0, "int8": 1.0, "fp8": 1.0}
"""Bytes per weight in each serving dtype."""
_KV_BYTES: dict[str, float] = {"bf16": 2.0, "fp16": 2.0, "int8": 2.0, "fp8": 1.0}
"""Bytes per KV-cache element: int8 weight-only quantisation keeps a 16-bit cache; FP8 serving
keeps an FP8 cache (vLLM's ``kv_cache_dtype=fp8``)."""
OVERHEAD_GB_PER_GPU = 1.5
"""CUDA context (~0.5 GB), activations and engine buffers per GPU (an assumption, not measured)."""
_CHECKPOINT_BYTES_PER_PARAM = 2.0
GB = 1e9


@dataclass(frozen=True, slots=True)
class Shape:
    """A decoder's architecture, as far as its KV cache is concerned."""

    name: str
    params_b: float
    """Parameters, in billions."""
    layers: int
    kv_heads: int
    head_dim: int

    def kv_bytes_per_token(self, dtype: str) -> float:
        """KV-cache bytes one token takes across all layers."""
        return 2 * self.layers * self.kv_heads * self.head_dim * _KV_BYTES[dtype]


SHAPES: tuple[Shape, ...] = (
    # From each model's config.json on the Hugging Face Hub (num_hidden_layers,
    # num_key_value_heads, hidden_size / num_attention_heads).
    Shape("TinyLlama-1.1B", 1.1, 22, 4, 64),
    Shape("Llama-2-7B", 6.7, 32, 32, 128),
    Shape("Llama-3-8B", 8.0, 32, 8, 128),
    Shape("Llama-2-13B", 13.0, 40, 40, 128),
    Shape("Llama-3-70B", 70.6, 80, 8, 128),
)


def shape_for(params_b: float) -> Shape:
    """The catalogued shape whose parameter count is nearest ``params_b`` (by ratio)."""
    return min(SHAPES, key=lambda s: max(s.params_b, params_b) / min(s.params_b, params_b))


def serving_dtype(gpu: str, quantize: str) -> Dtype:
    """The dtype the engine serves in: the spec's quantisation, else the card's 16-bit type.

    A T4 has no bfloat16 (the GPU package serves float16 there, as here).
    """
    if quantize == "int8":
        return "int8"
    return "fp16" if gpu.upper() == "T4" else "bf16"


@dataclass(frozen=True, slots=True)
class MemoryFit:
    """Whether a model with its KV cache fits one size's GPUs, and by how much.

    Attributes:
        dtype: The serving dtype.
        params_b: Parameters, in billions.
        shape: The architecture the KV cache was computed for.
        weights_gb: Weights in GB (10⁹ bytes).
        kv_cache_gb: KV cache for ``context`` tokens × ``concurrency`` requests.
        overhead_gb: Per-GPU overhead × GPUs.
        usable_gb: GPU memory × GPUs × memory fraction.
        gpus: GPUs on the size.
        context: Tokens per request the cache holds.
        concurrency: Requests in flight on one instance.
    """

    dtype: str
    params_b: float
    shape: Shape
    weights_gb: float
    kv_cache_gb: float
    overhead_gb: float
    usable_gb: float
    gpus: int
    context: int
    concurrency: int

    @property
    def needed_gb(self) -> float:
        """Weights + KV cache + overhead."""
        return self.weights_gb + self.kv_cache_gb + self.overhead_gb

    @property
    def fits(self) -> bool:
        """Whether it all fits in the usable GPU memory."""
        return self.needed_gb <= self.usable_gb

    def summary(self) -> str:
        """One line people read: the sum, the budget and the shape it assumed."""
        verdict = "fits" if self.fits else "does not fit"
        return (
            f"{self.dtype} weights {self.weights_gb:.1f} GB + KV cache {self.kv_cache_gb:.1f} GB "
            f"({self.context:,} tokens × {self.concurrency}) + overhead {self.overhead_gb:.1f} GB "
            f"= {self.needed_gb:.1f} GB {verdict} in {self.usable_gb:.1f} GB "
            f"({self.gpus} GPU{'s' if self.gpus != 1 else ''}; shape of {self.shape.name})"
        )


def params_from_size(size_bytes: float) -> float:
    """Parameters, in billions, of a 16-bit checkpoint of ``size_bytes``."""
    return size_bytes / _CHECKPOINT_BYTES_PER_PARAM / GB


def memory_fit(
    *,
    params_b: float,
    dtype: str,
    context: int,
    concurrency: int,
    vram_per_gpu_gb: float,
    gpus: int,
    memory_fraction: float,
    shape: Shape | None = None,
) -> MemoryFit:
    """Fit the weights and KV cache of a ``params_b``-billion model into ``gpus`` GPUs."""
    shape = shape or shape_for(params_b)
    weights = params_b * GB * DTYPE_BYTES[dtype] / GB
    kv = shape.kv_bytes_per_token(dtype) * context * concurrency / GB
    return MemoryFit(
        dtype=dtype,
        params_b=params_b,
        shape=shape,
        weights_gb=weights,
        kv_cache_gb=kv,
        overhead_gb=OVERHEAD_GB_PER_GPU * gpus,
        usable_gb=vram_per_gpu_gb * gpus * memory_fraction,
        gpus=gpus,
        context=context,
        concurrency=concurrency,
    )


@dataclass(frozen=True, slots=True)
class TokenTiming:
    """Warm time to first token and time per output token on one size."""

    ttft_s: float
    tpot_s: float
    card: str
    measured_on: str | None = None
    """Where ``svai bench`` measured them (``1× H100 80 GB``); ``None``: the card's figures."""
    unverified: bool = False
    """The card's datasheet figures were not confirmed from the vendor's page."""

    @property
    def tokens_per_s(self) -> float:
        """Output tokens per second of one request."""
        return 1.0 / self.tpot_s

    def generation_s(self, output_tokens: int) -> float:
        """Seconds of one whole request: first token, then the rest."""
        return self.ttft_s + self.tpot_s * max(0, output_tokens - 1)


def token_timing(
    fit: MemoryFit, card: GpuCard, throughput: GpuThroughput, prompt_tokens: int
) -> TokenTiming:
    """Predict warm TTFT and time per output token from the card's datasheet figures."""
    bytes_per_weight = DTYPE_BYTES[fit.dtype]
    bandwidth = card.memory_gb_per_s * GB * fit.gpus * throughput.decode_efficiency
    tpot = fit.params_b * GB * bytes_per_weight / bandwidth
    tflops = card.fp8_tflops if fit.dtype == "fp8" and card.fp8_tflops else card.bf16_tflops
    flops = tflops * 1e12 * fit.gpus * throughput.prefill_efficiency
    prefill = 2 * fit.params_b * GB * prompt_tokens / flops
    return TokenTiming(
        ttft_s=prefill + tpot, tpot_s=tpot, card=card.name, unverified=card.unverified
    )


def measured_timing(
    ttft_s: float, tpot_s: float, measured_prompt: int, prompt_tokens: int, card: str, where: str
) -> TokenTiming:
    """Token timings measured at ``measured_prompt`` tokens, carried to ``prompt_tokens``.

    Decoding does not depend on the prompt; prefill grows with it (linearly: compute-bound), so
    the measured prefill (TTFT less one decode step) is scaled by the prompt ratio.
    """
    prefill = max(0.0, ttft_s - tpot_s) * prompt_tokens / max(1, measured_prompt)
    return TokenTiming(ttft_s=prefill + tpot_s, tpot_s=tpot_s, card=card, measured_on=where)
