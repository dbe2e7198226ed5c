"""GPU packages: the CUDA image, its pinned engine stack, and engine settings per GPU flavour.

A spec with ``gpu.required`` gets a GPU image (:mod:`svai.spec.engines` picks the engine, or
refuses): a pinned CUDA runtime base, Python from the base's distribution, pinned torch (and
vLLM for text generation), non-root, with a health check whose start period allows for a large
model's load. Each GPU flavour the catalog offers gets matching engine settings: ``dtype``
(bfloat16 from Ampere on, float16 on a T4, which has no bfloat16), the longest context the card's
memory leaves room for beside the weights (``max_model_len``) and the share of GPU memory the
engine may take. The settings reach the runtime as ``engine`` and ``generation`` in
``svai_runtime.json``, never as code.

The pins: vLLM's own pin of torch (vLLM 0.34.0 requires torch 2.14.0 and transformers < 5.23,
read from its published metadata); the transformers engine's torch and transformers are the
versions installed where svai is tested (its engine tests run them on CPU). No GPU image is
built or run here (no Docker engine, no CUDA): the image size is an estimate, labelled so.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from svai.compiler.catalog import load_catalog
from svai.compiler.recommendation import TargetRecommendation
from svai.runtime.engines.vllm import VLLM_VERSION
from svai.spec.engines import Engine
from svai.spec.resolve import ResolvedSpec

__all__ = [
    "CUDA_BASE_IMAGE",
    "GPU_PYTHON",
    "MODEL_DIR",
    "GpuProfile",
    "engine_section",
    "generation_section",
    "gpu_requirements",
    "image_estimate",
    "profile",
]


CUDA_BASE_IMAGE = "nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04"
"""Pinned by tag (no registry is reachable here to resolve its digest)."""


GPU_PYTHON = "python3.12"
"""Ubuntu 24.04's own Python: installed from the base's distribution, no third-party builds."""


MODEL_DIR = "model"
"""Where the Hugging Face folder sits in the package (or in the start-time fetch's cache)."""


# Engine stacks: (package, version); None reads the version installed here. PyPI's Linux torch
# wheels carry their CUDA libraries. vLLM's stack leaves numpy and tokenizers to vLLM's own
# constraints; the transformers stack pins the versions its CPU tests ran with here.
# One vLLM pin: the image installs the version the engine is written against.
_VLLM_STACK = (("vllm", VLLM_VERSION), ("torch", "2.14.0"), ("transformers", "5.22.2"))
_TRANSFORMERS_STACK = (
    ("torch", None),
    ("transformers", None),
    ("safetensors", None),
    ("tokenizers", None),
    ("numpy", None),
)
_COMMON = ("orjson", "redis", "httptools")


@dataclass(frozen=True, slots=True)
class GpuProfile:
    """Engine settings that suit one GPU flavour."""

    name: str
    vram_gb: int
    dtype: str
    max_model_len: int | None
    gpu_memory_utilization: float


_DEFAULT_FRACTION = 0.90
# dtype and context per flavour; the memory fraction is the catalog's (``gpu_throughput``), the
# same figure the recommender fits weights and KV cache into, so the two cannot drift apart.
# Keyed by (flavour, memory per GPU): the A100 is sold with 40 GB (p4d, a2-highgpu) and 80 GB
# (NC A100 v4, a2-ultragpu); the first listed is the flavour's default when the memory is unknown.
_SETTINGS = {
    ("T4", 16): ("float16", 2048),  # Turing: no bfloat16
    ("L4", 24): ("bfloat16", 4096),
    ("A10G", 24): ("bfloat16", 4096),
    ("A100", 80): ("bfloat16", 8192),
    ("A100", 40): ("bfloat16", 4096),
    ("H100", 80): ("bfloat16", 8192),
}


# Installed sizes in MB, for the image estimate (order of magnitude, not measured here).
_ESTIMATE_MB = {"base": 3_400, "python": 120, "torch": 4_300, "vllm": 1_600, "runtime": 150}


def profile(gpu: str | None, vram_gb: float | None = None) -> GpuProfile:
    """The settings of a GPU flavour (``L4``...) with ``vram_gb`` per GPU when known.

    Conservative defaults for a flavour not listed; a listed flavour with a memory size not
    listed gets its first listed size's settings.
    """
    name = (gpu or "").upper()
    sizes = [vram for flavour, vram in _SETTINGS if flavour == name]
    if not sizes:
        return GpuProfile(gpu or "unknown", 0, "auto", None, _DEFAULT_FRACTION)
    vram_gb = next((v for v in sizes if vram_gb is not None and v == round(vram_gb)), sizes[0])
    dtype, context = _SETTINGS[name, vram_gb]
    card = load_catalog().gpu_throughput.card(name, vram_gb)
    fraction = card.memory_fraction if card is not None else _DEFAULT_FRACTION
    return GpuProfile(name, vram_gb, dtype, context, fraction)


def engine_section(
    engine: Engine, spec: ResolvedSpec, rec: TargetRecommendation | None
) -> dict[str, Any]:
    """``svai_runtime.json``'s ``engine``: which engine, on which device, with which settings."""
    count = rec.choice.gpu_count if rec is not None and rec.choice.gpu_count else spec.gpu.count
    if rec is not None:
        card = profile(rec.choice.gpu, _chosen_vram_gb(rec))
    else:
        declared = spec.gpu.memory_bytes / 1e9 / max(1, count) if spec.gpu.memory_bytes else None
        card = profile(spec.gpu.type, declared)
    return {
        "name": engine.name,
        "device": "cuda",
        "dtype": card.dtype,
        "max_model_len": card.max_model_len,
        "gpu_memory_utilization": card.gpu_memory_utilization,
        "tensor_parallel_size": max(1, count),
        "vllm_args": [],
    }


def _chosen_vram_gb(rec: TargetRecommendation) -> float | None:
    """Memory per GPU of the recommended size, from the catalog (``None``: not found)."""
    choice = rec.choice
    offering = load_catalog().get(choice.offering)
    for size in offering.sizes:
        same = (size.gpu, size.gpu_count, size.memory_mb) == (
            choice.gpu, choice.gpu_count, choice.memory_mb,
        )  # fmt: skip
        if same and (choice.instance_type is None or size.name == choice.instance_type):
            return offering.vram_per_gpu_gb(size)
    return None


def generation_section(spec: ResolvedSpec, engine: dict[str, Any]) -> dict[str, Any]:
    """``svai_runtime.json``'s ``generation``: prompt and output caps, templates."""
    context = engine["max_model_len"]
    max_tokens = 1024 if context is None else min(1024, context // 2)
    return {
        "max_prompt_tokens": None if context is None else context - max_tokens,
        "max_tokens": max_tokens,
        "default_max_tokens": min(256, max_tokens),
        "chat_template": None,  # the model folder's own chat template, when it has one
        "prompt_templates": list(spec.model.prompt_templates),
    }


def gpu_requirements(
    engine: Engine, declared: Sequence[str] = (), runtime: Sequence[str] = ()
) -> str:
    """``requirements.txt`` of a GPU image: the engine stack pinned, then the runtime's needs.

    ``declared``: the spec's ``model.requirements`` for its hooks, appended as declared.
    ``runtime``: packages the runtime needs for this spec only (the OTLP exporter), pinned.
    """
    stack = _VLLM_STACK if engine.name == "vllm" else _TRANSFORMERS_STACK
    lines = [f"# Generated by svai build: the {engine.name} engine's GPU stack, pinned."]
    pinned = {name for name, _ in stack}
    common = (*_COMMON, *runtime)
    for name, version in (*stack, *((n, None) for n in common if n not in pinned)):
        found = version or _installed(name)
        lines.append(f"{name}=={found}" if found else f"{name}  # not installed here: pin it")
    if declared:
        lines.append("# Declared by the spec (model.requirements) for its hooks.")
        lines += list(declared)
    return "\n".join(lines) + "\n"


def image_estimate(engine: Engine, baked_bytes: int) -> dict[str, Any]:
    """Estimated installed image size in MB: base, Python, torch, vLLM, runtime, baked weights."""
    parts = {k: v for k, v in _ESTIMATE_MB.items() if k != "vllm" or engine.name == "vllm"}
    parts["weights"] = round(baked_bytes / 1_000_000)
    return {"estimate": True, "parts_mb": parts, "total_mb": sum(parts.values())}


def _installed(name: str) -> str | None:
    try:  # without a local label: "2.13.0+cpu" here is "2.13.0" on the index
        return importlib.metadata.version(name).split("+", 1)[0]
    except importlib.metadata.PackageNotFoundError:
        return None
