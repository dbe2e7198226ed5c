"""Keep the user's release state and the deployment buckets' copies level (``promote``/``apply``).

The buckets are found in the stack outputs of the last ``svai apply``
(``.svai/outputs/svai-<name>-<env>.json``: each backend exports ``<cloud>_release_state_url``
when it deploys a gate job), or in ``SVAI_RELEASE_STATE_URL``. Before a release action the
newest of the copies wins (:func:`svai.compiler.gate.reconcile`: the gate job may have moved the
release since the local file was written); after it every copy gets the new state, and each
bucket the gate policy of its own cloud's targets.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svai.backends.gate import ROUTES_SUFFIX
from svai.compiler import gate as _gate
from svai.compiler.release_state import ReleaseState, write_state
from svai.controller import job
from svai.controller.store import Conflict, open_bucket, parse
from svai.errors import DeployError, UsageError
from svai.signals.evidence import DEFAULT_MIN_SAMPLES
from svai.spec.resolve import ResolvedSpec

__all__ = [
    "OUTPUT_SUFFIX",
    "Synced",
    "bucket_urls",
    "policy",
    "push",
    "reconcile",
    "routes_in",
    "settle",
]

OUTPUT_SUFFIX = "_release_state_url"
"""Stack output ``<cloud>_release_state_url``: where that cloud's gate job keeps the state."""


@dataclass(frozen=True, slots=True)
class Synced:
    """The state reconciled with the buckets, the buckets it was read from and what was read.

    Attributes:
        reconciled: The newer state and what was found.
        urls: The buckets.
        tags: Each bucket's state tag as read (:data:`~svai.controller.store.ABSENT`: none);
            :func:`push` writes only over exactly that.
    """

    reconciled: _gate.Reconciled
    urls: tuple[str, ...]
    tags: tuple[str, ...] = ()


def _outputs(base_dir: Path, name: str, environment: str) -> dict[str, Any]:
    """The stack outputs the last ``svai apply`` saved (empty before the first)."""
    outputs = base_dir / ".svai" / "outputs" / f"svai-{name}-{environment}.json"
    try:
        data = json.loads(outputs.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def bucket_urls(base_dir: Path, name: str, environment: str) -> tuple[str, ...]:
    """The release state locations of this deployment (none before its first apply)."""
    given = os.environ.get(job.STATE_URL_ENV)
    if given:
        return (given,)
    data = _outputs(base_dir, name, environment)
    return tuple(
        str(v) for k, v in sorted(data.items()) if k.endswith(OUTPUT_SUFFIX) and isinstance(v, str)
    )


def routes_in(outputs: Mapping[str, Any]) -> tuple[_gate.ServiceRoute, ...]:
    """The services the gate job routes, from stack outputs (``<cloud>_<region>_release_routes``).

    Raises:
        svai.errors.UsageError: an output is not a list of routes.
    """
    found: list[_gate.ServiceRoute] = []
    for key, value in sorted(outputs.items()):
        if not key.endswith(ROUTES_SUFFIX):
            continue
        try:
            found += _gate.routes_from_list(value)
        except (KeyError, TypeError, AttributeError) as exc:
            raise UsageError(f"stack output {key} is not a list of routes ({exc})") from None
    return tuple(found)


def reconcile(base_dir: Path, name: str, environment: str, local: ReleaseState) -> Synced | None:
    """Reconcile ``local`` with every bucket's copy; ``None`` when no bucket is known.

    Raises:
        svai.errors.UsageError: two copies have forked.
        svai.errors.ToolMissingError: no credentials for a bucket.
        svai.errors.DeployError: a bucket could not be read.
    """
    urls = bucket_urls(base_dir, name, environment)
    if not urls:
        return None
    result: _gate.Reconciled | None = None
    messages = []
    tags = []
    for url in urls:
        remote, tag = job.read_tagged_state(open_bucket(url), name, environment)
        tags.append(tag)
        step = _gate.reconcile(result.state if result else local, remote)
        messages.append(f"{parse(url).url(job.state_name(name, environment))}: {step.message}")
        push = step.push or (result is not None and result.push)
        source = step.source if result is None or step.source == "bucket" else result.source
        result = dataclasses.replace(step, push=push, source=source)
    assert result is not None
    return Synced(dataclasses.replace(result, message="; ".join(messages)), urls, tuple(tags))


def policy(
    spec: ResolvedSpec, targets: Sequence[tuple[str, str]], environment: str
) -> _gate.Policy:
    """The gate policy of ``spec``'s release over the served ``(cloud, region)`` targets."""
    gates = spec.rollout.gates
    return _gate.Policy(
        service=spec.name,
        environment=environment,
        targets=tuple(targets),
        rollout=spec.rollout,
        min_samples=gates.min_samples if gates is not None else DEFAULT_MIN_SAMPLES,
    )


def push(
    base_dir: Path,
    state: ReleaseState,
    policy: _gate.Policy | None,
    synced: Synced | None = None,
) -> None:
    """Write ``state`` (and each bucket's share of ``policy``) to every known bucket.

    The buckets are read again: the apply that just ran may have created the first one. Each
    policy names its cloud's routed services, as the apply's stack outputs list them. A bucket
    ``synced`` read is written only if its state is still the one read.

    Raises:
        svai.errors.DeployError: the gate job (or another machine) changed a bucket's state
            since it was read; that bucket keeps its state, and the message says what to do.
    """
    routes = routes_in(_outputs(base_dir, state.name, state.environment))
    read = dict(zip(synced.urls, synced.tags, strict=True)) if synced else {}
    for url in bucket_urls(base_dir, state.name, state.environment):
        bucket = open_bucket(url)
        try:
            job.write_state(bucket, state, if_tag=read.get(url))
        except Conflict as exc:
            raise DeployError(
                f"{exc}: the gate job (or another machine) acted while this command ran, so "
                "the bucket keeps its state; this step is recorded only in "
                f".svai/releases/{state.name}-{state.environment}.json and the next `svai "
                "promote` will show both copies (forked)"
            ) from None
        if policy is not None:
            cloud = bucket.location.cloud
            own = tuple(t for t in policy.targets if t[0] == cloud)
            routed = tuple(r for r in routes if r.cloud == cloud)
            job.write_policy(bucket, dataclasses.replace(policy, targets=own, routes=routed))


def settle(
    base_dir: Path,
    state_file: Path,
    synced: Synced | None,
    state: ReleaseState,
    policy: _gate.Policy | None,
) -> bool:
    """With no release step to take, level the copies: adopt the bucket's, or push ours.

    Returns whether anything was written.
    """
    if synced is None:
        return False
    if synced.reconciled.source == "bucket":
        write_state(state_file, state)
    if synced.reconciled.push:
        push(base_dir, state, policy, synced)
    return synced.reconciled.source == "bucket" or synced.reconciled.push
