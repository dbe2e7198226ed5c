"""Drift against the baseline: the bins the runtime counts in, and PSI and KS per feature.

The baseline (``observability.drift.baseline``, else the gates' eval set) is JSON Lines: a
request body per line, or an eval line ``{"input": <body>, "output": <outputs>, ...}``. From it
:func:`runtime_section` derives each feature's fixed bins (deciles of numbers, the most common
strings) with the baseline's count per bin, shipped in ``svai_runtime.json``; the runtime
(:mod:`svai.runtime.core.drift`) counts live traffic into the same bins.

:func:`compare` judges a sample against the baseline, feature by feature: PSI over the bins
and the two-sample Kolmogorov-Smirnov distance. For a local sample file both are exact for its
values; for live summaries (bin counts read back from the runtime's lines) KS is read at the bin
edges, a lower bound of the exact distance. A feature is flagged when either figure is above its
threshold; :func:`drift_verdict` turns the result into ``svai promote``'s drift gate.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from svai.errors import UsageError
from svai.ir import Alarm
from svai.runtime.core.drift import MAX_BINS, Bins, ks_binned, psi, values_at
from svai.spec.paths import project_file
from svai.spec.resolve import ResolvedDrift, ResolvedSpec

__all__ = [
    "MAX_SAMPLE_LINES",
    "DriftReport",
    "DriftVerdict",
    "FeatureDrift",
    "Sample",
    "bins_of",
    "compare",
    "counts",
    "drift_alarms",
    "drift_verdict",
    "read_baseline",
    "read_sample",
    "runtime_section",
]

MAX_SAMPLE_LINES = 1_000_000
"""Most lines read from a baseline or sample file."""
_DECILES = [q / 10 for q in range(1, 10)]


@dataclass(frozen=True, slots=True)
class Sample:
    """Raw values per feature path (and of the prediction) from a JSON Lines file."""

    lines: int
    values: Mapping[str, list[Any]]
    predictions: list[Any] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """One feature (or the prediction) judged against the baseline."""

    name: str
    count: int
    baseline_count: int
    mean: float | None
    baseline_mean: float | None
    psi: float
    ks: float | None
    psi_threshold: float
    ks_threshold: float
    flagged: bool


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Every feature judged; ``score`` is the largest PSI or KS over its threshold (> 1: drift)."""

    source: str
    samples: int
    features: tuple[FeatureDrift, ...]
    score: float
    flagged: tuple[str, ...]

    def as_evidence(self, model_version: str | None) -> dict[str, Any]:
        """The gate evidence key ``drift`` (also ``svai drift --format json``)."""
        return {
            "model_version": model_version,
            "source": self.source,
            "samples": self.samples,
            "score": self.score,
            "flagged": list(self.flagged),
            "features": [
                {k: getattr(f, k) for k in FeatureDrift.__dataclass_fields__} for f in self.features
            ],
        }


def read_sample(path: Path, drift: ResolvedDrift, what: str) -> Sample:
    """Read the values of every feature (and the prediction) from a JSON Lines file.

    Raises:
        UsageError: a line is not JSON (its number is given), or the file has no lines.
    """
    values: dict[str, list[Any]] = {name: [] for name, _, _ in drift.features}
    predictions: list[Any] = []
    lines = 0
    try:
        stream = path.open(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{what}: cannot read {path} ({exc.strerror})") from None
    with stream:
        for number, text in enumerate(stream, 1):
            if not text.strip():
                continue
            if lines >= MAX_SAMPLE_LINES:
                raise UsageError(f"{what}: {path} has more than {MAX_SAMPLE_LINES:,} lines")
            try:
                line = json.loads(text)
            except ValueError as exc:
                raise UsageError(f"{what}: {path} line {number} is not JSON ({exc})") from None
            lines += 1
            body, outputs = _split(line)
            for name in values:
                values[name].extend(values_at(body, name.split(".")))
            if drift.prediction is not None and outputs is not None:
                predictions.extend(values_at(outputs, drift.prediction.split(".")))
    if not lines:
        raise UsageError(f"{what}: {path} holds no lines")
    return Sample(lines, values, predictions)


def _split(line: Any) -> tuple[Any, Any]:
    """An eval line's input and output, or a bare request body and no output."""
    if isinstance(line, dict) and "input" in line and set(line) <= {"input", "output", "expected"}:
        return line["input"], line.get("output")
    return line, None


def read_baseline(spec: ResolvedSpec, base_dir: Path) -> Sample:
    """Read the spec's baseline.

    Raises:
        UsageError: there is no baseline, or it is missing, outside the project or malformed.
    """
    drift = spec.observability.drift
    if drift.baseline is None:
        raise UsageError(
            "observability.drift: no baseline to compare with; set `baseline` or "
            "`rollout.gates.eval_set`"
        )
    path = project_file(base_dir, drift.baseline, "observability.drift.baseline")
    return read_sample(path, drift, "observability.drift.baseline")


def bins_of(values: Sequence[Any]) -> dict[str, Any] | None:
    """Fixed bins for ``values``: decile edges of the numbers, else the common strings.

    ``None`` when the baseline holds neither (the feature is absent from it).
    """
    numbers = [v for v in values if _is_number(v)]
    strings = [v for v in values if isinstance(v, str)]
    if numbers and len(numbers) >= len(strings):
        edges = sorted({float(e) for e in np.quantile(np.asarray(numbers, float), _DECILES)})
        return {"edges": edges}
    if strings:
        return {"categories": [c for c, _ in Counter(strings).most_common(MAX_BINS - 1)]}
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def counts(bins: Bins, values: Iterable[Any]) -> list[int]:
    """How many of ``values`` fall in each of ``bins`` (missing ones left out)."""
    found = [0] * bins.size
    for value in values:
        slot = bins.index(value)
        if slot is not None:
            found[slot] += 1
    return found


def _bins(name: str, values: Sequence[Any], psi_t: float, ks_t: float) -> Bins | None:
    spec = bins_of(values)
    if spec is None:
        return None
    bins = Bins(name, {**spec, "psi": psi_t, "ks": ks_t})
    bins.baseline = [float(c) for c in counts(bins, values)]
    return bins


def _config(bins: Bins) -> dict[str, Any]:
    spec: dict[str, Any] = (
        {"edges": bins.edges}
        if bins.edges is not None
        else {"categories": list(bins.categories or {})}
    )
    baseline = [int(c) for c in bins.baseline or ()]
    return {**spec, "baseline": baseline, "psi": bins.psi, "ks": bins.ks}


def runtime_section(spec: ResolvedSpec, base_dir: Path) -> dict[str, Any]:
    """The ``drift`` section of ``svai_runtime.json``: the rate and each feature's bins.

    Raises:
        UsageError: the baseline is missing or malformed, or holds no value of a feature.
    """
    ob = spec.observability
    drift = ob.drift
    section: dict[str, Any] = {
        "enabled": ob.drift_enabled,
        "sample_rate": ob.drift_sample_rate,
        "min_samples": drift.min_samples,
        "features": {},
        "prediction": None,
    }
    if not ob.drift_enabled or not drift.compared:
        return section
    baseline = read_baseline(spec, base_dir)
    for name, psi_t, ks_t in drift.features:
        bins = _bins(name, baseline.values[name], psi_t, ks_t)
        if bins is None:
            raise UsageError(
                f"observability.drift.features: the baseline {drift.baseline} has no value at "
                f"`{name}` in any of its {baseline.lines} lines"
            )
        section["features"][name] = _config(bins)
    if drift.prediction is not None:
        bins = _bins(drift.prediction, baseline.predictions, drift.psi, drift.ks)
        section["prediction"] = (
            {"name": drift.prediction, **_config(bins)} if bins is not None else None
        )
    return section


def _mean(values: Sequence[Any]) -> float | None:
    numbers = [float(v) for v in values if _is_number(v)]
    return round(sum(numbers) / len(numbers), 9) if numbers else None


def _ks_exact(baseline: Sequence[Any], sample: Sequence[Any]) -> float | None:
    """Two-sample KS distance of the numbers in both; ``None`` when either has none."""
    a = np.sort(np.asarray([v for v in baseline if _is_number(v)], float))
    b = np.sort(np.asarray([v for v in sample if _is_number(v)], float))
    if not a.size or not b.size:
        return None
    points = np.concatenate([a, b])
    gap = np.abs(
        np.searchsorted(a, points, side="right") / a.size
        - np.searchsorted(b, points, side="right") / b.size
    )
    return float(gap.max())


def _judge(
    bins: Bins, baseline: Sequence[Any], sample: Sequence[Any], live_counts: Sequence[int] | None
) -> FeatureDrift:
    """PSI over ``bins``; KS exact for raw ``sample`` values, at the edges for ``live_counts``."""
    assert bins.baseline is not None
    got = list(live_counts) if live_counts is not None else counts(bins, sample)
    value_psi = psi(bins.baseline, got)
    if live_counts is not None:
        value_ks: float | None = ks_binned(bins.baseline, got)
    elif bins.edges is not None:
        value_ks = _ks_exact(baseline, sample)
    else:
        value_ks = ks_binned(bins.baseline, got)  # categories have no order: shares per bin
    flagged = sum(got) > 0 and (
        value_psi > bins.psi or (value_ks is not None and value_ks > bins.ks)
    )
    return FeatureDrift(
        name=bins.name,
        count=sum(got),
        baseline_count=int(sum(bins.baseline)),
        mean=None,
        baseline_mean=_mean(baseline),
        psi=round(value_psi, 6),
        ks=None if value_ks is None else round(value_ks, 6),
        psi_threshold=bins.psi,
        ks_threshold=bins.ks,
        flagged=flagged,
    )


def compare(
    spec: ResolvedSpec,
    baseline: Sample,
    *,
    sample: Sample | None = None,
    summaries: Mapping[str, Any] | None = None,
    source: str,
) -> DriftReport:
    """Judge a local ``sample``, or live ``summaries`` (merged runtime lines), per feature.

    ``summaries`` maps a feature path (and the prediction's) to ``{"bins": [...], "count",
    "sum"}`` counted in the bins :func:`runtime_section` shipped; ``samples`` is their request
    count.

    Raises:
        UsageError: neither or both of ``sample`` and ``summaries``; a feature absent from the
            baseline.
    """
    if (sample is None) == (summaries is None):
        raise UsageError("compare a sample file or live summaries, one of them")
    drift = spec.observability.drift
    wanted = [(name, baseline.values[name], p, k) for name, p, k in drift.features]
    if drift.prediction is not None and baseline.predictions:
        wanted.append((drift.prediction, baseline.predictions, drift.psi, drift.ks))
    judged: list[FeatureDrift] = []
    for name, reference, psi_t, ks_t in wanted:
        bins = _bins(name, reference, psi_t, ks_t)
        if bins is None:
            raise UsageError(f"the baseline {drift.baseline} has no value at `{name}`")
        if sample is not None:
            values = sample.predictions if name == drift.prediction else sample.values[name]
            result = _judge(bins, reference, values, None)
            judged.append(_with_mean(result, _mean(values)))
            continue
        assert summaries is not None
        summary = summaries.get(name) or {}
        live = summary.get("bins") or [0] * bins.size
        if len(live) != bins.size:
            raise UsageError(
                f"live summaries of `{name}` have {len(live)} bins, the baseline {bins.size}: "
                "they were counted against another baseline (rebuild and redeploy)"
            )
        result = _judge(bins, reference, (), live)
        n = summary.get("count") or 0
        judged.append(_with_mean(result, round(summary["sum"] / n, 9) if n else None))
    score = max((_score(f) for f in judged), default=0.0)
    samples = sample.lines if sample is not None else int((summaries or {}).get("_samples", 0))
    return DriftReport(
        source=source,
        samples=samples,
        features=tuple(judged),
        score=round(score, 6),
        flagged=tuple(f.name for f in judged if f.flagged),
    )


def _with_mean(result: FeatureDrift, mean: float | None) -> FeatureDrift:
    return replace(result, mean=mean)


def _score(feature: FeatureDrift) -> float:
    if not feature.count:
        return 0.0
    ks = feature.ks / feature.ks_threshold if feature.ks is not None else 0.0
    return max(feature.psi / feature.psi_threshold, ks)


class DriftVerdict(NamedTuple):
    """The drift gate's outcome, in :class:`svai.compiler.rollout.GateResult`'s field order."""

    threshold: str
    observed: str
    passed: bool
    hold: bool


def drift_verdict(spec: ResolvedSpec, evidence: Mapping[str, Any]) -> DriftVerdict | None:
    """The live drift gate of ``svai promote``: no feature over its threshold.

    ``None`` when the spec compares no drift (``observability.drift`` off, or without a baseline
    and features). The evidence key ``drift`` is :meth:`DriftReport.as_evidence`; without it,
    or with fewer samples than ``min_samples``, the release holds: missing evidence is no pass,
    and too little traffic is no reason to roll back.
    """
    ob = spec.observability
    if not (ob.drift_enabled and ob.drift.compared):
        return None
    threshold = "no feature above its PSI/KS threshold"
    found = evidence.get("drift")
    if not isinstance(found, Mapping):
        return DriftVerdict(threshold, "missing", False, True)
    samples = found.get("samples")
    if not isinstance(samples, int) or samples < ob.drift.min_samples:
        seen = f"{samples} sampled requests (needs {ob.drift.min_samples})"
        return DriftVerdict(threshold, seen, False, True)
    flagged = [str(name) for name in found.get("flagged") or ()]
    observed = (
        f"drift in {', '.join(flagged)} (score {found.get('score')})"
        if flagged
        else f"none over {samples} samples (score {found.get('score')})"
    )
    return DriftVerdict(threshold, observed, not flagged, False)


DRIFT_PERIOD_S = 300
"""The drift alarm looks at the largest ``drift_score`` the runtime wrote in 5 minutes."""


def drift_alarms(spec: ResolvedSpec, watched: str) -> tuple[Alarm, ...]:
    """The drift alarm: a feature's PSI or KS above its threshold (``drift_score`` above 1).

    Present when the spec compares drift (enabled, with a baseline and features or a
    prediction); each feature's own threshold is already in the score, so one alarm covers all.
    """
    ob = spec.observability
    if not (ob.drift_enabled and ob.drift.compared):
        return ()
    return (Alarm("drift", "drift", 1.0, DRIFT_PERIOD_S, 1, watched),)
