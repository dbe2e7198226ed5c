"""The release state machine: stages per strategy, idempotency, rollbacks, the state file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from svai.compiler.release_state import (
    empty_state,
    from_dict,
    read_state,
    state_path,
    to_dict,
    write_state,
)
from svai.compiler.rollout import Stage, _split, advance, revert, stages, start
from svai.errors import UsageError
from svai.spec.resolve import ResolvedRollout

A, B, C = "v-aaaaaaaaaaaa", "v-bbbbbbbbbbbb", "v-cccccccccccc"


def rollout(strategy: str = "canary", steps: tuple[int, ...] = (10, 50, 100)) -> ResolvedRollout:
    return ResolvedRollout(
        strategy=strategy,
        steps=steps if strategy == "canary" else (100,),
        interval_s=600.0,
        rollback_p99_s=None,
        rollback_error_rate=0.02,
        rollback_cold_start_rate=None,
        gates=None,
    )


def deployed(version: str = A, strategy: str = "canary"):  # type: ignore[no-untyped-def]
    return start(empty_state("scorer", "dev"), version, rollout(strategy)).after


def test_first_deployment_takes_all_traffic_at_once() -> None:
    t = start(empty_state("scorer", "dev"), A, rollout())
    assert t.changed
    assert t.after.status == "complete"
    assert t.after.split == ((A, 100),)
    assert t.after.previous is None


def test_canary_walks_every_step_then_completes() -> None:
    state = start(deployed(), B, rollout()).after
    seen = [state.split]
    while state.status == "in-progress":
        state = advance(state).after
        seen.append(state.split)
    assert seen == [((A, 90), (B, 10)), ((A, 50), (B, 50)), ((B, 100),)]
    assert (state.serving, state.previous, state.candidate) == (B, A, None)
    assert [e.action for e in state.history] == ["start", "start", "promote", "complete"]


def test_promote_all_goes_to_the_end_and_promote_at_100_is_a_no_op() -> None:
    state = advance(start(deployed(), B, rollout()).after, to_end=True).after
    assert state.split == ((B, 100),)
    again = advance(state)
    assert not again.changed and again.after == state
    assert "nothing to promote" in again.message


def test_blue_green_switches_at_once_keeping_the_old_version_on_standby() -> None:
    state = start(deployed(strategy="blue-green"), B, rollout("blue-green")).after
    assert state.split == ((A, 0), (B, 100))
    assert state.status == "in-progress"
    done = advance(state).after
    assert done.split == ((B, 100),)


def test_shadow_keeps_answers_on_the_old_version() -> None:
    state = start(deployed(strategy="shadow"), B, rollout("shadow")).after
    assert state.split == ((A, 100), (B, 0))


def test_all_at_once_completes_in_one_step() -> None:
    state = start(deployed(strategy="all-at-once"), B, rollout("all-at-once")).after
    assert state.status == "complete" and state.split == ((B, 100),)
    assert state.previous == A


@pytest.mark.parametrize("strategy", ["canary", "blue-green", "shadow", "all-at-once"])
def test_last_stage_is_complete_with_one_version(strategy: str) -> None:
    plan = stages(strategy, (5, 25, 100))
    assert plan[-1].percent == 100 and not plan[-1].keep_previous
    assert all(s.keep_previous for s in plan[:-1])


def test_rollback_mid_release_points_back_and_keeps_new_code_at_zero() -> None:
    state = advance(start(deployed(), B, rollout()).after).after
    back = revert(state, reason="gate failed")
    assert back.changed
    assert back.after.split == ((A, 100), (B, 0))
    assert (back.after.status, back.after.serving, back.after.deployed) == ("rolled-back", A, B)
    assert back.after.history[-1].note == "gate failed"
    twice = revert(back.after)
    assert not twice.changed and twice.after == back.after
    assert "already on" in twice.message


def test_rollback_after_completion_restores_the_previous_version() -> None:
    state = advance(start(deployed(), B, rollout()).after, to_end=True).after
    back = revert(state).after
    assert back.split == ((A, 100), (B, 0)) and back.serving == A
    # rolling forward again to the deployed version is a rollback --to it
    forward = revert(back, to=B).after
    assert forward.split == ((B, 100),) and forward.status == "complete"


def test_rollback_to_a_named_version_and_to_an_unknown_one() -> None:
    state = advance(start(deployed(), B, rollout()).after, to_end=True).after
    state = advance(start(state, C, rollout()).after, to_end=True).after
    assert state.versions == (A, B, C)
    assert revert(state, to=A).after.split == ((A, 100), (C, 0))
    with pytest.raises(UsageError, match="not a version deployed here"):
        revert(state, to="v-000000000000")


def test_rollback_with_nothing_deployed_or_nothing_before() -> None:
    with pytest.raises(UsageError, match="nothing was deployed"):
        revert(empty_state("scorer", "dev"))
    with pytest.raises(UsageError, match="only version ever deployed"):
        revert(deployed())


def test_start_is_idempotent_and_refuses_a_second_release_in_progress() -> None:
    state = start(deployed(), B, rollout()).after
    again = start(state, B, rollout())
    assert not again.changed and again.after == state
    with pytest.raises(UsageError, match="in progress"):
        start(state, C, rollout())
    assert not start(deployed(), A, rollout()).changed


def test_a_rolled_back_version_is_not_released_again_by_accident() -> None:
    back = revert(start(deployed(), B, rollout()).after).after
    again = start(back, B, rollout())
    assert not again.changed and "was rolled back" in again.message
    new = start(back, C, rollout()).after
    assert new.split == ((A, 90), (C, 10))


def test_state_file_round_trips_and_is_deterministic(tmp_path: Path) -> None:
    state = advance(start(deployed(), B, rollout()).after).after
    state = revert(state, reason="p99").after
    path = state_path(tmp_path, "scorer", "dev")
    assert path == tmp_path / ".svai" / "releases" / "scorer-dev.json"
    write_state(path, state)
    first = path.read_bytes()
    assert read_state(path, "scorer", "dev") == from_dict(to_dict(state))
    write_state(path, read_state(path, "scorer", "dev"))
    assert path.read_bytes() == first
    data = json.loads(first)
    assert data["split"] == [{"percent": 100, "version": A}, {"percent": 0, "version": B}]
    assert [e["seq"] for e in data["history"]] == [1, 2, 3, 4]


def test_state_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    assert read_state(path, "scorer", "dev") == empty_state("scorer", "dev")
    path.write_text("{not json")
    with pytest.raises(UsageError, match="not JSON"):
        read_state(path, "scorer", "dev")
    write_state(path, deployed())
    with pytest.raises(UsageError, match="not 'scorer' in 'prod'"):
        read_state(path, "scorer", "prod")
    path.write_text(json.dumps({"schema_version": 1, "name": "scorer"}))
    with pytest.raises(UsageError, match="malformed"):
        read_state(path, "scorer", "dev")


def test_each_strategy_has_exactly_its_stages() -> None:
    """The stages, their kept previous version and their labels (what status and promote say)."""
    assert stages("canary", [10, 50, 100]) == (
        Stage(10, True, "canary 10%"),
        Stage(50, True, "canary 50%"),
        Stage(100, False, "complete"),
    )
    assert stages("blue-green", []) == (
        Stage(100, True, "switched, old version on standby"),
        Stage(100, False, "complete"),
    )
    assert stages("shadow", []) == (
        Stage(0, True, "shadow (mirrored copies)"),
        Stage(100, False, "complete"),
    )
    assert stages("all-at-once", []) == (Stage(100, False, "complete"),)


def test_a_version_released_over_itself_takes_all_the_traffic() -> None:
    canary = Stage(10, True, "canary 10%")
    assert _split(canary, "v1", "v1") == (("v1", 100),)
    assert _split(canary, None, "v2") == (("v2", 100),)
    assert _split(canary, "v1", "v2") == (("v1", 90), ("v2", 10))
    assert _split(Stage(100, False, "complete"), "v1", "v2") == (("v2", 100),)
