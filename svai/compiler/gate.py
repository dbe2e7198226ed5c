"""The gate of one release step as a pure decision, and the reconciling of two release states.

Both ``svai promote`` (a person) and the scheduled gate job (no person: :mod:`svai.controller`)
ask the same question: given where the release stands and the gates checked against the
evidence of the step just observed, does it advance, hold or roll back? :func:`decide` answers
it once for both, over :mod:`svai.compiler.rollout`'s transitions.

The gate job works from the deployment's bucket, where the authoritative release state lives
(``docs/adr/0006-release-state-in-the-bucket.md``), beside a :class:`Policy`: the rollout's
thresholds and the targets whose signals it reads, written by ``svai apply`` so the job needs
neither the spec nor the model. :func:`reconcile` tells ``promote``/``apply`` what the job (or
another machine) changed since the user's local copy was written.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from svai.compiler.release_state import Event, ReleaseState
from svai.compiler.rollout import GateResult, Transition, advance, live_gates, revert
from svai.errors import UsageError
from svai.ir import Rollout
from svai.spec.resolve import ResolvedRollout

__all__ = [
    "AUTOMATIC",
    "Decision",
    "Policy",
    "Reconciled",
    "ServiceRoute",
    "Shift",
    "Verdict",
    "automatic",
    "decide",
    "judge_live",
    "native_shift",
    "policy_from_dict",
    "policy_to_dict",
    "reasons",
    "reconcile",
    "rollback_limits",
    "routes_from_list",
    "schedule_minutes",
]

Verdict = Literal["advance", "hold", "rollback", "idle"]
"""``idle``: no release in progress, nothing to judge."""

AUTOMATIC = "gate job"
"""How the gate job signs the history events it adds (``note`` starts with it)."""

_POLICY_SCHEMA = 1


@dataclass(frozen=True, slots=True)
class Decision:
    """What one gate check decided.

    Attributes:
        verdict: See :data:`Verdict`.
        transition: The state before and after (unchanged on ``hold`` and ``idle``).
        gates: The gates the decision rests on.
    """

    verdict: Verdict
    transition: Transition
    gates: tuple[GateResult, ...]


def reasons(results: Sequence[GateResult]) -> str:
    """The gates in ``results`` as one line: ``error_rate 0.1 (needs <= 0.02); ...``."""
    return "; ".join(f"{g.name} {g.observed} (needs {g.threshold})" for g in results)


def decide(
    state: ReleaseState, gates: Sequence[GateResult], *, to_end: bool = False, by: str = ""
) -> Decision:
    """Advance, hold or roll back the release in progress on the strength of ``gates``.

    A failed gate rolls back (whatever else holds); a gate that holds (too little evidence)
    keeps the release where it is; otherwise it advances one stage, or to the end with
    ``to_end``. With no release in progress the verdict is ``idle`` and nothing changes.

    Args:
        state: Where the release stands.
        gates: The gates checked against the step's evidence.
        to_end: Advance to 100% at once (``svai promote --all``).
        by: Who decides, prefixed to the rollback's note (``gate job``); empty for a person.
    """
    checked = tuple(gates)
    if state.status != "in-progress" or state.candidate is None:
        status = ", ".join(f"{v} {p}%" for v, p in state.split) or "nothing deployed"
        idle = Transition(state, state, False, f"no release in progress: {status}")
        return Decision("idle", idle, checked)
    failed = [g for g in checked if not g.passed and not g.hold]
    held = [g for g in checked if g.hold and not g.passed]
    if failed:
        note = f"{by}: " if by else ""
        back = revert(state, reason=f"{note}gate failed: {reasons(failed)}")
        return Decision("rollback", back, checked)
    if held:
        return Decision("hold", Transition(state, state, False, "held: " + reasons(held)), checked)
    step = advance(state, to_end=to_end)
    if by:  # say in the history who moved it: reconcile shows it to the user
        *rest, last = step.after.history
        signed = dataclasses.replace(last, note=f"{by}: {last.note}" if last.note else by)
        step = dataclasses.replace(
            step, after=dataclasses.replace(step.after, history=(*rest, signed))
        )
    return Decision("advance", step, checked)


def judge_live(
    rollout: ResolvedRollout, live: Mapping[str, Any], samples: GateResult
) -> tuple[GateResult, ...]:
    """The live gates of ``rollout`` on ``live`` signals, then the ``samples`` gate.

    With too few requests (``samples`` holds) every live gate holds too: the release waits
    rather than decide on noise.
    """
    results = live_gates(rollout, live)
    if samples.hold:
        results = tuple(dataclasses.replace(r, passed=False, hold=True) for r in results)
    return (*results, samples)


# ---- who runs the gate: the cloud's own mechanism, or svai's scheduled job ---------------------


def automatic(rollout: Rollout) -> bool:
    """Whether a release with ``rollout`` is rolled back automatically (canary or blue/green)."""
    return rollout.strategy in ("canary", "blue-green")


def schedule_minutes(rollout: Rollout) -> int:
    """How often the gate runs: once per ``rollout.interval``, at least every minute."""
    return max(1, round(rollout.interval_s / 60))


def rollback_limits(rollout: Rollout) -> tuple[tuple[str, float], ...]:
    """``(metric, threshold)`` of each ``rollback_on`` limit a cloud alarm can watch."""
    limits = (("error_rate", rollout.rollback_error_rate), ("latency_p99", rollout.rollback_p99_s))
    return tuple((metric, limit) for metric, limit in limits if limit is not None)


@dataclass(frozen=True, slots=True)
class Shift:
    """A traffic shift CodeDeploy and SageMaker guardrails run by themselves.

    Attributes:
        kind: ``all-at-once`` (blue/green's switch), ``canary`` (one step, then the rest) or
            ``linear`` (equal steps).
        percent: The first (canary) or every (linear) step's share.
        minutes: Time between steps.
    """

    kind: Literal["all-at-once", "canary", "linear"]
    percent: int
    minutes: int


def native_shift(rollout: Rollout) -> Shift | None:
    """The native shift of ``rollout``'s steps, or ``None`` when only svai's gate can run them."""
    minutes = schedule_minutes(rollout)
    if rollout.strategy == "blue-green":
        return Shift("all-at-once", 100, minutes)
    shares = [s for s in rollout.steps if s < 100]
    if rollout.strategy != "canary" or not shares:
        return None
    if len(shares) == 1:
        return Shift("canary", shares[0], minutes)
    first = shares[0]
    equal = shares == [first * n for n in range(1, len(shares) + 1)]
    if equal and 100 % first == 0 and len(shares) == 100 // first - 1:
        return Shift("linear", first, minutes)
    return None


# ---- the policy the gate job reads ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceRoute:
    """A service whose revisions the gate job routes itself: Cloud Run, Container Apps.

    Attributes:
        cloud: ``gcp`` or ``azure``.
        resource: The service's full name: ``projects/P/locations/L/services/S`` (Cloud Run), or
            its ARM id ``/subscriptions/S/resourceGroups/G/providers/Microsoft.App/
            containerApps/N`` (Container Apps).
        revisions: Model version -> the revision that serves it, for every version of the
            release (the backend names revisions after the version).
    """

    cloud: str
    resource: str
    revisions: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Policy:
    """What the gate job needs besides the state: whose signals to read, and the thresholds.

    Attributes:
        service: The deployment's name (the ``service`` the runtime writes on every line).
        environment: The environment.
        targets: ``(cloud, region)`` of every served target.
        rollout: The spec's rollout (strategy, steps, interval, ``rollback_on``).
        min_samples: Requests needed before the live gates judge.
        routes: The Cloud Run services and container apps whose traffic the job moves (from
            the stack outputs of the apply that wrote the policy; empty elsewhere).
    """

    service: str
    environment: str
    targets: tuple[tuple[str, str], ...]
    rollout: ResolvedRollout
    min_samples: int
    routes: tuple[ServiceRoute, ...] = ()


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    """Return ``policy`` as JSON-ready data (``<name>-<env>.policy.json`` in the bucket)."""
    ro = policy.rollout
    return {
        "schema_version": _POLICY_SCHEMA,
        "service": policy.service,
        "environment": policy.environment,
        "targets": [{"cloud": c, "region": r} for c, r in policy.targets],
        "strategy": ro.strategy,
        "steps": list(ro.steps),
        "interval_s": ro.interval_s,
        "rollback_on": {
            "error_rate": ro.rollback_error_rate,
            "p99_s": ro.rollback_p99_s,
            "cold_start_rate": ro.rollback_cold_start_rate,
        },
        "min_samples": policy.min_samples,
        "routes": [
            {"cloud": r.cloud, "resource": r.resource, "revisions": dict(r.revisions)}
            for r in policy.routes
        ],
    }


def policy_from_dict(data: Mapping[str, Any]) -> Policy:
    """Return the policy held in ``data`` (what :func:`policy_to_dict` wrote).

    Raises:
        UsageError: ``data`` is not a policy of a known schema version.
    """
    if data.get("schema_version") != _POLICY_SCHEMA:
        raise UsageError(f"gate policy schema_version {data.get('schema_version')!r} is unknown")
    try:
        limits = data["rollback_on"]
        rollout = ResolvedRollout(
            strategy=str(data["strategy"]),
            steps=tuple(int(s) for s in data["steps"]),
            interval_s=float(data["interval_s"]),
            rollback_p99_s=_optional(limits["p99_s"]),
            rollback_error_rate=_optional(limits["error_rate"]),
            rollback_cold_start_rate=_optional(limits["cold_start_rate"]),
            gates=None,  # the offline gates were checked when the release started
        )
        return Policy(
            service=str(data["service"]),
            environment=str(data["environment"]),
            targets=tuple((str(t["cloud"]), str(t["region"])) for t in data["targets"]),
            rollout=rollout,
            min_samples=int(data["min_samples"]),
            routes=routes_from_list(data.get("routes", [])),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"gate policy is malformed ({type(exc).__name__}: {exc})") from None


def routes_from_list(data: Sequence[Mapping[str, Any]]) -> tuple[ServiceRoute, ...]:
    """The routes held in ``data`` (the policy's ``routes``, or a backend's stack output).

    Raises:
        KeyError, TypeError, AttributeError: an entry is not a route.
    """
    return tuple(
        ServiceRoute(
            str(r["cloud"]),
            str(r["resource"]),
            tuple(sorted((str(v), str(n)) for v, n in r["revisions"].items())),
        )
        for r in data
    )


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


# ---- reconciling the user's copy with the bucket's --------------------------------------------


@dataclass(frozen=True, slots=True)
class Reconciled:
    """The state to work from, where it came from, and what to tell the user.

    Attributes:
        state: The newer of the two states.
        source: ``local`` (the user's copy is as new or newer), ``bucket`` (the bucket is newer:
            the gate job or another machine moved the release), or ``none`` (neither exists).
        push: The bucket lags the result and must be written.
        message: One line for the user: what was found.
    """

    state: ReleaseState
    source: Literal["local", "bucket", "none"]
    push: bool
    message: str


def _line(event: Event) -> str:
    note = f" ({event.note})" if event.note else ""
    return f"#{event.seq} {event.action} {event.version}{note}"


def reconcile(local: ReleaseState, remote: ReleaseState | None) -> Reconciled:
    """Return the newer of the user's ``local`` state and the bucket's ``remote`` one.

    The history is append-only, so one state is newer exactly when its history extends the
    other's. Histories that fork (two writers each acted on the same old state) cannot be
    merged safely.

    Raises:
        UsageError: the histories fork; the message names both last actions.
    """
    if remote is None:
        if local.status == "none":
            return Reconciled(local, "none", False, "no release state yet, here or in the bucket")
        return Reconciled(local, "local", True, "the bucket holds no release state yet")
    shared = min(len(local.history), len(remote.history))
    if local.history[:shared] != remote.history[:shared]:
        mine = _line(local.history[-1]) if local.history else "none"
        theirs = _line(remote.history[-1]) if remote.history else "none"
        raise UsageError(
            f"the release state here and in the deployment's bucket have forked (here: {mine}; "
            f"bucket: {theirs}); the bucket's is authoritative: delete the local file to take it"
        )
    if len(remote.history) > len(local.history):
        newer = "; ".join(_line(e) for e in remote.history[len(local.history) :])
        return Reconciled(remote, "bucket", False, f"the bucket is ahead of this copy: {newer}")
    if len(local.history) > len(remote.history) or local != remote:
        return Reconciled(local, "local", True, "this copy is ahead of the bucket")
    return Reconciled(local, "local", False, "this copy and the bucket agree")
