"""The release state machine: strategies, their stages, what each offering supports, and gates.

Pure: no I/O, no clock. Each strategy is a list of *stages*; a stage says what share of traffic
the new version (the *candidate*) gets and whether the old one stays deployed beside it::

    strategy      stages (candidate %, old version kept)            last stage = release complete
    all-at-once   (100, no)
    canary        (10, yes) (50, yes) ... (100, no)                  steps from the spec
    blue-green    (100, yes: standby for a one-switch rollback) (100, no)
    shadow        (0, yes: the candidate gets mirrored copies) (100, no)

:func:`start` begins a release (what ``svai apply`` does), :func:`advance` moves one stage or
to the end (``svai promote``), :func:`revert` points all traffic back at an earlier version while
the newest code stays deployed (``svai rollback``). Every transition is idempotent: applying it
to a state it already reached returns that state unchanged with ``changed=False``.

Before each promotion :func:`evaluate_gates` checks the offline evidence (eval-set metric,
latency, cost) against ``rollout.gates`` and the live signals of the step just observed against
``rollout.rollback_on``; a failed gate turns the promotion into a rollback.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from svai.compiler.catalog import load_catalog
from svai.compiler.drift import drift_verdict
from svai.compiler.release_state import Event, ReleaseState
from svai.errors import UsageError
from svai.ir import Rollout, TrafficSplit
from svai.spec.resolve import ResolvedRollout, ResolvedSpec

__all__ = [
    "OFFERINGS",
    "STRATEGIES",
    "GateResult",
    "Stage",
    "Support",
    "Transition",
    "advance",
    "drift_gate",
    "evaluate_gates",
    "live_gates",
    "matrix",
    "refusal",
    "revert",
    "rollout_of",
    "stages",
    "start",
    "support",
]

Strategy = Literal["all-at-once", "blue-green", "canary", "shadow"]
STRATEGIES: tuple[Strategy, ...] = ("all-at-once", "blue-green", "canary", "shadow")


@dataclass(frozen=True, slots=True)
class Support:
    """Whether one offering can run one strategy, and how (or why not)."""

    offering: str
    strategy: str
    supported: bool
    how: str
    """The mechanism when supported; the reason when not."""


def _matrix() -> Mapping[str, Mapping[str, tuple[bool, str]]]:
    """Offering -> strategy -> (supported, how): the catalog's ``builds.offerings.*.rollout``."""
    return load_catalog().builds.rollout


OFFERINGS: tuple[str, ...] = tuple(_matrix())
"""Every offering id the matrix covers."""


def support(offering: str, strategy: str) -> Support:
    """Return whether ``offering`` can run ``strategy`` and how (or why not).

    Raises:
        UsageError: an unknown offering or strategy.
    """
    row = _matrix().get(offering)
    if row is None:
        raise UsageError(f"unknown offering {offering!r}; known: {', '.join(OFFERINGS)}")
    if strategy not in row:
        raise UsageError(f"unknown rollout strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    supported, how = row[strategy]
    return Support(offering, strategy, supported, how)


def matrix() -> tuple[Support, ...]:
    """Return the whole support matrix, offering by offering, in :data:`STRATEGIES` order."""
    return tuple(support(o, s) for o in OFFERINGS for s in STRATEGIES)


def refusal(spec: ResolvedSpec, offering: str, kind: str) -> str | None:
    """Return why ``offering`` cannot run the spec's rollout strategy, or ``None`` when it can.

    A target that pins this offering (``overrides.offering``), or a runtime kind none of whose
    offerings on that cloud can run the strategy, is an error rather than a rejected option:
    the user asked for something that cannot work.

    Raises:
        UsageError: a target's explicit ``offering``/``runtime`` cannot run the strategy; the
            message names both.
    """
    strategy = spec.rollout.strategy
    if offering not in _matrix():
        return None
    found = support(offering, strategy)
    if found.supported:
        return None
    cloud = offering.split(".", 1)[0]
    for index, target in enumerate(spec.targets):
        if target.cloud != cloud:
            continue
        if target.offering == offering:
            raise UsageError(
                f"targets[{index}]: offering `{offering}` cannot run `rollout.strategy: "
                f"{strategy}`: {found.how}"
            )
        kind_offerings = [
            o.id for o in load_catalog().offerings(cloud) if o.kind == kind and o.id in _matrix()
        ]
        if (
            target.offering is None
            and target.runtime == kind
            and kind_offerings
            and not any(support(o, strategy).supported for o in kind_offerings)
        ):
            raise UsageError(
                f"targets[{index}]: `runtime: {kind}` on {cloud} cannot run `rollout.strategy: "
                f"{strategy}`: {found.how}"
            )
    return found.how


# ---- stages and transitions -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage of a release: the candidate's share and whether the old version stays."""

    percent: int
    keep_previous: bool
    label: str


def stages(strategy: str, steps: Sequence[int]) -> tuple[Stage, ...]:
    """Return the stages of ``strategy`` (``steps`` are the canary percentages)."""
    if strategy == "canary":
        shares = [s for s in steps if s < 100]
        return (
            *(Stage(s, True, f"canary {s}%") for s in shares),
            Stage(100, False, "complete"),
        )
    if strategy == "blue-green":
        return (Stage(100, True, "switched, old version on standby"), Stage(100, False, "complete"))
    if strategy == "shadow":
        return (Stage(0, True, "shadow (mirrored copies)"), Stage(100, False, "complete"))
    return (Stage(100, False, "complete"),)


@dataclass(frozen=True, slots=True)
class Transition:
    """The outcome of one release action."""

    before: ReleaseState
    after: ReleaseState
    changed: bool
    message: str


def _split(stage: Stage, previous: str | None, candidate: str) -> tuple[tuple[str, int], ...]:
    if previous is None or previous == candidate or not stage.keep_previous:
        return ((candidate, 100),)
    return ((previous, 100 - stage.percent), (candidate, stage.percent))


def _event(state: ReleaseState, action: str, version: str, note: str = "") -> Event:
    return Event(len(state.history) + 1, action, version, state.step_index, state.split, note)


def _log(state: ReleaseState, action: str, version: str, note: str = "") -> ReleaseState:
    return dataclasses.replace(
        state, history=(*state.history, _event(state, action, version, note))
    )


def _describe(state: ReleaseState) -> str:
    return ", ".join(f"{v} {p}%" for v, p in state.split) or "nothing deployed"


def start(state: ReleaseState, version: str, rollout: ResolvedRollout) -> Transition:
    """Begin releasing ``version`` with the spec's strategy: its first stage.

    The first deployment ever, and ``all-at-once``, complete at once. Starting the version that
    is already in progress or already serving changes nothing.

    Raises:
        UsageError: another version's release is in progress (promote or roll it back first).
    """
    if state.status == "in-progress":
        if state.candidate == version:
            return Transition(state, state, False, f"release of {version} already in progress")
        raise UsageError(
            f"a release of {state.candidate} is in progress (step {state.step_index + 1}); "
            f"`svai promote` or `svai rollback` it before releasing {version}"
        )
    if state.deployed == version:
        if state.status == "rolled-back":
            return Transition(
                state,
                state,
                False,
                f"{version} was rolled back; traffic stays on {state.serving}. Change the model "
                "(a new version) to release again, or `svai rollback --to` it explicitly",
            )
        return Transition(state, state, False, f"{version} already serves ({_describe(state)})")
    plan = stages(rollout.strategy, rollout.steps)
    serving = state.serving if state.status != "none" else None
    first = plan[0]
    versions = state.versions if version in state.versions else (*state.versions, version)
    base = dataclasses.replace(
        state,
        strategy=rollout.strategy,
        steps=tuple(rollout.steps),
        deployed=version,
        versions=versions,
        step_index=0,
    )
    if serving is None or len(plan) == 1:
        after = dataclasses.replace(
            base,
            status="complete",
            serving=version,
            candidate=None,
            previous=serving,
            split=((version, 100),),
        )
        after = _log(after, "start", version, "first deployment" if serving is None else "")
        return Transition(state, after, True, f"{version} deployed: {_describe(after)}")
    after = dataclasses.replace(
        base,
        status="in-progress",
        serving=serving,
        candidate=version,
        previous=serving,
        split=_split(first, serving, version),
    )
    after = _log(after, "start", version, first.label)
    return Transition(state, after, True, f"step 1/{len(plan)} ({first.label}): {_describe(after)}")


def advance(state: ReleaseState, *, to_end: bool = False) -> Transition:
    """Move the release in progress one stage forward (or to the end with ``to_end``).

    Raises:
        UsageError: nothing was ever deployed.
    """
    if state.status == "none":
        raise UsageError("nothing to promote: nothing was deployed yet (`svai apply` first)")
    if state.status != "in-progress" or state.candidate is None:
        return Transition(
            state, state, False, f"nothing to promote: {_describe(state)} ({state.status})"
        )
    plan = stages(state.strategy, state.steps)
    index = len(plan) - 1 if to_end else min(state.step_index + 1, len(plan) - 1)
    stage = plan[index]
    candidate = state.candidate
    done = index == len(plan) - 1
    after = dataclasses.replace(
        state,
        step_index=index,
        split=_split(stage, state.serving, candidate),
        status="complete" if done else "in-progress",
        serving=candidate if done else state.serving,
        candidate=None if done else candidate,
        previous=state.serving,
    )
    after = _log(after, "complete" if done else "promote", candidate, "--all" if to_end else "")
    return Transition(
        state, after, True, f"step {index + 1}/{len(plan)} ({stage.label}): {_describe(after)}"
    )


def revert(state: ReleaseState, *, to: str | None = None, reason: str = "") -> Transition:
    """Point all traffic at ``to`` (default: the version before the release) in one step.

    The newest code stays deployed (at 0%), so the rollback is a traffic switch, not a rebuild.

    Raises:
        UsageError: nothing to roll back to, or ``to`` was never deployed here.
    """
    if state.status == "none" or state.deployed is None:
        raise UsageError("nothing to roll back: nothing was deployed yet")
    if to is None:
        target = state.serving if state.status == "in-progress" else state.previous
        if state.status == "rolled-back":
            target = state.serving
        if target is None:
            raise UsageError(
                f"nothing to roll back to: {state.deployed} is the only version ever deployed"
            )
    else:
        if to not in state.versions:
            known = ", ".join(state.versions)
            raise UsageError(f"--to {to}: not a version deployed here (known: {known})")
        target = to
    split = ((target, 100),) if target == state.deployed else ((target, 100), (state.deployed, 0))
    if state.split == split and state.status in ("rolled-back", "complete"):
        return Transition(state, state, False, f"already on {target}: {_describe(state)}")
    current = state.candidate or state.serving
    after = dataclasses.replace(
        state,
        status="rolled-back" if target != state.deployed else "complete",
        serving=target,
        candidate=None,
        previous=current if current != target else state.previous,
        split=split,
    )
    after = _log(after, "rollback", target, reason)
    return Transition(state, after, True, f"rolled back to {target}: {_describe(after)}")


def rollout_of(state: ReleaseState, rollout: Rollout) -> Rollout:
    """Return ``rollout`` (a lowered plan's) with the split and stage of ``state``."""
    if not state.split:
        return rollout
    return dataclasses.replace(
        rollout,
        strategy=state.strategy,  # type: ignore[arg-type]
        steps=state.steps,
        step_index=state.step_index,
        split=tuple(TrafficSplit(v, p) for v, p in state.split),
    )


# ---- gates ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GateResult:
    """One gate checked against its evidence."""

    name: str
    phase: Literal["offline", "live"]
    threshold: str
    observed: str
    passed: bool
    hold: bool = False
    """Too little evidence to judge: the release waits (never passes, never rolls back)."""


def drift_gate(spec: ResolvedSpec, evidence: Mapping[str, Any]) -> tuple[GateResult, ...]:
    """The live ``drift`` gate on ``evidence``'s drift summaries; none when drift is not set up."""
    drift = drift_verdict(spec, evidence)
    return () if drift is None else (GateResult("drift", "live", *drift),)


def evaluate_gates(
    spec: ResolvedSpec,
    candidate: str,
    evidence: Mapping[str, Any],
    *,
    cost_per_1k_usd: float | None = None,
    live: bool = True,
) -> tuple[GateResult, ...]:
    """Check ``evidence`` against the spec's gates (offline) and rollback signals (live).

    Evidence is a JSON object (see ``docs/releases.md``): ``model_version``, ``metrics``
    (``{"f1": 0.93}``) with the ``samples`` they were computed on (``svai eval`` writes both;
    fewer than the gate's ``min_samples`` hold the release), ``p95_s``, ``p99_s``, ``cost_per_1k_usd`` and ``live`` (``error_rate``,
    ``p99_s``, ``cold_start_rate`` of the step just observed) and ``drift`` (``svai drift``'s
    report, when the spec compares drift). ``svai bench``'s
    ``.svai/measurements.json`` is valid evidence for the latency gates. A gate whose figure is
    missing fails: no evidence is not a pass.

    Args:
        spec: The resolved spec.
        candidate: The version being promoted; evidence measured on another version fails.
        evidence: The evidence object.
        cost_per_1k_usd: The predicted cost per 1,000 predictions (highest over the targets),
            used when the evidence carries none.
        live: Check the live signals too (after a step has been observed).
    """
    results: list[GateResult] = []
    measured_on = evidence.get("model_version")
    gates = spec.rollout.gates
    if gates is not None:
        if measured_on is not None and measured_on != candidate:
            results.append(
                GateResult("model_version", "offline", candidate, str(measured_on), False)
            )
        metrics = evidence.get("metrics")
        value = metrics.get(gates.metric) if isinstance(metrics, Mapping) else None
        samples = _number(evidence.get("samples"))
        if value is not None and (samples is None or samples < gates.min_samples):
            seen = "unknown" if samples is None else f"{samples:g}"
            results.append(
                GateResult("samples", "offline", f">= {gates.min_samples}", seen, False, hold=True)
            )
        why = evidence.get("metrics_error")
        if gates.min is not None:
            results.append(_explained(_at_least(gates.metric, "offline", gates.min, value), why))
        if gates.max is not None:
            results.append(_explained(_at_most(gates.metric, "offline", gates.max, value, ""), why))
        if gates.p95_s is not None:
            results.append(_at_most("p95", "offline", gates.p95_s, evidence.get("p95_s"), "s"))
        if gates.p99_s is not None:
            results.append(_at_most("p99", "offline", gates.p99_s, evidence.get("p99_s"), "s"))
        if gates.cost_per_1k_usd is not None:
            cost = evidence.get("cost_per_1k_usd", cost_per_1k_usd)
            results.append(_at_most("cost_per_1k_usd", "offline", gates.cost_per_1k_usd, cost, ""))
    if live:
        signals = evidence.get("live")
        results.extend(live_gates(spec.rollout, signals if isinstance(signals, Mapping) else {}))
        results.extend(drift_gate(spec, evidence))
    return tuple(results)


def live_gates(rollout: ResolvedRollout, signals: Mapping[str, Any]) -> tuple[GateResult, ...]:
    """Check the live ``signals`` of the step just observed against ``rollout.rollback_on``.

    The part of :func:`evaluate_gates` the scheduled gate job runs on its own: it has the
    rollout's thresholds (from the deployment's bucket) but no spec or offline evidence.
    """
    return tuple(
        _at_most(name, "live", limit, signals.get(name), unit)
        for name, limit, unit in (
            ("error_rate", rollout.rollback_error_rate, ""),
            ("p99_s", rollout.rollback_p99_s, "s"),
            ("cold_start_rate", rollout.rollback_cold_start_rate, ""),
        )
        if limit is not None
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _explained(result: GateResult, why: Any) -> GateResult:
    """Say why a missing figure is missing (e.g. the eval run that should compute it failed)."""
    if result.observed != "missing" or not why:
        return result
    return dataclasses.replace(result, observed=f"missing ({why})")


def _at_least(name: str, phase: Any, limit: float, value: Any) -> GateResult:
    got = _number(value)
    observed = "missing" if got is None else f"{got:g}"
    return GateResult(name, phase, f">= {limit:g}", observed, got is not None and got >= limit)


def _at_most(name: str, phase: Any, limit: float, value: Any, unit: str) -> GateResult:
    got = _number(value)
    observed = "missing" if got is None else f"{got:g}{unit}"
    return GateResult(
        name, phase, f"<= {limit:g}{unit}", observed, got is not None and got <= limit
    )
