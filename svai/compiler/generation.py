"""Text generation on one size: does the model fit its GPUs, and how fast does it answer in tokens.

The arithmetic is :mod:`svai.compiler.perf.tokens`; this module applies it to an offering's size
(its GPUs, their memory, the card's catalogued figures) and turns the result into what the
recommendation shows (:class:`~svai.compiler.recommendation.Generation`) and judges (the TTFT and
time-per-token targets).
"""

from __future__ import annotations

from collections.abc import Sequence

from svai.compiler.catalog import GpuCard, GpuThroughput, Offering, Size
from svai.compiler.formatting import format_ms
from svai.compiler.needs import TokenNeeds
from svai.compiler.perf import PerfResult
from svai.compiler.perf.tokens import (
    MemoryFit,
    TokenTiming,
    memory_fit,
    serving_dtype,
    token_timing,
)
from svai.compiler.recommendation import Generation

__all__ = [
    "DEFAULT_MEMORY_FRACTION",
    "card_for",
    "cold_start_note",
    "generation",
    "size_fit",
    "size_timing",
    "ttft_p95_s",
]

_P95_SHARE = 0.05
"""The share of requests a p95 target lets miss."""
_WAIT_P95 = 2.995732273553991
"""ln(20): the 95th percentile of an exponential wait in units of its mean."""
DEFAULT_MEMORY_FRACTION = 0.90
"""The engine's share of a GPU the catalog has no figures for (the GPU package's default)."""


def card_for(offering: Offering, size: Size, throughput: GpuThroughput) -> GpuCard | None:
    """The catalogued card of ``size``'s GPUs, ``None`` for a CPU size or an unknown card."""
    vram = offering.vram_per_gpu_gb(size)
    if size.gpu is None or vram is None:
        return None
    return throughput.card(size.gpu, vram)


def size_fit(
    offering: Offering,
    size: Size,
    tokens: TokenNeeds,
    concurrency: int,
    throughput: GpuThroughput,
) -> MemoryFit | None:
    """Weights + KV cache for ``concurrency`` requests on ``size``; ``None`` without GPU figures."""
    vram = offering.vram_per_gpu_gb(size)
    if size.gpu is None or vram is None:
        return None
    card = throughput.card(size.gpu, vram)
    return memory_fit(
        params_b=tokens.params_b,
        dtype=serving_dtype(size.gpu, tokens.quantize),
        context=tokens.context,
        concurrency=concurrency,
        vram_per_gpu_gb=vram,
        gpus=size.gpu_count,
        memory_fraction=card.memory_fraction if card else DEFAULT_MEMORY_FRACTION,
    )


def size_timing(
    offering: Offering,
    size: Size,
    fit: MemoryFit,
    tokens: TokenNeeds,
    throughput: GpuThroughput,
) -> TokenTiming | None:
    """Warm TTFT and time per token on ``size``; ``None`` when the card has no figures."""
    card = card_for(offering, size, throughput)
    if card is None or not throughput.decode_efficiency or not throughput.prefill_efficiency:
        return None
    return token_timing(fit, card, throughput, tokens.prompt)


def ttft_p95_s(perf: PerfResult, timing: TokenTiming) -> float:
    """Time to first token at p95: warm TTFT + overheads + queueing + cold starts.

    The first token waits for what the whole answer waits for: the platform's overheads, the
    queue (p95 of an exponential wait, :data:`_WAIT_P95` × its mean: an upper bound when most
    requests queue) and, when more than 5% of requests start cold, a whole cold start. The
    spread of generation time (output lengths) does not delay the first token.
    """
    cold = perf.cold_start_s if perf.cold_start_prob > _P95_SHARE else 0.0
    return timing.ttft_s + perf.overhead_s + _WAIT_P95 * perf.mean_wait_s + cold


def generation(
    fit: MemoryFit, timing: TokenTiming | None, perf: PerfResult, vram_per_gpu_gb: float
) -> Generation:
    """What the recommendation shows of a text-generation model on its chosen size."""
    card = timing.card if timing is not None else "GPU"
    return Generation(
        gpus=f"{fit.gpus}× {card} {vram_per_gpu_gb:g} GB",
        dtype=fit.dtype,
        shape=fit.shape.name,
        weights_gb=round(fit.weights_gb, 3),
        kv_cache_gb=round(fit.kv_cache_gb, 3),
        overhead_gb=round(fit.overhead_gb, 3),
        usable_gb=round(fit.usable_gb, 3),
        ttft_ms=ttft_p95_s(perf, timing) * 1000 if timing else 0.0,
        ttft_warm_ms=timing.ttft_s * 1000 if timing else 0.0,
        tpot_ms=timing.tpot_s * 1000 if timing else 0.0,
        tokens_per_s=timing.tokens_per_s if timing else 0.0,
        basis="catalogued GPU figures" if timing else "no GPU figures catalogued",
    )


def cold_start_note(
    ttft_target_s: float,
    cold_start_s: float,
    components: Sequence[tuple[str, float]],
    warm: int,
    cold_start_rate: float,
) -> str | None:
    """Which cold-start components break a TTFT target, and what keeps them off it.

    ``None`` when a cold start alone stays under the target.
    """
    if cold_start_s <= ttft_target_s:
        return None
    breaking = [(n, s) for n, s in sorted(components, key=lambda c: -c[1]) if s > 0]
    listed = ", ".join(f"{name} {s:.3g} s" for name, s in breaking[:4])
    head = (
        f"a GPU cold start takes {cold_start_s:.3g} s ({listed}), over the TTFT target of "
        f"{format_ms(ttft_target_s * 1000)}"
    )
    if warm:
        return (
            f"{head}: {warm} warm instance{'s keep' if warm != 1 else ' keeps'} cold starts to "
            f"{cold_start_rate:.2%} of requests"
        )
    if cold_start_rate <= _P95_SHARE:
        return (
            f"{head}: without a warm instance cold starts are {cold_start_rate:.2%} of requests, "
            "so the p95 holds and those requests miss it"
        )
    return f"{head}, and {cold_start_rate:.2%} of requests start cold: the p95 misses it"
