"""The recommendation: what svai chose per target, the numbers behind it, and what it rejected.

These frozen dataclasses are the contract of ``svai recommend --format json`` (see
:func:`to_dict`); other tools read it, so fields are only ever added, never renamed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from svai.spec.clouds import Cloud

__all__ = [
    "Alternative",
    "Assumptions",
    "Choice",
    "Generation",
    "InfeasibleTarget",
    "Prediction",
    "Proposal",
    "Recommendation",
    "TargetRecommendation",
    "Workload",
    "to_dict",
]

Kind = Literal["faas", "container", "endpoint"]


@dataclass(frozen=True, slots=True)
class Choice:
    """The chosen offering and its configuration."""

    offering: str
    name: str
    kind: Kind
    mode: Literal["sync", "async"]
    memory_mb: int
    vcpu: float
    gpu: str | None
    gpu_count: int
    instance_type: str | None
    concurrency_per_instance: int
    warm_instances: int
    max_instances: int
    package: Literal["zip", "image", "model"]


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the performance and cost models predict for a configuration."""

    p50_ms: float
    p95_ms: float
    p99_ms: float
    cold_start_rate: float
    mean_instances: float
    peak_instances: float
    monthly_requests: float
    monthly_cost_usd: float
    cost_per_1k_usd: float
    cost_breakdown: tuple[tuple[str, float], ...]
    per_release_usd: float = 0.0
    """What each canary or blue/green release costs beside the month: the second fleet it keeps
    up (:mod:`svai.compiler.release_cost`); 0 where it keeps none."""


@dataclass(frozen=True, slots=True)
class Workload:
    """What one month of traffic asks of the deployment: what its whole bill is priced for.

    Attributes:
        predictions: Predictions per month (jobs, for an async deployment).
        model_latency_s: Mean time one prediction takes on the model's service, queueing and
            cold starts included (what a proxy in front of an endpoint waits for).
        artifact_mb: The model artifact (kept in the deployment's storage).
        image_mb: The container image of the model's service (0 without one).
        compute: The model service's own cost lines per month, from the performance and cost
            model (``compute``, ``requests``, ``warm_pool``, ``fleet``, ...).
    """

    predictions: float
    model_latency_s: float
    artifact_mb: float
    image_mb: float
    compute: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Assumptions:
    """The inputs the prediction rests on, so a reviewer can challenge them."""

    keep_alive_s: float
    cold_start_s: float
    cold_start_components: tuple[tuple[str, float], ...]
    service_ms: float
    concurrency_per_instance: int
    arrival_rate_rps: float
    peak_rps: float
    measured: tuple[str, ...]
    """Which inputs were measured by ``svai bench`` rather than declared or estimated."""
    estimated: tuple[str, ...]
    """Which inputs svai had to estimate (declare or measure them for better numbers)."""
    unverified: tuple[str, ...] = ()
    """Which catalog figures behind the prediction no official source confirmed."""


@dataclass(frozen=True, slots=True)
class Alternative:
    """An offering svai considered: rejected with a reason, or feasible with its prediction."""

    offering: str
    name: str
    kind: Kind
    feasible: bool
    rejected_because: str | None
    predicted: Prediction | None
    meets_target: bool


@dataclass(frozen=True, slots=True)
class Proposal:
    """A change that would bring a target closer to its targets, with what svai predicts for it.

    Proposals come ranked by effect: the change that leaves the smallest miss first; loosening
    a target, which changes the goal rather than the deployment, always last.
    """

    change: Literal["async", "sync", "option", "warm_pool", "model", "timeout", "target"]
    """What changes: the API mode (to ``async`` or ``sync``), the offering or size, the warm
    pool, the model (a smaller or faster one), a timeout, or a latency target."""
    summary: str
    """The change as the user makes it (``set api.mode: async``)."""
    detail: str
    """Why, with the numbers."""
    meets_target: bool
    predicted: Prediction | None
    """The prediction with the change, when svai evaluated one."""


@dataclass(frozen=True, slots=True)
class Generation:
    """A text-generation model on the chosen size: memory fit and token timings.

    Attributes:
        gpus: GPUs per instance and their type (``4× A100 40 GB``).
        dtype: Serving dtype of the weights.
        shape: The architecture the KV cache was computed for (catalogued by parameter count).
        weights_gb: Weights in GB.
        kv_cache_gb: KV cache for the context × the concurrency per instance.
        overhead_gb: CUDA context, activations, engine buffers (per GPU × GPUs).
        usable_gb: GPU memory × GPUs × the engine's memory fraction.
        ttft_ms: Time to first token, p95 over requests, queueing and cold starts included.
        ttft_warm_ms: Time to first token on a warm instance (prefill + one decode step).
        tpot_ms: Time per output token after the first.
        tokens_per_s: Output tokens per second of one request.
        basis: Where the timings come from (the catalogued card figures, or measured).
    """

    gpus: str
    dtype: str
    shape: str
    weights_gb: float
    kv_cache_gb: float
    overhead_gb: float
    usable_gb: float
    ttft_ms: float
    ttft_warm_ms: float
    tpot_ms: float
    tokens_per_s: float
    basis: str


@dataclass(frozen=True, slots=True)
class TargetRecommendation:
    """The recommendation for one target."""

    cloud: Cloud
    region: str
    choice: Choice
    predicted: Prediction
    assumptions: Assumptions
    meets_target: bool
    reason: str
    """One line: why this option won."""
    notes: tuple[str, ...]
    """Warnings and advice: overrides worse than the recommendation, what would have to change."""
    alternatives: tuple[Alternative, ...]
    workload: Workload | None = None
    """What the predicted cost prices: ``svai plan`` prices its deployment for the same."""
    proposals: tuple[Proposal, ...] = ()
    """When the choice misses its targets: what would help, ranked by effect."""
    generation: Generation | None = None
    """Text generation only: memory fit, time to first token and tokens per second."""


@dataclass(frozen=True, slots=True)
class InfeasibleTarget:
    """A target no offering can serve as the spec asks, with every reason and what would help."""

    index: int
    """The target's position in the spec's ``targets``."""
    cloud: Cloud
    region: str
    mode: Literal["sync", "async", "auto"]
    """The API mode the target was tried in (``auto``: both)."""
    reasons: tuple[str, ...]
    """One line per offering (and mode) that was tried, naming what stops it."""
    alternatives: tuple[Alternative, ...]
    proposals: tuple[Proposal, ...] = ()


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The recommendation for every target of a spec.

    ``targets`` holds the targets svai can serve, in the spec's order; ``infeasible`` the ones
    it cannot, each with its reasons. Commands report both and exit 1 when any is infeasible.
    """

    name: str
    targets: tuple[TargetRecommendation, ...]
    infeasible: tuple[InfeasibleTarget, ...] = ()


def to_dict(value: Recommendation | TargetRecommendation | InfeasibleTarget) -> dict[str, Any]:
    """Return the recommendation as JSON-ready data (tuples of pairs become objects)."""
    return _jsonify(dataclasses.asdict(value))  # type: ignore[no-any-return]


_PAIR_FIELDS = {"cost_breakdown", "cold_start_components", "compute"}
_OMITTED_WHEN_NONE = {"generation"}
"""Fields only some recommendations have (text generation): absent rather than null elsewhere."""


def _jsonify(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {
            k: _jsonify(v, k)
            for k, v in value.items()
            if not (v is None and k in _OMITTED_WHEN_NONE)
        }
    if isinstance(value, list | tuple):
        if key in _PAIR_FIELDS:
            return {str(k): _jsonify(v) for k, v in value}
        return [_jsonify(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value
