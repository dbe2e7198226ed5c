"""Per-version drift summaries of inputs and outputs, judged against the baseline's bins.

A sampled request (``drift.sample_rate``) adds each declared feature of its body to that
feature's fixed bins and the prediction in its answer to the prediction's: one ``bisect`` and one
integer increment per value, under one lock. The bins come from the baseline at build time
(``svai_runtime.json`` ``drift``: decile ``edges`` for numbers, the most common ``categories``
for strings, with the baseline's count per bin), so memory is fixed: at most 64 features of at
most 33 bins, whatever the traffic.

Every ``interval_s``, once the window holds ``min_samples`` sampled requests, the monitor writes
one line (``message: "drift"``) with the window's counts, sums and bins per feature and its PSI
and binned KS against the baseline, and starts a new window; the line is CloudWatch EMF declaring
``drift_score`` (the largest PSI or KS over its threshold, across features: above 1 means drift)
and ``drift_samples``. Windows partition the samples, so ``svai drift`` adds the lines of every
instance up. What is left is written when the service closes.

Standard library only (the cold path imports this module): the statistics are a few sums over
at most 33 bins.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from svai.runtime.core.config import DriftConfig
from svai.runtime.core.errors import ConfigError

__all__ = ["Bins", "DriftMonitor", "ks_binned", "psi", "values_at"]

_EPSILON = 1e-4
"""Share given to an empty bin, so PSI stays finite (the usual convention)."""
MAX_BINS = 33

_METRICS = [{"Name": "drift_score", "Unit": "None"}, {"Name": "drift_samples", "Unit": "Count"}]


def values_at(document: Any, path: Sequence[str]) -> list[Any]:
    """Every value at the dotted ``path`` in ``document``; ``*`` takes each element of a list."""
    nodes = [document]
    for segment in path:
        found: list[Any] = []
        for node in nodes:
            if segment == "*":
                if type(node) is list:
                    found.extend(node)
            elif type(node) is dict:
                if segment in node:
                    found.append(node[segment])
            elif type(node) is list and segment.isdigit() and int(segment) < len(node):
                found.append(node[int(segment)])
        nodes = found
    return nodes


def psi(baseline: Sequence[float], live: Sequence[float]) -> float:
    """Population stability index of two histograms over the same bins (counts or shares)."""
    b_total, l_total = float(sum(baseline)), float(sum(live))
    if b_total <= 0 or l_total <= 0:
        return 0.0
    total = 0.0
    for b, lv in zip(baseline, live, strict=True):
        expected = max(b / b_total, _EPSILON)
        actual = max(lv / l_total, _EPSILON)
        total += (actual - expected) * math.log(actual / expected)
    return total


def ks_binned(baseline: Sequence[float], live: Sequence[float]) -> float:
    """Largest gap between the two cumulative distributions, read at the bin edges."""
    b_total, l_total = float(sum(baseline)), float(sum(live))
    if b_total <= 0 or l_total <= 0:
        return 0.0
    gap = b_cum = l_cum = 0.0
    for b, lv in zip(baseline, live, strict=True):
        b_cum += b / b_total
        l_cum += lv / l_total
        gap = max(gap, abs(b_cum - l_cum))
    return gap


class Bins:
    """One feature's fixed bins and thresholds, as ``svai build`` wrote them.

    Numbers fall in ``len(edges) + 1`` bins (``bisect_right``: below the first edge, between
    edges, at or above the last); strings in one bin per category plus a last one for the rest.
    A value of the other kind (or ``null``, a boolean, a list) counts as missing.
    """

    __slots__ = ("baseline", "categories", "edges", "ks", "name", "path", "psi")

    def __init__(self, name: str, spec: Mapping[str, Any]) -> None:
        where = f"drift.{name}"
        self.name = name
        self.path = tuple(name.split("."))
        edges, categories = spec.get("edges"), spec.get("categories")
        if (edges is None) == (categories is None):
            raise ConfigError(f"{where}: give exactly one of `edges` and `categories`")
        self.edges: list[float] | None = None
        self.categories: dict[str, int] | None = None
        if edges is not None:
            if not _numbers(edges) or sorted(edges) != list(edges) or not edges:
                raise ConfigError(f"{where}.edges: expected increasing numbers")
            self.edges = [float(e) for e in edges]
            size = len(edges) + 1
        else:
            if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
                raise ConfigError(f"{where}.categories: expected a list of strings")
            self.categories = {c: i for i, c in enumerate(categories)}
            size = len(categories) + 1
        if size > MAX_BINS:
            raise ConfigError(f"{where}: at most {MAX_BINS} bins, got {size}")
        baseline = spec.get("baseline")
        if baseline is not None and (not _numbers(baseline) or len(baseline) != size):
            raise ConfigError(f"{where}.baseline: expected {size} counts")
        self.baseline: list[float] | None = baseline
        self.psi = float(spec.get("psi", 0.2))
        self.ks = float(spec.get("ks", 0.1))

    @property
    def size(self) -> int:
        """Number of bins."""
        return len(self.edges) + 1 if self.edges is not None else len(self.categories or ()) + 1

    def index(self, value: Any) -> int | None:
        """The bin of ``value``, or ``None`` when it is missing or of the wrong kind."""
        kind = type(value)
        if self.edges is not None:
            if (kind is float or kind is int) and math.isfinite(value):
                return bisect.bisect_right(self.edges, value)
            return None
        if kind is str:
            assert self.categories is not None
            return self.categories.get(value, len(self.categories))
        return None


def _numbers(values: Any) -> bool:
    return isinstance(values, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    )


class _Window:
    """One feature's running counts in the current window."""

    __slots__ = ("counts", "missing", "n", "total")

    def __init__(self, size: int) -> None:
        self.counts = [0] * size
        self.n = 0
        self.missing = 0
        self.total = 0.0


class DriftMonitor:
    """Keeps one model version's drift summaries and writes them every interval.

    Args:
        cfg: The ``drift`` section of the runtime config.
        write: Writes one finished line (``Telemetry.metrics``: message, metric list, fields).
        clock: Seconds, monotonic (tests pass their own).
        chance: Uniform numbers in [0, 1) deciding which requests are sampled.

    Raises:
        ConfigError: a bin specification is malformed, or a rate or interval is out of range.
    """

    def __init__(
        self,
        cfg: DriftConfig,
        write: Callable[..., None],
        *,
        clock: Callable[[], float] = time.monotonic,
        chance: Callable[[], float] = random.random,
    ) -> None:
        if not 0.0 <= cfg.sample_rate <= 1.0:
            raise ConfigError("drift.sample_rate: must be in 0..1")
        if cfg.interval_s <= 0 or cfg.min_samples < 1:
            raise ConfigError("drift.interval_s and drift.min_samples: must be positive")
        if len(cfg.features) > 64:
            raise ConfigError("drift.features: at most 64")
        self.rate = cfg.sample_rate
        self.interval_s = cfg.interval_s
        self.min_samples = cfg.min_samples
        self.features = [Bins(name, spec) for name, spec in cfg.features.items()]
        self.prediction: Bins | None = None
        if cfg.prediction is not None:
            name = cfg.prediction.get("name")
            if not isinstance(name, str) or not name:
                raise ConfigError("drift.prediction.name: expected the path in the outputs")
            self.prediction = Bins(name, cfg.prediction)
        self._write = write
        self._clock = clock
        self._chance = chance
        self._lock = threading.Lock()
        self._since = clock()
        self._windows, self._samples = self._fresh(), 0

    def _fresh(self) -> list[_Window]:
        every = [*self.features, *([self.prediction] if self.prediction else [])]
        return [_Window(bins.size) for bins in every]

    def observe(self, payload: Any, outputs_json: bytes) -> None:
        """Count one request (when sampled): its body's features, its answer's prediction."""
        if self.rate <= 0.0 or self._chance() >= self.rate:
            return
        found = [(bins, values_at(payload, bins.path)) for bins in self.features]
        if self.prediction is not None:
            try:
                outputs = json.loads(outputs_json)
            except ValueError:
                outputs = None
            found.append((self.prediction, values_at(outputs, self.prediction.path)))
        due = None
        with self._lock:
            for window, (bins, values) in zip(self._windows, found, strict=True):
                if not values:
                    window.missing += 1
                for value in values:
                    slot = bins.index(value)
                    if slot is None:
                        window.missing += 1
                        continue
                    window.counts[slot] += 1
                    window.n += 1
                    if bins.edges is not None:
                        window.total += value
            self._samples += 1
            now = self._clock()
            if self._samples >= self.min_samples and now - self._since >= self.interval_s:
                due = self._take(now)
        if due is not None:
            self._emit(*due)

    def flush(self) -> None:
        """Write what the current window holds (at shutdown), if anything."""
        with self._lock:
            due = self._take(self._clock()) if self._samples else None
        if due is not None:
            self._emit(*due)

    def _take(self, now: float) -> tuple[list[_Window], int, float]:
        taken = (self._windows, self._samples, now - self._since)
        self._windows, self._samples, self._since = self._fresh(), 0, now
        return taken

    def _emit(self, windows: list[_Window], samples: int, seconds: float) -> None:
        every = [*self.features, *([self.prediction] if self.prediction else [])]
        summaries: dict[str, Any] = {}
        score = 0.0
        for bins, window in zip(every, windows, strict=True):
            summary = summarise(bins, window.counts, window.n, window.missing, window.total)
            if "psi" in summary:
                score = max(score, summary["psi"] / bins.psi, summary["ks"] / bins.ks)
            summaries[bins.name] = summary
        prediction = (
            {"name": self.prediction.name, **summaries.pop(self.prediction.name)}
            if self.prediction
            else None
        )
        judged = samples >= self.min_samples
        fields: dict[str, Any] = {
            "drift_samples": samples,
            "window_s": round(seconds, 3),
            "features": summaries,
            "prediction": prediction,
        }
        metrics = _METRICS if judged else _METRICS[1:]
        if judged:
            fields["drift_score"] = round(score, 6)
        self._write("drift", metrics, **fields)


def summarise(
    bins: Bins, counts: Sequence[int], n: int, missing: int, total: float
) -> dict[str, Any]:
    """One feature's window as written on the line (with PSI and KS when there is a baseline)."""
    summary: dict[str, Any] = {"count": n, "missing": missing, "bins": list(counts)}
    if bins.edges is not None and n:
        # The sum adds up across lines and instances (``svai drift``); the mean is for reading.
        summary["sum"] = total
        summary["mean"] = round(total / n, 9)
    if bins.baseline is not None and n:
        summary["psi"] = round(psi(bins.baseline, counts), 6)
        summary["ks"] = round(ks_binned(bins.baseline, counts), 6)
    return summary
