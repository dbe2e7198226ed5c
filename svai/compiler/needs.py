"""What a model needs from an instance: memory, GPU, service and load time, package size.

Each figure is measured (``svai bench``, or the artifact file's size) > declared in the spec >
estimated per framework, and the result says which, so the recommendation can tell a reviewer
which numbers are soft.
"""

from __future__ import annotations

from dataclasses import dataclass

from svai.compiler.hardware import MeasuredHardware
from svai.compiler.perf.tokens import params_from_size
from svai.spec.resolve import ResolvedSpec

__all__ = [
    "DEFAULT_TOKENS",
    "MB",
    "MeasuredColdStart",
    "MeasuredHardware",
    "MeasuredTokens",
    "Measurements",
    "ModelNeeds",
    "TokenNeeds",
    "model_needs",
]

MB = 1_000_000
MIB = 1024 * 1024
_ESTIMATES: dict[str, tuple[float, float]] = {
    # framework: (artifact MB, warm service seconds on one vCPU) when nothing is declared
    "onnx": (50.0, 0.010),
    "sklearn": (20.0, 0.005),
    "xgboost": (20.0, 0.005),
    "lightgbm": (20.0, 0.005),
    "catboost": (20.0, 0.005),
    "pytorch": (200.0, 0.050),
    "transformers": (400.0, 0.060),
    "custom": (100.0, 0.050),
}
_IMPORT_S = {"onnx": 0.2, "sklearn": 0.2, "xgboost": 0.2, "lightgbm": 0.2, "catboost": 0.2}
_TORCH_IMPORT_S = 2.0
_LOAD_MB_PER_S = 200.0
_RUNTIME_MB = 300.0


@dataclass(frozen=True, slots=True)
class Measurements:
    """Figures measured on the real artifact (``svai bench``, or the artifact file's size)."""

    artifact_bytes: int | None = None
    load_time_s: float | None = None
    inference_time_s: float | None = None
    inference_p99_s: float | None = None
    memory_bytes: int | None = None
    hardware: MeasuredHardware | None = None
    """The machine ``svai bench`` measured on (``None``: not recorded, or nothing measured)."""
    tokens: MeasuredTokens | None = None
    """Token timings measured on a GPU, for a text-generation model."""
    cold_start: MeasuredColdStart | None = None
    """The engine's load components as the served runtime logged them."""


@dataclass(frozen=True, slots=True)
class MeasuredTokens:
    """Warm token timings measured on the artifact (they apply only on the same GPUs).

    Attributes:
        ttft_s: Warm time to first token at ``prompt_tokens``.
        tpot_s: Time per output token after the first.
        prompt_tokens: The prompt length the TTFT was measured at.
        hardware: Where: the GPU type, memory and count must match a size's to replace the
            catalogued card figures there.
    """

    ttft_s: float
    tpot_s: float
    prompt_tokens: int
    hardware: MeasuredHardware | None


@dataclass(frozen=True, slots=True)
class MeasuredColdStart:
    """The cold-start components the served runtime logged at load (they apply on the same GPUs).

    Attributes:
        components: Component name -> seconds, named as the runtime logs them
            (``import_torch_s``, ``device_s``, ``weights_s``, ``warmup_s``; ``fetch_s`` when the
            model was fetched at start), in that order.
        hardware: Where: the GPU type, memory and count must match a size's to replace the
            catalogued components there.
    """

    components: tuple[tuple[str, float], ...]
    hardware: MeasuredHardware | None


@dataclass(frozen=True, slots=True)
class TokenNeeds:
    """A text-generation model in tokens: its size and what one request reads and writes."""

    params_b: float
    """Parameters in billions (from the 16-bit checkpoint's size)."""
    prompt: int
    output: int
    context: int
    quantize: str
    """The spec's ``model.optimize.quantize`` (``none``, ``int8``, ``fp16``)."""
    measured: MeasuredTokens | None = None
    """``svai bench``'s token timings of this artifact, when it measured them."""


DEFAULT_TOKENS = (512, 256)
"""Prompt and output tokens per request when a text-generation spec gives none (estimated)."""


@dataclass(frozen=True, slots=True)
class ModelNeeds:
    """What the model needs from an instance, with the provenance of each figure."""

    artifact_mb: float
    memory_mb: float
    """Host memory in MiB (the catalog's unit for sizes)."""
    service_s: float
    service_p99_s: float | None
    load_s: float
    gpu: bool
    gpu_type: str | None
    gpu_count: int
    vram_gb: float
    measured: tuple[str, ...]
    estimated: tuple[str, ...]
    tokens: TokenNeeds | None = None
    """Set for a text-generation model on a GPU: memory fit and token timings use it."""
    measured_on: MeasuredHardware | None = None
    """The machine the ``measured`` figures were taken on (checked against each size)."""
    cold_start: MeasuredColdStart | None = None
    """``svai bench``'s cold-start components of this artifact, when the runtime logged them."""


def model_needs(spec: ResolvedSpec, measured: Measurements | None = None) -> ModelNeeds:
    """Return the model's needs: measured > declared > estimated per framework."""
    m = measured or Measurements()
    model = spec.model
    est_mb, est_service = _ESTIMATES[model.framework]
    gpu = spec.gpu.required
    if gpu:
        est_mb, est_service = 2200.0, 0.5
    provenance: dict[str, str] = {}

    def pick(name: str, meas: float | None, declared: float | None, estimate: float) -> float:
        if meas is not None:
            provenance[name] = "measured"
            return meas
        if declared is not None:
            provenance[name] = "declared"
            return declared
        provenance[name] = "estimated"
        return estimate

    artifact_mb = pick(
        "model size",
        m.artifact_bytes / MB if m.artifact_bytes is not None else None,
        model.size_bytes / MB if model.size_bytes is not None else None,
        est_mb,
    )
    service_s = pick("inference time", m.inference_time_s, model.inference_time_s, est_service)
    torch_like = model.framework in ("pytorch", "transformers", "custom")
    import_s = _TORCH_IMPORT_S if torch_like else _IMPORT_S.get(model.framework, 0.5)
    # On a GPU the measured GPU components (import torch, CUDA context, weights) come from the
    # catalog's gpu_runtime; the load time here is only what remains on top of them.
    load_estimate = 0.2 if gpu else import_s + artifact_mb / _LOAD_MB_PER_S
    load_s = pick("load time", m.load_time_s, model.load_time_s, load_estimate)
    # Memory in MiB, the unit of every size in the catalog (artifact sizes stay in MB).
    memory_mb = pick(
        "memory",
        m.memory_bytes / MIB if m.memory_bytes is not None else None,
        model.memory_bytes / MIB if model.memory_bytes is not None else None,
        _RUNTIME_MB + 2.5 * artifact_mb if not gpu else max(8192.0, 1.5 * artifact_mb),
    )
    vram = spec.gpu.memory_bytes / 1e9 if spec.gpu.memory_bytes else 1.3 * artifact_mb / 1000
    tokens = None
    if gpu and model.task == "text-generation":
        declared = spec.traffic.tokens
        if declared is None:
            provenance["tokens per request"] = "estimated"
        prompt, output = (declared.prompt, declared.output) if declared else DEFAULT_TOKENS
        tokens = TokenNeeds(
            params_b=params_from_size(artifact_mb * MB),
            prompt=prompt,
            output=output,
            context=declared.context if declared else prompt + output,
            quantize=model.quantize,
            measured=m.tokens,
        )
        # The weights alone set the floor; the KV cache is fitted per size and concurrency.
        vram = spec.gpu.memory_bytes / 1e9 if spec.gpu.memory_bytes else 0.0
    return ModelNeeds(
        artifact_mb=artifact_mb,
        memory_mb=memory_mb,
        service_s=service_s,
        service_p99_s=m.inference_p99_s,
        load_s=load_s,
        gpu=gpu,
        gpu_type=None if spec.gpu.type == "any" else spec.gpu.type,
        gpu_count=spec.gpu.count,
        vram_gb=vram,
        measured=tuple(k for k, v in provenance.items() if v == "measured"),
        estimated=tuple(k for k, v in provenance.items() if v == "estimated"),
        tokens=tokens,
        measured_on=m.hardware,
        cold_start=m.cold_start,
    )
