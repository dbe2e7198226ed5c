"""The gate job moves Cloud Run, Container Apps and SageMaker traffic itself, by revision.

Neither GCP nor Azure runs a canary by itself, so where a release is rolled out there the
backend names every revision in the service's traffic, marks the traffic ``ignore_changes`` and
exports the services with each version's revision
(:func:`svai.backends.gate.moves_service_traffic`); ``svai apply`` copies them into the gate
policy (:class:`svai.compiler.gate.ServiceRoute`). The job then sets the split it decided,
before it records it, through each cloud's documented API, in the cloud's own module
(:mod:`svai.controller.traffic` lists what it offers): Cloud Run's Admin API, Azure Resource
Manager, SageMaker's endpoint weights under the AWS scheduled gate.

When a release ends (complete, or rolled back) and its state is recorded, :func:`retire`
deactivates each revision the ending step left at 0% where the cloud keeps one running until
then (a container app's, in ``Multiple`` revision mode). A refusal is reported, never raised:
the traffic and the state stay as moved.

Credentials come from the environment, as the signal readers' do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from svai.compiler.gate import ServiceRoute
from svai.compiler.release_state import ReleaseState
from svai.controller import traffic
from svai.errors import ToolMissingError, UsageError

__all__ = [
    "POLLS",
    "POLL_S",
    "Moved",
    "Retired",
    "move",
    "retire",
    "service_split",
    "token",
]

POLLS = 60
"""At most this many reads while a cloud applies the change (2 s apart: two minutes)."""
POLL_S = 2.0


@dataclass(frozen=True, slots=True)
class Moved:
    """One service routed to a new split.

    Attributes:
        cloud: ``gcp`` or ``azure``.
        resource: The service's full name or ARM id.
        split: ``(revision, percent)`` as set.
        idle: The container app's revisions it routed before (at any weight: blue/green's
            standby sits at 0%) that ``split`` gives no traffic, as ARM reported them.
    """

    cloud: str
    resource: str
    split: tuple[tuple[str, int], ...]
    idle: tuple[str, ...] = ()

    def line(self) -> str:
        """``projects/p/locations/l/services/s -> s-aaaa 100%, s-bbbb 0%``."""
        parts = ", ".join(f"{revision} {percent}%" for revision, percent in self.split)
        return f"{self.resource} -> {parts}"


def service_split(state: ReleaseState, route: ServiceRoute) -> tuple[tuple[str, int], ...]:
    """``state``'s split as ``(revision, percent)`` of ``route``'s service.

    Raises:
        UsageError: the split names a version whose revision the policy does not know (the
            apply that deployed it wrote no routes).
    """
    revisions = dict(route.revisions)
    missing = [v for v, _ in state.split if v not in revisions]
    if missing:
        raise UsageError(
            f"the gate policy names no revision of version {missing[0]} for {route.resource}; "
            "`svai apply` writes the routes after it deploys a version"
        )
    return tuple((revisions[v], percent) for v, percent in state.split)


def move(
    state: ReleaseState,
    routes: Sequence[ServiceRoute],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Moved, ...]:
    """Route every service of ``routes`` to ``state``'s split; what was set.

    Every split is computed before the first call, so an unknown version moves nothing.

    Raises:
        UsageError: a version's revision is unknown.
        svai.errors.ToolMissingError: no token for a cloud.
        svai.errors.DeployError: a cloud refused or failed the change (the message names the
            service).
    """
    planned = [Moved(r.cloud, r.resource, service_split(state, r)) for r in routes]
    done = []
    for moved in planned:
        module = traffic.cloud_module(moved.cloud)
        if module is None:
            raise UsageError(f"the gate job cannot route {moved.cloud} service {moved.resource}")
        done.append(module.route(moved, sleep))
    return tuple(done)


def token(found: str | None, variable: str, how: str, moved: Moved) -> str:
    """``found``, the token to route ``moved`` with (a person's variable or the job's identity).

    Raises:
        svai.errors.ToolMissingError: there is none (the message says how to set ``variable``).
    """
    if not found:
        raise ToolMissingError(f"no token to route {moved.line()}: set {variable} ({how})")
    return found


@dataclass(frozen=True, slots=True)
class Retired:
    """A container app revision an ended release left at 0%, and whether it was deactivated.

    Attributes:
        resource: The container app's ARM id.
        revision: The revision's name.
        refused: Why it is still active (the cloud's answer); empty when it was deactivated.
        warning: What reading the app back afterwards found amiss (empty: its traffic was as
            the move left it).
    """

    resource: str
    revision: str
    refused: str = ""
    warning: str = ""

    def line(self) -> str:
        """``<app id>: <revision> deactivated``, or why it was left active."""
        if not self.refused:
            done = f"{self.resource}: {self.revision} deactivated (0% after the release ended)"
            return f"{done}; but {self.warning}" if self.warning else done
        return (
            f"{self.resource}: {self.revision} left active at 0%, its minimum replicas still "
            f"billed ({self.refused}); `az containerapp revision deactivate` stops them"
        )


def retire(after: ReleaseState, moved: Sequence[traffic.Routed]) -> tuple[Retired, ...]:
    """Deactivate the container app revisions the step to ``after`` left at 0%.

    Call it once ``after`` is recorded, with what :func:`move` routed to it. Only when ``after``
    ended the release (``complete`` or ``rolled-back``): until then a revision at 0% is
    blue/green's standby. The revisions are each app's :attr:`Moved.idle` (what ARM routed
    before the move, so a version the last ``up`` no longer exports is found too). The app is
    read first and a revision it still routes to is left alone; after the calls it is read
    again, and its traffic must be as it was. Nothing here raises: a refusal (403 without
    ``revisions/deactivate/action``, 404) is reported in the result, and the traffic and the
    state stay as moved.
    """
    if after.status not in ("complete", "rolled-back"):
        return ()
    found: list[Retired] = []
    for route in moved:
        if isinstance(route, Moved) and route.idle:  # only a cloud that deactivates sets it
            module = traffic.cloud_module(route.cloud)
            found.extend(module.deactivate(route.resource, route.idle) if module else ())
    return tuple(found)
