"""The release state of one spec in one environment: ``.svai/releases/<name>-<env>.json``.

It records which model version serves, which one is being rolled out and at which step, the
version to roll back to, the Lambda version numbers that stand for each model version, and the
history of every release action. Transitions live in :mod:`svai.compiler.rollout`; this module
only holds the data and reads and writes it as deterministic JSON (sorted keys, no clock), so
the same actions always leave byte-identical files that diff well in a pull request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from svai.errors import UsageError

__all__ = [
    "RELEASES_DIR",
    "Event",
    "ReleaseState",
    "Status",
    "dumps",
    "empty_state",
    "from_dict",
    "json_object",
    "parse_state",
    "read_state",
    "state_path",
    "to_dict",
    "write_state",
]

RELEASES_DIR = ".svai/releases"
"""Where release state files live, relative to the spec's folder."""

_SCHEMA_VERSION = 1

Status = Literal["none", "in-progress", "complete", "rolled-back"]
"""``none``: nothing deployed yet; ``in-progress``: a release between its first and last step;
``complete``: one version takes all traffic; ``rolled-back``: traffic was pointed back."""


@dataclass(frozen=True, slots=True)
class Event:
    """One release action, as the history keeps it.

    Attributes:
        seq: 1, 2, 3, ... in the order the actions happened.
        action: ``start``, ``promote``, ``complete``, ``rollback``.
        version: The version the action is about (the candidate, or the rollback target).
        step_index: The step reached after the action.
        split: ``(version, percent)`` pairs after the action.
        note: Why (the gate that failed, ``--all``, ``--to``), or empty.
    """

    seq: int
    action: str
    version: str
    step_index: int
    split: tuple[tuple[str, int], ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class ReleaseState:
    """Where the release of one spec in one environment stands.

    Attributes:
        name: The spec's name.
        environment: The environment (Pulumi stack).
        status: See :data:`Status`.
        strategy: Strategy of the current (or last) release.
        steps: Its canary steps (``(100,)`` for the other strategies).
        deployed: The newest version whose code is deployed (plans are lowered with it).
        serving: The version holding the main share: the old one while a release runs.
        candidate: The version being rolled out, while a release is in progress.
        previous: The version to roll back to once a release is complete.
        step_index: Index of the stage the release is at.
        split: ``(version, percent)`` pairs the deployment routes now.
        versions: Every version ever deployed, oldest first.
        lambda_versions: Model version -> service name -> Lambda version number (from the
            stack outputs after an apply), so an alias can route to an earlier version.
        deployments: Model version -> where (``us-east-1/api``) -> the id of the deployment a
            cloud ran by itself to shift traffic to that version (AWS: CodeDeploy), so
            ``svai promote`` can read its outcome.
        history: Every action, oldest first.
    """

    name: str
    environment: str
    status: Status = "none"
    strategy: str = "all-at-once"
    steps: tuple[int, ...] = (100,)
    deployed: str | None = None
    serving: str | None = None
    candidate: str | None = None
    previous: str | None = None
    step_index: int = 0
    split: tuple[tuple[str, int], ...] = ()
    versions: tuple[str, ...] = ()
    lambda_versions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    deployments: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    history: tuple[Event, ...] = ()


def empty_state(name: str, environment: str) -> ReleaseState:
    """Return the state of a spec that was never released in ``environment``."""
    return ReleaseState(name=name, environment=environment)


def state_path(base_dir: Path, name: str, environment: str) -> Path:
    """Return the state file of spec ``name`` in ``environment`` under ``base_dir``."""
    return base_dir / RELEASES_DIR / f"{name}-{environment}.json"


def to_dict(state: ReleaseState) -> dict[str, Any]:
    """Return ``state`` as JSON-ready data (the file's contract)."""
    data: dict[str, Any] = {
        "schema_version": _SCHEMA_VERSION,
        "name": state.name,
        "environment": state.environment,
        "status": state.status,
        "strategy": state.strategy,
        "steps": list(state.steps),
        "deployed": state.deployed,
        "serving": state.serving,
        "candidate": state.candidate,
        "previous": state.previous,
        "step_index": state.step_index,
        "split": [{"version": v, "percent": p} for v, p in state.split],
        "versions": list(state.versions),
        "lambda_versions": _nested(state.lambda_versions),
        "history": [
            {
                "seq": e.seq,
                "action": e.action,
                "version": e.version,
                "step_index": e.step_index,
                "split": [{"version": v, "percent": p} for v, p in e.split],
                "note": e.note,
            }
            for e in state.history
        ],
    }
    if state.deployments:  # only where a cloud ran a shift: older files stay byte-identical
        data["deployments"] = _nested(state.deployments)
    return data


def _nested(table: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    return {key: dict(sorted(inner.items())) for key, inner in sorted(table.items())}


def _parse_nested(table: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    return {str(key): {str(k): str(v) for k, v in inner.items()} for key, inner in table.items()}


def from_dict(data: Mapping[str, Any]) -> ReleaseState:
    """Return the state held in ``data`` (what :func:`to_dict` wrote).

    Raises:
        UsageError: ``data`` is not a release state of a known schema version.
    """
    if data.get("schema_version") != _SCHEMA_VERSION:
        raise UsageError(
            f"release state schema_version {data.get('schema_version')!r} is not "
            f"{_SCHEMA_VERSION}; was it written by another svai version?"
        )
    try:
        return ReleaseState(
            name=str(data["name"]),
            environment=str(data["environment"]),
            status=data["status"],
            strategy=str(data["strategy"]),
            steps=tuple(int(s) for s in data["steps"]),
            deployed=data["deployed"],
            serving=data["serving"],
            candidate=data["candidate"],
            previous=data["previous"],
            step_index=int(data["step_index"]),
            split=tuple((str(s["version"]), int(s["percent"])) for s in data["split"]),
            versions=tuple(str(v) for v in data["versions"]),
            lambda_versions=_parse_nested(data["lambda_versions"]),
            deployments=_parse_nested(data.get("deployments", {})),
            history=tuple(
                Event(
                    seq=int(e["seq"]),
                    action=str(e["action"]),
                    version=str(e["version"]),
                    step_index=int(e["step_index"]),
                    split=tuple((str(s["version"]), int(s["percent"])) for s in e["split"]),
                    note=str(e["note"]),
                )
                for e in data["history"]
            ),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"release state is malformed ({type(exc).__name__}: {exc})") from None


def json_object(raw: str | bytes, where: str) -> dict[str, Any]:
    """The JSON object in ``raw`` (read from ``where``: a state or policy file, a bucket).

    Raises:
        UsageError: not JSON, or not an object.
    """
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"{where}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{where}: expected a JSON object")
    return data


def parse_state(raw: str | bytes, where: str, name: str, environment: str) -> ReleaseState:
    """Return the release state in the JSON text ``raw`` read from ``where`` (a file, a bucket).

    Raises:
        UsageError: not JSON or not a release state, or the state of another spec.
    """
    state = from_dict(json_object(raw, where))
    if (state.name, state.environment) != (name, environment):
        raise UsageError(
            f"{where} holds the release of {state.name!r} in {state.environment!r}, "
            f"not {name!r} in {environment!r}"
        )
    return state


def dumps(state: ReleaseState) -> str:
    """``state`` as the stable JSON text every copy of it holds (local file, bucket)."""
    return json.dumps(to_dict(state), indent=2, sort_keys=True) + "\n"


def read_state(path: Path, name: str, environment: str) -> ReleaseState:
    """Return the state saved at ``path``, or an empty one when there is no file yet.

    Raises:
        UsageError: the file is not JSON or not a release state, or belongs to another spec.
    """
    if not path.is_file():
        return empty_state(name, environment)
    return parse_state(path.read_text(encoding="utf-8"), str(path), name, environment)


def write_state(path: Path, state: ReleaseState) -> None:
    """Write ``state`` to ``path`` as stable JSON (atomically: a crash leaves the old file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".json.tmp")
    scratch.write_text(dumps(state), "utf-8")
    scratch.replace(path)
