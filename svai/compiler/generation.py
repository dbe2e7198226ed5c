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
from svai.compiler.hardware import describe_gpus, same_gpus
from svai.compiler.needs import TokenNeeds
from svai.compiler.perf import PerfResult
from svai.compiler.perf.latency import fixed_time_quantile
from svai.compiler.perf.tokens import (
    MemoryFit,
    TokenTiming,
    measured_timing,
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
    """Warm TTFT and time per token on ``size``; ``None`` when nothing gives them.

    ``svai bench``'s measured timings where they were taken on this size's GPUs (type, memory
    and count); elsewhere the catalogued card's datasheet figures.
    """
    card = card_for(offering, size, throughput)
    measured = tokens.measured
    vram = offering.vram_per_gpu_gb(size)
    if measured is not None and size.gpu is not None and same_gpus(measured.hardware, size, vram):
        return measured_timing(
            measured.ttft_s, measured.tpot_s, measured.prompt_tokens, tokens.prompt,
            size.gpu, describe_gpus(size.gpu, size.gpu_count, vram),
        )  # fmt: skip
    if card is None or not throughput.decode_efficiency or not throughput.prefill_efficiency:
        return None
    return token_timing(fit, card, throughput, tokens.prompt)


def ttft_p95_s(perf: PerfResult, timing: TokenTiming) -> float:
    """Time to first token at p95: warm TTFT + overheads + queueing + cold starts.

    The first token waits for what the whole answer waits for: the platform's overheads, the
    queue and, for a cold request, its cold start; the spread of generation time (output
    lengths) does not delay it. The p95 is taken over the same request groups as the latency
    percentiles (:func:`~svai.compiler.perf.latency.fixed_time_quantile`), so a wait that
    only some requests have counts as often as it happens (checked against an event
    simulation in ``bench/bench_ttft.py``).
    """
    if not perf.components:
        return timing.ttft_s + perf.overhead_s
    return fixed_time_quantile(perf.components, timing.ttft_s, 0.95) + perf.overhead_s


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
        basis=_basis(timing),
    )


def _basis(timing: TokenTiming | None) -> str:
    """Where the token timings come from, with unverified figures said as such."""
    if timing is None:
        return "no GPU figures catalogued"
    if timing.measured_on is not None:
        return f"measured by svai bench on {timing.measured_on}"
    if timing.unverified:
        return "catalogued GPU figures, unverified datasheet values"
    return "catalogued GPU figures"


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
