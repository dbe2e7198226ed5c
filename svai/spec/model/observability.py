"""The ``observability`` section: alarms, budget, logs, tracing and drift."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Literal

from pydantic import Field, model_validator

from svai.spec.model.base import FieldError, Strict
from svai.spec.model.scalars import Duration, Fraction, RelPath
from svai.spec.units import quote

__all__ = ["Alarms", "Drift", "DriftThreshold", "FeatureThreshold", "Observability"]


class Alarms(Strict):
    """Alarm thresholds (defaults come from the latency targets)."""

    p95: Duration | None = None
    """Alarm when p95 latency exceeds this (default: the p95 target)."""
    p99: Duration | None = None
    """Alarm when p99 latency exceeds this (default: the p99 target)."""
    error_rate: Fraction = 0.01
    """Alarm when the error rate exceeds this fraction."""
    dlq_depth: Annotated[int, Field(ge=1)] = 1
    """Alarm when the dead-letter queue holds this many messages."""
    queue_age: Duration = "5m"
    """Alarm when the oldest queued job is older than this."""
    cold_start_rate: Fraction | None = None
    """Alarm when the cold-start rate exceeds this fraction."""


_FEATURE_PATH = r"^[A-Za-z0-9_\-]{1,64}(\.([A-Za-z0-9_\-]{1,64}|\*)){0,7}$"
FeaturePath = Annotated[str, Field(pattern=_FEATURE_PATH)]
"""A dotted path into a request body (``transaction.amount``); ``*`` stands for every element of
a list (``inputs.*.3``: column 3 of every row), a number for one element."""


class DriftThreshold(Strict):
    """When a feature's live distribution counts as drifted from the baseline."""

    psi: Annotated[float, Field(gt=0, le=10)] = 0.2
    """Population stability index over the baseline's bins (0.1 small, 0.2 large, by convention)."""
    ks: Annotated[float, Field(gt=0, le=1)] = 0.1
    """Kolmogorov-Smirnov distance: the largest gap between the two cumulative distributions."""


class FeatureThreshold(Strict):
    """One feature's own thresholds; an unset one is the section's ``threshold``."""

    psi: Annotated[float, Field(gt=0, le=10)] | None = None
    """This feature's PSI threshold."""
    ks: Annotated[float, Field(gt=0, le=1)] | None = None
    """This feature's KS threshold."""


class Drift(Strict):
    """Input/output drift monitoring: live summaries compared with a baseline (``svai drift``)."""

    enabled: bool = False
    """Summarise a sample of inputs and outputs per model version for drift analysis."""
    sample_rate: Fraction = 0.01
    """Fraction of requests sampled."""
    baseline: RelPath | None = None
    """JSON Lines reference sample: one request body per line, or eval lines ``{"input": <body>,
    "output": <outputs>}``; default: ``rollout.gates.eval_set``."""
    features: list[FeaturePath] = Field(default_factory=list, max_length=64)
    """Request fields compared with the baseline, as dotted paths into the body; numbers get the
    baseline's decile bins, strings its most common values."""
    prediction: Annotated[str, Field(pattern=_FEATURE_PATH)] | None = None
    """Dotted path of the prediction in the answer's ``outputs`` (``fraud_probability``): its
    distribution is binned, summarised and compared like a feature when the baseline's lines
    carry ``output`` (ignored otherwise)."""
    threshold: DriftThreshold = Field(default_factory=DriftThreshold)
    """Drift thresholds of every feature; the drift alarm and promote gate fire above them."""
    per_feature: dict[FeaturePath, FeatureThreshold] = Field(default_factory=dict, max_length=64)
    """Thresholds of single features, by path (each one of ``features``)."""
    min_samples: Annotated[int, Field(ge=10, le=1_000_000)] = 100
    """Sampled requests a live window holds before the runtime judges drift."""

    @model_validator(mode="after")
    def _features(self) -> Drift:
        repeated = sorted(f for f, n in Counter(self.features).items() if n > 1)
        if repeated:
            raise FieldError("features", f"{', '.join(repeated)} listed more than once")
        for name in self.per_feature:
            if name not in self.features:
                raise FieldError(
                    ("per_feature", name), f"{quote(name)} is not one of `features`; add it there"
                )
        return self


class Observability(Strict):
    """Alarms, budgets, logs."""

    alarms: Alarms = Field(default_factory=Alarms)
    """Alarm thresholds."""
    tracing: Literal["none", "otel"] = "none"
    """``otel``: container targets export a span per request and request metrics over OTLP."""
    budget_usd_month: Annotated[float, Field(gt=0, le=10_000_000)] | None = None
    """Monthly budget per target; alerts at 80% forecast and 100% actual."""
    alert_email: Annotated[str, Field(pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}$")] | None = None
    """Where budget and alarm notifications go."""
    log_retention: Duration = "30d"
    """How long logs are kept."""
    drift: Drift = Field(default_factory=Drift)
    """Drift and quality monitoring."""
