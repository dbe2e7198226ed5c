"""The ``rollout`` section: how a new version is released and what rolls it back."""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

from pydantic import Field, model_validator

from svai.spec.model.base import FieldError, Strict
from svai.spec.model.scalars import Duration, EntryPoint, Fraction, RelPath

__all__ = ["Gates", "RollbackOn", "Rollout"]


class RollbackOn(Strict):
    """Live signals that roll a rollout step back."""

    p99: Duration | None = None
    """Roll back when p99 latency of the new version exceeds this."""
    error_rate: Fraction | None = None
    """Roll back when the error rate (0-1) of the new version exceeds this."""
    cold_start_rate: Fraction | None = None
    """Roll back when the cold-start rate (0-1) of the new version exceeds this."""


GateMetric = Literal[
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "mae",
    "rmse",
    "cosine",
    "exact_match",
    "scorer",
]


class Gates(Strict):
    """Offline evaluation evidence required before each rollout step (``svai eval``)."""

    eval_set: RelPath
    """JSON Lines file of ``{"input": <request body>, "expected": <answer>}``, run by ``svai eval``."""
    metric: GateMetric = "accuracy"
    """Quality metric the gate checks: ``accuracy``, ``precision``, ``recall``, ``f1`` (labels;
    macro-averaged unless ``positive`` names the class), ``roc_auc`` (``score`` against
    ``positive``), ``mae``, ``rmse`` (numbers), ``cosine`` (embeddings), ``exact_match``
    (generated text), or ``scorer`` (your function)."""
    min: float | None = None
    """Lowest acceptable metric value (accuracy, precision, recall, f1, roc_auc, cosine, ...)."""
    max: float | None = None
    """Highest acceptable metric value (mae, rmse)."""
    prediction: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    """Dotted path of the predicted answer in the response body (``decision``,
    ``outputs.label``); default: the whole body. Compared with each line's ``expected``."""
    score: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    """Dotted path of a numeric score in the response body (``fraud_probability``): needed by
    ``roc_auc``; with ``threshold`` it also makes the predicted label."""
    threshold: float | None = None
    """With ``score``: the predicted label is ``positive`` when the score is at least this."""
    positive: Annotated[str, Field(max_length=200)] | int | None = None
    """The positive class: precision, recall and f1 of this class (instead of the macro
    average), the class ``roc_auc`` ranks, and the label a ``threshold`` gives."""
    scorer: EntryPoint | None = None
    """``file.py:function(predicted, expected) -> float in [0, 1]``, averaged (metric ``scorer``)."""
    min_samples: Annotated[int, Field(ge=1, le=10_000_000)] = 100
    """Fewer eval lines than this hold the release (never a pass), whatever the metric says."""
    p95: Duration | None = None
    """Highest acceptable p95 latency on the eval set."""
    p99: Duration | None = None
    """Highest acceptable p99 latency on the eval set."""
    cost_per_1k_usd: Annotated[float, Field(ge=0)] | None = None
    """Highest acceptable predicted cost per 1,000 predictions."""

    @model_validator(mode="after")
    def _threshold(self) -> Gates:
        if self.min is None and self.max is None:
            raise ValueError("a gate needs a threshold: `min` or `max` for the metric")
        if self.metric == "roc_auc" and self.score is None:
            raise ValueError("metric roc_auc ranks a score: set `score` (its path in the response)")
        if self.metric == "scorer" and self.scorer is None:
            raise ValueError("metric scorer needs `scorer: file.py:function`")
        if self.threshold is not None and self.score is None:
            raise ValueError("`threshold` applies to a `score`: set its path in the response")
        return self


class Rollout(Strict):
    """How a new version replaces the old one."""

    strategy: Literal["all-at-once", "blue-green", "canary", "shadow"] = "all-at-once"
    """Release strategy."""
    steps: list[Annotated[int, Field(ge=1, le=100)]] | None = None
    """Canary traffic percentages, increasing and ending at 100 (``[10, 50, 100]``)."""
    interval: Duration = "10m"
    """Time each step is observed before the next."""
    rollback_on: RollbackOn = Field(default_factory=RollbackOn)
    """Live signals that roll back automatically."""
    gates: Gates | None = None
    """Offline evaluation evidence before each step."""

    @model_validator(mode="after")
    def _steps(self) -> Rollout:
        if self.strategy == "canary":
            steps = self.steps or []
            if not steps:
                raise FieldError("strategy", "`strategy: canary` needs `steps`, e.g. [10, 50, 100]")
            if any(b <= a for a, b in itertools.pairwise(steps)) or steps[-1] != 100:
                raise FieldError("steps", f"canary steps must increase and end at 100, got {steps}")
        elif self.steps is not None:
            raise FieldError(
                "steps", f"`steps` only applies to `strategy: canary`, not {self.strategy}"
            )
        return self
