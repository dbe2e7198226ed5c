"""Azure's gate job routes: a container app's traffic, by revision (Azure Resource Manager).

``PATCH https://management.azure.com/{app id}?api-version=...`` with
``properties.configuration.ingress.traffic`` of ``{revisionName, weight}`` (a JSON merge patch:
the rest of the app is left as it is); the app is read back until its provisioning ends, and its
traffic must then be the one sent. A revision the split gives traffic that the app does not
route to yet is first activated (``POST .../revisions/{name}/activate``): :func:`deactivate`
may have deactivated it when an earlier release ended (``POST .../revisions/{name}/deactivate``,
the revisions an ended release left at 0%: in ``Multiple`` revision mode a revision keeps its
``minReplicas`` running until it is deactivated).

The token is ``AZURE_MANAGEMENT_TOKEN`` or the job's managed identity;
``SVAI_AZURE_MANAGEMENT_ENDPOINT`` points the calls elsewhere (the tests' loopback fake).
:mod:`svai.controller.traffic` says what each cloud's module offers.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

from svai.controller import revisions
from svai.controller.revisions import Moved, Retired
from svai.errors import DeployError, ToolMissingError
from svai.signals import azure as signals
from svai.signals import rest

__all__ = ["ARM_API_VERSION", "UP_ROUTES_SERVICES", "deactivate", "route"]

ARM_API_VERSION = "2024-03-01"
"""The Microsoft.App API version the container app PATCH names (GA, ``ingress.traffic``)."""

UP_ROUTES_SERVICES = False
"""``up`` leaves a container app's traffic alone during a release: ``apply`` routes it."""

_CLOUD = "azure"
_TOKEN_VAR = "AZURE_MANAGEMENT_TOKEN"
_ARM_RESOURCE = "https://management.azure.com/"


def _arm(moved: Moved) -> tuple[str, str]:
    """The ARM token and the app's URL (``api-version`` included) of a container app route."""
    # A person's variable, else the gate job's own identity (its managed identity).
    found = signals.access_token(os.environ, _TOKEN_VAR, _ARM_RESOURCE)
    how = "az account get-access-token --resource https://management.azure.com"
    token = revisions.token(found, _TOKEN_VAR, how, moved)
    return (
        token,
        f"{signals.management_endpoint()}{moved.resource}?api-version={ARM_API_VERSION}",
    )


def _revision_action(resource: str, revision: str, action: str) -> str:
    """``POST`` URL of a revision's documented action (``activate``, ``deactivate``)."""
    return f"{signals.management_endpoint()}{resource}/revisions/{revision}/{action}?api-version={ARM_API_VERSION}"


def _routed(app: dict[str, Any]) -> list[tuple[Any, Any]]:
    """The app's ``(revisionName, weight)`` as ARM reports them."""
    ingress = (app.get("properties") or {}).get("configuration", {}).get("ingress") or {}
    return [(t.get("revisionName"), t.get("weight")) for t in ingress.get("traffic") or []]


def route(moved: Moved, sleep: Callable[[float], None]) -> Moved:
    """Route the app to ``moved.split``; ``moved`` with :attr:`~Moved.idle` set.

    The idle revisions are those the app routed before (at any weight) that the split gives
    nothing: :func:`deactivate` retires them once the release ended.

    Raises:
        svai.errors.ToolMissingError: no token.
        svai.errors.DeployError: ARM refused or failed the change.
    """
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
    for _ in range(revisions.POLLS):
        state = _provisioning(app)
        if state in ("Succeeded", "Failed", "Canceled"):
            break
        sleep(revisions.POLL_S)
        app = rest.call(url, token, what)
    else:
        raise DeployError(
            f"{what}: provisioning did not end in {revisions.POLLS * revisions.POLL_S:g} s"
        )
    if state != "Succeeded":
        raise DeployError(f"{what} failed: the container app's provisioning ended {state}")
    found = _routed(app)
    if found != [(r, p) for r, p in moved.split]:
        raise DeployError(f"{what}: the container app reports traffic {found}")
    weights = dict(moved.split)
    idle = tuple(dict.fromkeys(str(r) for r, _ in before if r and not weights.get(r)))
    return dataclasses.replace(moved, idle=idle)


def _provisioning(app: dict[str, Any]) -> str:
    return str((app.get("properties") or {}).get("provisioningState") or "InProgress")


def deactivate(resource: str, idle: Sequence[str]) -> list[Retired]:
    """Deactivate the ``idle`` revisions of the app ``resource``; each one's outcome, never raised.

    The app is read first and a revision it still routes to is left alone; after the calls it
    is read again, and its traffic must be as it was (:func:`svai.controller.revisions.retire`).
    """
    moved = Moved(_CLOUD, resource, ())
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
