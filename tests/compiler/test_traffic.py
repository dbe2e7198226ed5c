"""Tests of the traffic model: arrival-rate profiles over a day and a month."""

from __future__ import annotations

import pytest

from svai.compiler.traffic import DAY_S, DAYS_PER_MONTH, TrafficSpec, build_profile


def _covers_day(prof) -> None:  # type: ignore[no-untyped-def]
    t = 0.0
    for seg in prof.segments:
        assert seg.start_s == pytest.approx(t)
        assert seg.duration_s > 0 and seg.rate_rps >= 0
        t += seg.duration_s
    assert t == pytest.approx(DAY_S)


def test_steady() -> None:
    prof = build_profile(TrafficSpec("steady", 2.0))
    _covers_day(prof)
    assert prof.requests_per_day == pytest.approx(2.0 * DAY_S)
    assert prof.requests_per_month == pytest.approx(2.0 * DAY_S * DAYS_PER_MONTH)
    assert prof.mean_rps == pytest.approx(2.0) and prof.peak_rps == 2.0


def test_idle_hours_remove_traffic_as_one_block() -> None:
    prof = build_profile(TrafficSpec("steady", 1.0, idle_hours=6))
    _covers_day(prof)
    assert prof.idle_s == pytest.approx(6 * 3600)
    assert prof.requests_per_day == pytest.approx(18 * 3600)
    assert len(prof.segments) == 2
    # Traffic resumes abruptly after the idle block (the pool is empty by then).
    assert prof.segments[1].abrupt


def test_spiky_bursts() -> None:
    prof = build_profile(TrafficSpec("spiky", 2.0, 150.0, 1800.0))
    _covers_day(prof)
    bursts = [s for s in prof.segments if s.rate_rps == 150.0]
    assert len(bursts) == 6 and all(b.abrupt for b in bursts)
    assert sum(b.duration_s for b in bursts) == pytest.approx(1800.0)
    expected = 150.0 * 1800.0 + 2.0 * (DAY_S - 1800.0)
    assert prof.requests_per_day == pytest.approx(expected)
    assert prof.peak_rps == 150.0
    one = build_profile(TrafficSpec("spiky", 2.0, 150.0, 1800.0, burst_count=1))
    assert sum(1 for s in one.segments if s.rate_rps == 150.0) == 1
    assert one.requests_per_day == pytest.approx(expected)


def test_diurnal_shape() -> None:
    prof = build_profile(TrafficSpec("diurnal", 1.0, 20.0))
    _covers_day(prof)
    rates = [s.rate_rps for s in prof.segments]
    assert max(rates) == pytest.approx(20.0, rel=0.02)
    assert min(rates) == pytest.approx(1.0, abs=0.2)
    assert prof.mean_rps == pytest.approx(10.5, rel=0.01)
    # Smooth: hours ramp, no abrupt jumps.
    assert not any(s.abrupt for s in prof.segments)


def test_explicit_profile_and_idle_hours_take_quietest_hours() -> None:
    hours = tuple(float(h) for h in range(24))
    prof = build_profile(TrafficSpec("diurnal", profile=hours, idle_hours=2))
    _covers_day(prof)
    assert prof.requests_per_day == pytest.approx(3600.0 * (sum(hours) - 0.0 - 1.0))
    minute = prof.per_minute()
    assert minute.shape == (1440,)
    assert minute.sum() * 60.0 == pytest.approx(prof.requests_per_day)
    assert minute[-1] == pytest.approx(23.0)


def test_batch() -> None:
    prof = build_profile(TrafficSpec("batch", 0.0, batch_items=5000, batches_per_day=4))
    assert len(prof.batches) == 4 and prof.peak_batch_items == 5000
    assert prof.requests_per_day == 20000
    assert prof.requests_per_month == pytest.approx(20000 * DAYS_PER_MONTH)
    starts = [b.start_s for b in prof.batches]
    assert starts == sorted(starts) and all(0 <= s < DAY_S for s in starts)
    assert "at once" in prof.burstiness


def test_invalid_specs_are_rejected() -> None:
    with pytest.raises(ValueError):
        TrafficSpec("weekly")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        TrafficSpec("steady", -1.0)
    with pytest.raises(ValueError):
        TrafficSpec("steady", 1.0, idle_hours=25)
    with pytest.raises(ValueError):
        TrafficSpec("diurnal", profile=(1.0,) * 23)
    with pytest.raises(ValueError):
        TrafficSpec("spiky", 1.0, float("nan"))


def test_deterministic() -> None:
    spec = TrafficSpec("spiky", 0.5, 40.0, 900.0, idle_hours=3)
    assert build_profile(spec) == build_profile(spec)
