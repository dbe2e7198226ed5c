"""One run of the gate job: read the bucket's state and policy, judge the live step, write back.

What the scheduled job on each cloud runs (``svai gate --once``), and what ``svai promote`` and
``svai apply`` use to reconcile the user's copy of the release state with the bucket's.

Objects, under the location's prefix::

    releases/<name>-<env>.json          the release state (svai.compiler.release_state's JSON)
    releases/<name>-<env>.policy.json   the gate policy (svai.compiler.gate.Policy)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from svai.compiler import gate as _gate
from svai.compiler.release_state import ReleaseState, dumps, json_object, parse_state
from svai.controller import revisions, traffic
from svai.controller.store import Bucket, Conflict, open_bucket
from svai.errors import DeployError, UsageError
from svai.signals.evidence import live_evidence
from svai.signals.model import Signals, window_ending

__all__ = [
    "STATE_URL_ENV",
    "Run",
    "policy_name",
    "read_policy",
    "read_state",
    "read_tagged_state",
    "releases",
    "run_once",
    "state_name",
    "write_policy",
    "write_state",
]

STATE_URL_ENV = "SVAI_RELEASE_STATE_URL"
"""Where the deployment's release state lives (``s3://…``, ``gs://…``, ``https://…blob…``)."""


def state_name(name: str, environment: str) -> str:
    """The state object's name under the location's prefix."""
    return f"releases/{name}-{environment}.json"


def policy_name(name: str, environment: str) -> str:
    """The policy object's name under the location's prefix."""
    return f"releases/{name}-{environment}.policy.json"


_SUFFIX = ".policy.json"


def releases(bucket: Bucket) -> list[tuple[str, str]]:
    """``(name, environment)`` of every release whose policy the bucket holds.

    A policy's name is ``<name>-<env>``; the environment is read from the policy itself, since
    both parts may hold dashes.
    """
    found = []
    for entry in bucket.names("releases"):
        if entry.endswith(_SUFFIX):
            data = _load(bucket, entry)
            if data is not None:
                policy = _gate.policy_from_dict(data)
                found.append((policy.service, policy.environment))
    return found


def _json(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def _load(bucket: Bucket, name: str) -> dict[str, Any] | None:
    raw = bucket.get(name)
    return None if raw is None else json_object(raw, bucket.location.url(name))


def read_state(bucket: Bucket, name: str, environment: str) -> ReleaseState | None:
    """The bucket's release state of ``name`` in ``environment``, or ``None`` when absent.

    Raises:
        UsageError: the object is not a release state of this spec and environment.
    """
    return read_tagged_state(bucket, name, environment)[0]


def read_tagged_state(
    bucket: Bucket, name: str, environment: str
) -> tuple[ReleaseState | None, str]:
    """The bucket's release state and its tag (:data:`~svai.controller.store.ABSENT`: none).

    Raises:
        UsageError: the object is not a release state of this spec and environment.
    """
    where = state_name(name, environment)
    raw, tag = bucket.read(where)
    if raw is None:
        return None, tag
    return parse_state(raw, bucket.location.url(where), name, environment), tag


def write_state(bucket: Bucket, state: ReleaseState, *, if_tag: str | None = None) -> None:
    """Write ``state`` to the bucket (the same bytes ``write_state`` puts in the local file).

    With ``if_tag`` (what :func:`read_tagged_state` gave) only if the bucket's copy is still
    the one read.

    Raises:
        svai.controller.store.Conflict: another writer changed the state since it was read.
    """
    bucket.put(state_name(state.name, state.environment), dumps(state).encode(), if_tag=if_tag)


def read_policy(bucket: Bucket, name: str, environment: str) -> _gate.Policy | None:
    """The gate policy of ``name`` in ``environment``, or ``None`` when absent."""
    data = _load(bucket, policy_name(name, environment))
    return None if data is None else _gate.policy_from_dict(data)


def write_policy(bucket: Bucket, policy: _gate.Policy) -> None:
    """Write the gate policy the job reads."""
    bucket.put(policy_name(policy.service, policy.environment), _json(_gate.policy_to_dict(policy)))


@dataclass(frozen=True, slots=True)
class Run:
    """What one run of the gate job found and did.

    Attributes:
        location: The state object's location.
        decision: The verdict and the state change.
        signals: The candidate's signals on every target (empty when idle).
        written: The new state was written to the bucket.
        moved: The Lambda aliases, Cloud Run services and container apps routed to the new
            split (empty when nothing moved).
        retired: The container app revisions the run's end of a release left at 0%, each
            deactivated or left active with the reason.
    """

    location: str
    decision: _gate.Decision
    signals: tuple[Signals, ...]
    written: bool
    moved: tuple[traffic.Routed, ...] = ()
    retired: tuple[revisions.Retired, ...] = ()


def run_once(
    url: str,
    name: str,
    environment: str,
    *,
    window_s: int | None = None,
    now: float | None = None,
    dry_run: bool = False,
) -> Run:
    """Judge the release step in progress once, from the bucket at ``url``, and record it.

    The window is the rollout's ``interval`` unless ``window_s`` is given: the job runs once per
    interval, so each run judges the step the previous run left. Too few requests hold. A new
    split is routed on every target routed per region, AWS's Lambda aliases
    (:func:`svai.controller.traffic.move`), and on the policy's Cloud Run services and container
    apps (:func:`svai.controller.revisions.move`) before it is written. Once a release's end is
    written, the container app revisions it left at 0% are deactivated
    (:func:`svai.controller.revisions.retire`; a refusal is reported in :attr:`Run.retired`).

    Raises:
        UsageError: the bucket holds no policy (``svai apply`` writes it), or a malformed object.
        svai.errors.ToolMissingError: no credentials for the bucket or a target's signals.
        svai.errors.DeployError: the bucket or a cloud failed.
    """
    bucket = open_bucket(url)
    where = bucket.location.url(state_name(name, environment))
    policy = read_policy(bucket, name, environment)
    if policy is None:
        raise UsageError(
            f"{bucket.location.url(policy_name(name, environment))} does not exist; "
            "`svai apply` writes it with the release state"
        )
    state, tag = read_tagged_state(bucket, name, environment)
    if state is None or state.status != "in-progress" or state.candidate is None:
        idle = _gate.decide(state or ReleaseState(name, environment), ())
        return Run(where, idle, (), False)
    window = window_ending(window_s or max(60, int(policy.rollout.interval_s)), now)
    live, samples, parts = live_evidence(
        policy.service, policy.targets, state.candidate, window, policy.min_samples
    )
    gates = _gate.judge_live(policy.rollout, live["live"], samples)
    decision = _gate.decide(state, gates, by=_gate.AUTOMATIC)
    written = decision.transition.changed and not dry_run
    moved: tuple[traffic.Routed, ...] = ()
    if written:
        # Traffic first: if a cloud refuses, nothing is recorded and the next run decides again.
        # (A failed bucket write after a move leaves the traffic ahead; that run judges again.)
        after = decision.transition.after
        moved = _route(after, policy)
        try:
            write_state(bucket, after, if_tag=tag)  # only over the state this run judged
        except Conflict:
            _yield_to_the_winner(bucket, policy, where)
        retired = revisions.retire(after, moved)
        return Run(where, decision, parts, written, moved, retired)
    return Run(where, decision, parts, written, moved)


def _route(state: ReleaseState, policy: _gate.Policy) -> tuple[traffic.Routed, ...]:
    return (*traffic.move(state, policy.targets), *revisions.move(state, policy.routes))


def _yield_to_the_winner(bucket: Bucket, policy: _gate.Policy, where: str) -> None:
    """Another writer changed the state while this run judged it: its state wins.

    This run's split was already routed, so the winner's is routed again (it may have routed
    it before this run did) before the run fails; the next run judges from the winner's state.
    """
    winner = read_state(bucket, policy.service, policy.environment)
    back = _route(winner, policy) if winner is not None and winner.split else ()
    again = "; ".join(r.line() for r in back) or "nothing to route"
    raise DeployError(
        f"{where} changed while this run judged it (another writer acted); its state stands and "
        f"its split was routed again ({again}); the next run judges from it"
    )
