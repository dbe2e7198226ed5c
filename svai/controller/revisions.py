"""The gate job moves Cloud Run, Container Apps and SageMaker traffic itself, by revision.

Neither cloud runs a canary by itself, so where a release is rolled out there the backend names
every revision in the service's traffic, marks the traffic ``ignore_changes`` and exports the
services with each version's revision (:func:`svai.backends.gate.moves_service_traffic`);
``svai apply`` copies them into the gate policy (:class:`svai.compiler.gate.ServiceRoute`). The
job then sets the split it decided, before it records it, through each cloud's documented API:

* Cloud Run Admin API v2: ``PATCH https://run.googleapis.com/v2/{service}?updateMask=traffic``
  with ``traffic`` of ``{type: TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION, revision, percent}``;
  the answer is a long-running operation, polled until done.
* Azure Resource Manager: ``PATCH https://management.azure.com/{app id}?api-version=...`` with
  ``properties.configuration.ingress.traffic`` of ``{revisionName, weight}`` (a JSON merge
  patch: the rest of the app is left as it is); the app is read back until its provisioning
  ends, and its traffic must then be the one sent. A revision the split gives traffic that
  the app does not route to yet is first activated (``POST .../revisions/{name}/activate``):
  :func:`retire` may have deactivated it when an earlier release ended.
* SageMaker, under the AWS scheduled gate (steps guardrails cannot run): the variant weights of
  a real-time endpoint (``UpdateEndpointWeightsAndCapacities``; the plan's version is variant
  ``live``, the other ``previous``). There ``up`` sets the same weights through the endpoint
  configuration, so ``svai apply`` does not route endpoints after it.

When a release ends (complete, or rolled back) and its state is recorded, :func:`retire`
deactivates each container app revision the ending step left at 0% (``POST
.../revisions/{name}/deactivate``): in ``Multiple`` revision mode a revision stays active, and
keeps its ``minReplicas`` running, until it is deactivated. A refusal is reported, never raised:
the traffic and the state stay as moved.

Credentials come from the environment, as the signal readers' do: ``GOOGLE_OAUTH_ACCESS_TOKEN``,
``AZURE_MANAGEMENT_TOKEN`` and boto3's; ``SVAI_GCP_RUN_ENDPOINT`` and ``SVAI_AZURE_MANAGEMENT_ENDPOINT``
point the calls elsewhere (the tests' loopback fakes).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from svai.compiler.gate import ServiceRoute
from svai.compiler.release_state import ReleaseState
from svai.controller import traffic
from svai.controller.traffic import routing
from svai.errors import DeployError, ToolMissingError, UsageError
from svai.signals import azure as azure_signals
from svai.signals import gcp as gcp_signals
from svai.signals import rest

__all__ = [
    "ARM_API_VERSION",
    "RUN_ENDPOINT_VAR",
    "Moved",
    "Retired",
    "move",
    "retire",
    "service_split",
]

RUN_ENDPOINT_VAR = "SVAI_GCP_RUN_ENDPOINT"
_RUN = "https://run.googleapis.com"
ARM_API_VERSION = "2024-03-01"
"""The Microsoft.App API version the container app PATCH names (GA, ``ingress.traffic``)."""

_POLLS = 60
"""At most this many reads while a cloud applies the change (2 s apart: two minutes)."""
_POLL_S = 2.0


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
        if moved.cloud == "gcp":
            _cloud_run(moved, sleep)
        elif moved.cloud == "azure":
            moved = dataclasses.replace(moved, idle=_container_app(moved, sleep))
        elif moved.cloud == "aws":
            _sagemaker(moved)
        else:
            raise UsageError(f"the gate job cannot route {moved.cloud} service {moved.resource}")
        done.append(moved)
    return tuple(done)


def _token(variable: str, how: str, moved: Moved) -> str:
    # A person's variable, else the gate job's own identity (metadata server, managed identity).
    if moved.cloud == "gcp":
        token = gcp_signals.access_token(os.environ)
    else:
        token = azure_signals.access_token(os.environ, variable, "https://management.azure.com/")
    if not token:
        raise ToolMissingError(f"no token to route {moved.line()}: set {variable} ({how})")
    return token


def _cloud_run(moved: Moved, sleep: Callable[[float], None]) -> None:
    token = _token("GOOGLE_OAUTH_ACCESS_TOKEN", "gcloud auth print-access-token", moved)
    base = (os.environ.get(RUN_ENDPOINT_VAR) or _RUN).rstrip("/")
    body = {
        "traffic": [
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": r, "percent": p}
            for r, p in moved.split
        ]
    }
    what = f"routing {moved.line()}"
    url = f"{base}/v2/{moved.resource}?updateMask=traffic"
    operation = rest.call(url, token, what, body=body, method="PATCH")
    for _ in range(_POLLS):
        if operation.get("done"):
            break
        sleep(_POLL_S)
        operation = rest.call(f"{base}/v2/{operation.get('name', '')}", token, what)
    else:
        raise DeployError(f"{what}: the operation did not finish in {_POLLS * _POLL_S:g} s")
    error = operation.get("error")
    if error:
        raise DeployError(f"{what} failed: {error.get('message', error)}")


def _arm(moved: Moved) -> tuple[str, str]:
    """The ARM token and the app's URL (``api-version`` included) of a container app route."""
    token = _token(
        "AZURE_MANAGEMENT_TOKEN",
        "az account get-access-token --resource https://management.azure.com",
        moved,
    )
    return (
        token,
        f"{azure_signals.management_endpoint()}{moved.resource}?api-version={ARM_API_VERSION}",
    )


def _revision_action(resource: str, revision: str, action: str) -> str:
    """``POST`` URL of a revision's documented action (``activate``, ``deactivate``)."""
    return f"{azure_signals.management_endpoint()}{resource}/revisions/{revision}/{action}?api-version={ARM_API_VERSION}"


def _routed(app: dict[str, Any]) -> list[tuple[Any, Any]]:
    """The app's ``(revisionName, weight)`` as ARM reports them."""
    ingress = (app.get("properties") or {}).get("configuration", {}).get("ingress") or {}
    return [(t.get("revisionName"), t.get("weight")) for t in ingress.get("traffic") or []]


def _container_app(moved: Moved, sleep: Callable[[float], None]) -> tuple[str, ...]:
    """Route the app to ``moved.split``; the revisions it routed before that now get nothing."""
    token, url = _arm(moved)
    what = f"routing {moved.line()}"
    before = _routed(rest.call(url, token, what))
    # A revision given traffic that the app does not route to yet may be inactive (retire()
    # deactivated it when an earlier release ended, and `svai rollback` routes back to it).
    serving = {r for r, w in before if w}
    for revision, percent in moved.split:
        if percent and revision not in serving:
            activate = _revision_action(moved.resource, revision, "activate")
            rest.call(activate, token, f"{what}: activating {revision}", body={})
    targets = [{"revisionName": r, "weight": p} for r, p in moved.split]
    body = {"properties": {"configuration": {"ingress": {"traffic": targets}}}}
    app = rest.call(url, token, what, body=body, method="PATCH")  # 200, or 202 with no body
    for _ in range(_POLLS):
        state = _provisioning(app)
        if state in ("Succeeded", "Failed", "Canceled"):
            break
        sleep(_POLL_S)
        app = rest.call(url, token, what)
    else:
        raise DeployError(f"{what}: provisioning did not end in {_POLLS * _POLL_S:g} s")
    if state != "Succeeded":
        raise DeployError(f"{what} failed: the container app's provisioning ended {state}")
    found = _routed(app)
    if found != [(r, p) for r, p in moved.split]:
        raise DeployError(f"{what}: the container app reports traffic {found}")
    weights = dict(moved.split)
    return tuple(dict.fromkeys(str(r) for r, _ in before if r and not weights.get(r)))


def _provisioning(app: dict[str, Any]) -> str:
    return str((app.get("properties") or {}).get("provisioningState") or "InProgress")


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


def retire(after: ReleaseState, moved: Sequence[Moved | traffic.Route]) -> tuple[Retired, ...]:
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
        if isinstance(route, Moved) and route.cloud == "azure" and route.idle:
            found.extend(_deactivate(route.resource, route.idle))
    return tuple(found)


def _deactivate(resource: str, idle: Sequence[str]) -> list[Retired]:
    moved = Moved("azure", resource, ())
    what = f"deactivating the idle revisions of {resource}"
    try:
        token, url = _arm(moved)
        routed = _routed(rest.call(url, token, what))
    except (DeployError, ToolMissingError) as exc:
        return [Retired(resource, revision, str(exc)) for revision in idle]
    holding = {r for r, w in routed if w}
    done: list[Retired] = []
    for revision in idle:
        if revision in holding:  # someone routed to it since: never deactivated with traffic
            done.append(Retired(resource, revision, "it holds traffic again"))
            continue
        try:
            rest.call(_revision_action(resource, revision, "deactivate"), token, what, body={})
        except DeployError as exc:
            done.append(Retired(resource, revision, str(exc)))
        else:
            done.append(Retired(resource, revision))
    try:
        after = _routed(rest.call(url, token, what))
        warning = "" if after == routed else f"the app's traffic is now {after}, not {routed}"
    except DeployError as exc:
        warning = f"the app could not be read back ({exc})"
    return [dataclasses.replace(r, warning=warning) if not r.refused else r for r in done]


def _sagemaker(moved: Moved) -> None:
    """``UpdateEndpointWeightsAndCapacities``: each variant's weight is its version's share.

    SageMaker applies it asynchronously (the endpoint is ``Updating`` for a while); a later
    move while it is refuses, which fails that run and leaves the state for the next one.
    """
    import boto3

    region = moved.resource.split(":")[3]
    name = moved.resource.partition(":endpoint/")[2]
    weights = [{"VariantName": v, "DesiredWeight": p / 100} for v, p in moved.split]
    with routing(moved.line()):
        boto3.client("sagemaker", region_name=region).update_endpoint_weights_and_capacities(
            EndpointName=name, DesiredWeightsAndCapacities=weights
        )
