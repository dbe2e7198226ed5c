"""The traffic model: a spec's traffic section as an arrival-rate profile over one day.

:func:`build_profile` turns a :class:`TrafficSpec` (steady, spiky, diurnal, batch or an explicit
24-hour profile) into a :class:`TrafficProfile`: piecewise-constant segments of Poisson arrivals
covering 86,400 s, plus batches (many requests arriving at once). Each segment says whether it
starts abruptly (a burst: the pool has no time to grow with it) or smoothly (a diurnal ramp).
The performance model (:mod:`svai.compiler.perf`) evaluates each segment and each batch; the
cost model multiplies the day by :data:`DAYS_PER_MONTH`.

Deterministic: no randomness; bursts are spread evenly over the active part of the day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "DAYS_PER_MONTH",
    "DAY_S",
    "Batch",
    "OnOff",
    "Segment",
    "TrafficProfile",
    "TrafficSpec",
    "build_profile",
]

DAY_S = 86_400.0
DAYS_PER_MONTH = 30.4
DEFAULT_BURST_S = 300.0  # a spiky peak is split into bursts of about five minutes

Pattern = Literal["steady", "spiky", "diurnal", "batch", "bursty", "trace"]
_PATTERNS = ("steady", "spiky", "diurnal", "batch", "bursty", "trace")


@dataclass(frozen=True)
class TrafficSpec:
    """The traffic a model must serve (a plain mirror of the spec's ``traffic`` section).

    Attributes:
        pattern: ``steady``, ``spiky``, ``diurnal`` or ``batch``.
        baseline_rps: Requests per second outside peaks (the trough for diurnal).
        peak_rps: Peak requests per second (spiky, diurnal); ``None`` means no peak.
        peak_duration_s: Seconds per day at the peak (spiky); ``None``: 30 min.
        idle_hours: Hours per day with no traffic at all (placed as one block at night).
        profile: Explicit 24 hourly rates (requests/s); overrides the pattern's shape.
        batch_items: Items per batch (batch).
        batches_per_day: Batches per day (batch).
        burst_count: Number of bursts the spiky peak time is split into; ``None``: one burst
            per five minutes of peak time.
        burst_mean_on_s: Mean burst length (bursty: random on/off bursts at ``peak_rps``).
        burst_mean_off_s: Mean gap between bursts (bursty, at ``baseline_rps``).
        trace_rpm: Measured requests per minute (trace), repeated over the day.
    """

    pattern: Pattern = "steady"
    baseline_rps: float = 0.0
    peak_rps: float | None = None
    peak_duration_s: float | None = None
    idle_hours: float = 0.0
    profile: tuple[float, ...] | None = None
    batch_items: int | None = None
    batches_per_day: float | None = None
    burst_count: int | None = None
    burst_mean_on_s: float | None = None
    burst_mean_off_s: float | None = None
    trace_rpm: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        """Reject values no traffic can have (the spec layer reports user errors first)."""
        if self.pattern not in _PATTERNS:
            raise ValueError(f"pattern must be one of {_PATTERNS}, got {self.pattern!r}")
        for name in ("baseline_rps", "peak_rps", "peak_duration_s", "batches_per_day"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0.0 <= self.idle_hours <= 24.0:
            raise ValueError(f"idle_hours must be within [0, 24], got {self.idle_hours!r}")
        if self.profile is not None:
            if len(self.profile) != 24:
                raise ValueError(f"profile needs 24 hourly values, got {len(self.profile)}")
            if any(not math.isfinite(v) or v < 0 for v in self.profile):
                raise ValueError("profile values must be finite numbers >= 0")
        if self.batch_items is not None and self.batch_items < 0:
            raise ValueError("batch_items must be >= 0")
        if self.burst_count is not None and self.burst_count < 1:
            raise ValueError("burst_count must be >= 1")
        if self.pattern == "bursty" and not (self.burst_mean_on_s and self.burst_mean_off_s):
            raise ValueError("bursty traffic needs burst_mean_on_s and burst_mean_off_s > 0")
        if self.pattern == "trace":
            rpm = self.trace_rpm or ()
            if not 1 <= len(rpm) <= 1440 or any(not math.isfinite(v) or v < 0 for v in rpm):
                raise ValueError("trace_rpm needs 1 to 1,440 finite counts >= 0")


@dataclass(frozen=True)
class OnOff:
    """On/off bursts: Poisson at ``on_rps`` for exponential bursts, ``off_rps`` between them.

    Attributes:
        on_rps: Arrival rate during a burst.
        off_rps: Arrival rate between bursts.
        mean_on_s: Mean burst length.
        mean_off_s: Mean gap between bursts.
    """

    on_rps: float
    off_rps: float
    mean_on_s: float
    mean_off_s: float

    def __post_init__(self) -> None:
        """Reject impossible bursts."""
        for name in ("on_rps", "off_rps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        for name in ("mean_on_s", "mean_off_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value!r}")

    @property
    def on_share(self) -> float:
        """Fraction of time in bursts."""
        return self.mean_on_s / (self.mean_on_s + self.mean_off_s)

    @property
    def mean_rps(self) -> float:
        """Long-run arrival rate."""
        p = self.on_share
        return p * self.on_rps + (1.0 - p) * self.off_rps


@dataclass(frozen=True)
class Segment:
    """A stretch of the day with Poisson arrivals at a constant rate.

    Attributes:
        start_s: Start, seconds after midnight.
        duration_s: Length in seconds.
        rate_rps: Arrival rate (requests/s); 0 for idle stretches.
        abrupt: The rate jumps here (a burst) rather than ramping; the pool cannot grow ahead.
    """

    start_s: float
    duration_s: float
    rate_rps: float
    abrupt: bool = False

    @property
    def requests(self) -> float:
        """Expected requests in the segment."""
        return self.rate_rps * self.duration_s


@dataclass(frozen=True)
class Batch:
    """``items`` requests arriving together at ``start_s`` seconds after midnight."""

    start_s: float
    items: int


@dataclass(frozen=True)
class TrafficProfile:
    """One day of traffic: Poisson segments (covering the day, in order) and batches.

    Attributes:
        pattern: The spec pattern it came from.
        segments: Piecewise-constant rates covering [0, 86,400) s.
        batches: Requests that arrive all at once.
        burstiness: Short description for people and for the perf model's notes.
        bursts: Random on/off bursts within every segment with traffic (each segment's rate is
            then the bursts' long-run mean).
    """

    pattern: str
    segments: tuple[Segment, ...]
    batches: tuple[Batch, ...] = ()
    burstiness: str = "poisson"
    bursts: OnOff | None = None

    @property
    def requests_per_day(self) -> float:
        """Expected requests per day (segments + batches)."""
        return sum(s.requests for s in self.segments) + float(sum(b.items for b in self.batches))

    @property
    def requests_per_month(self) -> float:
        """Expected requests per month (30.4 days)."""
        return self.requests_per_day * DAYS_PER_MONTH

    @property
    def mean_rps(self) -> float:
        """Mean arrival rate over the day."""
        return self.requests_per_day / DAY_S

    @property
    def peak_rps(self) -> float:
        """Highest rate: a segment's, or the bursts' (batches: :attr:`peak_batch_items`)."""
        top = max((s.rate_rps for s in self.segments), default=0.0)
        if self.bursts is not None and top > 0.0:
            top = max(top, self.bursts.on_rps)
        return top

    @property
    def peak_batch_items(self) -> int:
        """Largest batch, 0 without batches."""
        return max((b.items for b in self.batches), default=0)

    @property
    def idle_s(self) -> float:
        """Seconds per day without any arrivals."""
        return sum(s.duration_s for s in self.segments if s.rate_rps <= 0.0)

    def per_minute(self) -> npt.NDArray[np.float64]:
        """Return 1,440 per-minute mean arrival rates (batches spread over their minute)."""
        edges = np.arange(1441, dtype=np.float64) * 60.0
        counts = np.zeros(1440)
        for seg in self.segments:
            lo = np.clip(edges[:-1], seg.start_s, seg.start_s + seg.duration_s)
            hi = np.clip(edges[1:], seg.start_s, seg.start_s + seg.duration_s)
            counts += (hi - lo) * seg.rate_rps
        for b in self.batches:
            counts[min(int(b.start_s // 60.0), 1439)] += b.items
        return counts / 60.0


def build_profile(spec: TrafficSpec) -> TrafficProfile:
    """Turn a traffic spec into one day of arrival segments and batches.

    Args:
        spec: The traffic description.

    Returns:
        The day's profile; ``requests_per_month`` gives the monthly volume.
    """
    idle_s = spec.idle_hours * 3600.0
    if spec.profile is not None:
        segs = _hourly(spec.profile)
        return TrafficProfile(spec.pattern, _merge(_apply_idle(segs, idle_s)), (), "profile")
    if spec.pattern == "steady":
        segs = [Segment(0.0, DAY_S, spec.baseline_rps)]
        return TrafficProfile("steady", _merge(_apply_idle(segs, idle_s)), (), "poisson")
    if spec.pattern == "diurnal":
        peak = spec.peak_rps if spec.peak_rps is not None else spec.baseline_rps
        hours = [
            spec.baseline_rps
            + (peak - spec.baseline_rps)
            * 0.5
            * (1.0 - math.cos(2.0 * math.pi * (h + 0.5 - 4) / 24))
            for h in range(24)
        ]
        segs = _hourly(tuple(hours))
        return TrafficProfile("diurnal", _merge(_apply_idle(segs, idle_s)), (), "diurnal ramp")
    if spec.pattern == "spiky":
        return _spiky(spec, idle_s)
    if spec.pattern == "bursty":
        return _bursty(spec, idle_s)
    if spec.pattern == "trace":
        return _trace(spec.trace_rpm or (0.0,))
    return _batch(spec, idle_s)


def _bursty(spec: TrafficSpec, idle_s: float) -> TrafficProfile:
    assert spec.burst_mean_on_s is not None and spec.burst_mean_off_s is not None
    peak = spec.peak_rps if spec.peak_rps is not None else spec.baseline_rps
    bursts = OnOff(peak, spec.baseline_rps, spec.burst_mean_on_s, spec.burst_mean_off_s)
    segs = [Segment(0.0, DAY_S, bursts.mean_rps)]
    desc = (
        f"random bursts at {peak:g} rps (mean {bursts.mean_on_s:g} s) over "
        f"{spec.baseline_rps:g} rps (mean gap {bursts.mean_off_s:g} s)"
    )
    return TrafficProfile("bursty", _merge(_apply_idle(segs, idle_s)), (), desc, bursts)


def _trace(rpm: tuple[float, ...]) -> TrafficProfile:
    """A measured trace of requests per minute, repeated over the day; a rise is abrupt."""
    rates = [rpm[minute % len(rpm)] / 60.0 for minute in range(1440)]
    # The day is cyclic: midnight follows the day's last minute.
    segs = [
        Segment(minute * 60.0, 60.0, rate, abrupt=rate > rates[minute - 1])
        for minute, rate in enumerate(rates)
    ]
    desc = f"measured trace: {len(rpm)} minute(s) of requests, repeated over the day"
    return TrafficProfile("trace", _merge(segs), (), desc)


def _hourly(rates: tuple[float, ...]) -> list[Segment]:
    return [Segment(h * 3600.0, 3600.0, float(r)) for h, r in enumerate(rates)]


def _apply_idle(segs: list[Segment], idle_s: float) -> list[Segment]:
    """Zero the traffic of the quietest ``idle_s`` seconds of the day, as whole stretches.

    For a flat day the idle block is placed at the start of the day (night); for a shaped day
    the lowest-rate hours go first, so the idle time lands where traffic is lowest.
    """
    if idle_s <= 0.0:
        return segs
    remaining = idle_s
    cuts = [0.0] * len(segs)
    for i in sorted(range(len(segs)), key=lambda i: (segs[i].rate_rps, segs[i].start_s)):
        if remaining <= 0.0:
            break
        cuts[i] = min(segs[i].duration_s, remaining)
        remaining -= cuts[i]
    out: list[Segment] = []
    for seg, cut in zip(segs, cuts, strict=True):
        if cut <= 0.0:
            out.append(seg)
            continue
        out.append(Segment(seg.start_s, cut, 0.0, seg.abrupt))
        if cut < seg.duration_s:
            out.append(Segment(seg.start_s + cut, seg.duration_s - cut, seg.rate_rps, True))
    return out


def _spiky(spec: TrafficSpec, idle_s: float) -> TrafficProfile:
    peak = spec.peak_rps if spec.peak_rps is not None else spec.baseline_rps
    active_s = DAY_S - idle_s
    peak_s = min(spec.peak_duration_s if spec.peak_duration_s is not None else 1800.0, active_s)
    bursts = spec.burst_count or max(1, round(peak_s / DEFAULT_BURST_S))
    burst_s = peak_s / bursts
    gap = (active_s - peak_s) / bursts
    segs: list[Segment] = []
    t = 0.0
    if idle_s > 0.0:
        segs.append(Segment(0.0, idle_s, 0.0))
        t = idle_s
    for _ in range(bursts):
        if gap > 0.0:
            segs.append(Segment(t, gap, spec.baseline_rps))
            t += gap
        segs.append(Segment(t, burst_s, peak, abrupt=peak > spec.baseline_rps))
        t += burst_s
    if t < DAY_S - 1e-6:
        segs.append(Segment(t, DAY_S - t, spec.baseline_rps))
    desc = f"{bursts} burst(s)/day of {burst_s:.0f} s at {peak:g} rps over {spec.baseline_rps:g}"
    return TrafficProfile("spiky", _merge(segs), (), desc)


def _batch(spec: TrafficSpec, idle_s: float) -> TrafficProfile:
    items = int(spec.batch_items or 0)
    per_day = spec.batches_per_day if spec.batches_per_day is not None else 1.0
    n = max(0, math.floor(per_day))
    segs = _merge(_apply_idle([Segment(0.0, DAY_S, spec.baseline_rps)], idle_s))
    active_start = idle_s if spec.baseline_rps > 0 else 0.0
    span = DAY_S - active_start
    batches = tuple(Batch(active_start + span * (k + 0.5) / n, items) for k in range(n) if items)
    desc = f"{n} batch(es)/day of {items} items arriving at once"
    return TrafficProfile("batch", segs, batches, desc)


def _merge(segs: list[Segment]) -> tuple[Segment, ...]:
    """Join neighbours with equal rates and drop empty stretches."""
    out: list[Segment] = []
    for seg in segs:
        if seg.duration_s <= 0.0:
            continue
        if out and math.isclose(out[-1].rate_rps, seg.rate_rps, rel_tol=1e-12, abs_tol=0.0):
            prev = out[-1]
            out[-1] = Segment(
                prev.start_s, prev.duration_s + seg.duration_s, prev.rate_rps, prev.abrupt
            )
        else:
            abrupt = seg.abrupt or (bool(out) and out[-1].rate_rps == 0.0 and seg.rate_rps > 0.0)
            out.append(Segment(seg.start_s, seg.duration_s, seg.rate_rps, abrupt))
    return tuple(out)
