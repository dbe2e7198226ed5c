"""The pure gate decision and reconcile that ``svai promote`` and the gate job share."""

from __future__ import annotations

import pytest

from svai.compiler import gate, rollout
from svai.compiler.release_state import ReleaseState
from svai.errors import UsageError
from svai.spec.resolve import ResolvedRollout

ROLLOUT = ResolvedRollout("canary", (5, 25, 100), 300.0, None, 0.01, 0.2, None)
PASS = rollout.GateResult("error_rate", "live", "<= 0.01", "0", True)
FAIL = rollout.GateResult("error_rate", "live", "<= 0.01", "0.5", False)
HOLD = rollout.GateResult("live_samples", "live", ">= 100", "3 requests", False, hold=True)


def canary() -> ReleaseState:
    state = rollout.start(ReleaseState("s", "dev"), "A", ROLLOUT).after
    return rollout.start(state, "B", ROLLOUT).after


def test_a_failed_gate_rolls_back_even_when_another_holds() -> None:
    decision = gate.decide(canary(), [HOLD, FAIL], by=gate.AUTOMATIC)
    assert decision.verdict == "rollback"
    assert decision.transition.after.split == (("A", 100), ("B", 0))
    assert decision.transition.after.history[-1].note == (
        "gate job: gate failed: error_rate 0.5 (needs <= 0.01)"
    )


def test_hold_changes_nothing_and_passing_gates_advance_one_step() -> None:
    state = canary()
    held = gate.decide(state, [PASS, HOLD])
    assert (held.verdict, held.transition.changed, held.transition.after) == ("hold", False, state)
    moved = gate.decide(state, [PASS])
    assert moved.verdict == "advance" and moved.transition.after.split == (("A", 75), ("B", 25))
    assert gate.decide(moved.transition.after, [PASS], to_end=True).transition.after.split == (
        ("B", 100),
    )


def test_idle_without_a_release_in_progress() -> None:
    done = rollout.advance(canary(), to_end=True).after
    assert gate.decide(done, [FAIL]).verdict == "idle"


def test_too_few_samples_turn_every_live_gate_into_a_hold() -> None:
    results = gate.judge_live(ROLLOUT, {"error_rate": 0.5, "p99_s": 0.1}, HOLD)
    assert [(r.name, r.passed, r.hold) for r in results] == [
        ("error_rate", False, True),
        ("cold_start_rate", False, True),
        ("live_samples", False, True),
    ]
    assert gate.decide(canary(), results).verdict == "hold"


def test_policy_round_trips() -> None:
    policy = gate.Policy("s", "dev", (("gcp", "us-central1"),), ROLLOUT, 50)
    assert gate.policy_from_dict(gate.policy_to_dict(policy)) == policy
    with pytest.raises(UsageError, match="malformed"):
        gate.policy_from_dict({"schema_version": 1, "service": "s"})


def test_reconcile_takes_the_longer_history() -> None:
    local = canary()
    ahead = rollout.revert(local, reason="gate job: x").after
    assert gate.reconcile(local, None).push
    assert gate.reconcile(local, ahead).source == "bucket"
    assert gate.reconcile(ahead, local).push
    assert gate.reconcile(local, local).message == "this copy and the bucket agree"
    with pytest.raises(UsageError, match="forked"):
        gate.reconcile(rollout.advance(local).after, ahead)
