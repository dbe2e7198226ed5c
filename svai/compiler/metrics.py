"""Evaluation metrics: the numbers a release gate compares, computed from an eval set's answers.

Pure functions of the predicted and expected values (``svai eval`` runs the model; this module
only scores). Labels compare by value (``"block" == "block"``, ``1 == 1``); a gate's ``positive``
class turns precision, recall and F1 into that class's figures instead of the macro average;
``roc_auc`` ranks a numeric score (ties share their rank, as Mann-Whitney's U does).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from svai.errors import UsageError
from svai.spec.resolve import ResolvedGates

__all__ = ["FAMILIES", "Scored", "compute_metric", "pick", "score_answers"]

FAMILIES: Mapping[str, tuple[str, ...]] = {
    "labels": ("accuracy", "precision", "recall", "f1"),
    "numbers": ("mae", "rmse"),
    "vectors": ("cosine",),
    "text": ("exact_match",),
}
"""Metrics reported together: every metric of the gate metric's family is computed."""


@dataclass(frozen=True, slots=True)
class Scored:
    """Metrics of one eval run.

    Attributes:
        metrics: metric name -> value, the gate's metric and its family.
        samples: eval lines scored.
    """

    metrics: dict[str, float]
    samples: int


def pick(body: Any, path: str | None) -> Any:
    """Follow the dotted ``path`` (``decision``, ``labels.0``) into a response's ``outputs``.

    Raises:
        UsageError: the path does not exist in this response.
    """
    value = body
    for part in path.split(".") if path else ():
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise UsageError(f"the response has no {path!r} (at {part!r}): {_short(body)}")
    return value


def score_answers(
    gates: ResolvedGates,
    outputs: Sequence[Any],
    expected: Sequence[Any],
    scorer: Callable[[Any, Any], float] | None = None,
) -> Scored:
    """Score the eval set's answers (each response's ``outputs``) against its ``expected`` values.

    Raises:
        UsageError: a missing path, mismatched lengths, a metric that cannot be computed.
    """
    predicted: list[Any] = [pick(body, gates.prediction) for body in outputs]
    scores: list[float] | None = None
    if gates.score is not None:
        scores = [_finite(pick(body, gates.score), gates.score) for body in outputs]
        if gates.threshold is not None:
            yes = gates.positive if gates.positive is not None else 1
            no = _negative(expected, yes)
            predicted = [yes if s >= gates.threshold else no for s in scores]
    labels = FAMILIES["labels"]
    family = next((f for f in FAMILIES.values() if gates.metric in f), ())
    if gates.metric == "roc_auc" and (gates.threshold is not None or gates.prediction):
        family = labels  # the score also makes labels: report them beside the ranking
    metrics = {name: compute_metric(name, predicted, expected, positive=gates.positive)
               for name in family}  # fmt: skip
    if scores is not None and (gates.metric == "roc_auc" or family == labels):
        metrics["roc_auc"] = roc_auc(scores, expected, gates.positive)
    if gates.metric == "scorer":
        if scorer is None:
            raise UsageError("metric scorer: no scorer function was loaded")
        metrics["scorer"] = _mean_score(scorer, predicted, expected)
    return Scored(dict(sorted(metrics.items())), len(expected))


def compute_metric(
    metric: str, predicted: Sequence[Any], expected: Sequence[Any], *, positive: Any = None
) -> float:
    """Return ``metric`` of ``predicted`` against ``expected`` (the eval set's answers).

    ``accuracy``, ``precision``, ``recall`` and ``f1`` compare labels (the last three
    macro-averaged over the labels seen, or of the ``positive`` class); ``mae`` and ``rmse``
    compare numbers; ``cosine`` is the mean cosine similarity of paired vectors;
    ``exact_match`` compares text after trimming white space.

    Raises:
        UsageError: an unknown metric, lengths that differ, or an empty eval set.
    """
    if len(predicted) != len(expected):
        raise UsageError(f"{len(predicted)} predictions for {len(expected)} expected answers")
    if not expected:
        raise UsageError("the eval set has no answers to compare")
    pairs = [(_key(p), _key(e)) for p, e in zip(predicted, expected, strict=True)]
    if metric == "accuracy":
        return sum(p == e for p, e in pairs) / len(pairs)
    if metric in ("precision", "recall", "f1"):
        labels = (
            [_key(positive)]
            if positive is not None
            else sorted({x for pair in pairs for x in pair})
        )
        return sum(_per_class(metric, label, pairs) for label in labels) / len(labels)
    if metric in ("mae", "rmse"):
        errors = [
            _finite(p, "prediction") - _finite(e, "expected")
            for p, e in zip(predicted, expected, strict=True)
        ]
        if metric == "mae":
            return sum(abs(x) for x in errors) / len(errors)
        return math.sqrt(sum(x * x for x in errors) / len(errors))
    if metric == "cosine":
        return sum(_cosine(p, e) for p, e in zip(predicted, expected, strict=True)) / len(pairs)
    if metric == "exact_match":
        return sum(
            str(p).strip() == str(e).strip() for p, e in zip(predicted, expected, strict=True)
        ) / len(pairs)
    known = "accuracy, precision, recall, f1, roc_auc, mae, rmse, cosine, exact_match, scorer"
    raise UsageError(f"unknown metric {metric!r} ({known})")


def roc_auc(scores: Sequence[float], expected: Sequence[Any], positive: Any = None) -> float:
    """Area under the ROC curve of ``scores`` for the ``positive`` class (default: truthy labels).

    Raises:
        UsageError: lengths differ, or the eval set lacks one of the two classes.
    """
    if len(scores) != len(expected):
        raise UsageError(f"{len(scores)} scores for {len(expected)} expected answers")
    is_positive = [
        (_key(e) == _key(positive)) if positive is not None else bool(e) for e in expected
    ]
    n_pos = sum(is_positive)
    n_neg = len(is_positive) - n_pos
    if not n_pos or not n_neg:
        raise UsageError("roc_auc needs both positive and negative answers in the eval set")
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for i in order[start : end + 1]:
            ranks[i] = (start + end) / 2 + 1  # tied scores share the mean of their ranks
        start = end + 1
    rank_sum = sum(rank for rank, pos in zip(ranks, is_positive, strict=True) if pos)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _per_class(metric: str, label: str, pairs: Sequence[tuple[str, str]]) -> float:
    tp = sum(p == label and e == label for p, e in pairs)
    fp = sum(p == label and e != label for p, e in pairs)
    fn = sum(p != label and e == label for p, e in pairs)
    if metric == "precision":
        return tp / (tp + fp) if tp + fp else 0.0
    if metric == "recall":
        return tp / (tp + fn) if tp + fn else 0.0
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def _negative(expected: Sequence[Any], positive: Any) -> Any:
    """The label that is not ``positive`` in a two-class eval set (0 for 0/1 labels)."""
    others = sorted({_key(e) for e in expected} - {_key(positive)})
    if len(others) > 1:
        raise UsageError(
            f"a threshold makes two labels, but the eval set has {len(others) + 1}: "
            f"{', '.join([_key(positive), *others])}"
        )
    if not others:
        return 0
    return next(e for e in expected if _key(e) == others[0])


def _mean_score(
    scorer: Callable[[Any, Any], float], predicted: Sequence[Any], expected: Sequence[Any]
) -> float:
    values = []
    for p, e in zip(predicted, expected, strict=True):
        value = scorer(p, e)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise UsageError(f"the scorer must return a number in [0, 1], got {value!r}")
        values.append(float(value))
    if not values:
        raise UsageError("the eval set has no answers to compare")
    return sum(values) / len(values)


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"{what}: expected a finite number, got {_short(value)}")
    return float(value)


def _key(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _cosine(a: Any, b: Any) -> float:
    if not isinstance(a, Sequence) or not isinstance(b, Sequence) or len(a) != len(b):
        raise UsageError("cosine compares vectors of the same length")
    dot = sum(float(x) * float(y) for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(float(x) ** 2 for x in a)) * math.sqrt(sum(float(y) ** 2 for y in b))
    return dot / norm if norm else 0.0


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
