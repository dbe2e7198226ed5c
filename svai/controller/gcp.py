"""GCP's gate job routes: a Cloud Run service's traffic, by revision (Cloud Run Admin API v2).

``PATCH https://run.googleapis.com/v2/{service}?updateMask=traffic`` with ``traffic`` of
``{type: TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION, revision, percent}``; the answer is a
long-running operation, polled until done. The token is ``GOOGLE_OAUTH_ACCESS_TOKEN`` or the
job's own identity; ``SVAI_GCP_RUN_ENDPOINT`` points the calls elsewhere (the tests' loopback
fake). :mod:`svai.controller.traffic` says what each cloud's module offers.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from svai.controller import revisions
from svai.controller.revisions import Moved
from svai.errors import DeployError
from svai.signals import gcp as signals
from svai.signals import rest

__all__ = ["RUN_ENDPOINT_VAR", "UP_ROUTES_SERVICES", "route"]

RUN_ENDPOINT_VAR = "SVAI_GCP_RUN_ENDPOINT"
_RUN = "https://run.googleapis.com"
_TOKEN_VAR = "GOOGLE_OAUTH_ACCESS_TOKEN"

UP_ROUTES_SERVICES = False
"""``up`` leaves a Cloud Run service's traffic alone during a release: ``apply`` routes it."""


def route(moved: Moved, sleep: Callable[[float], None]) -> Moved:
    """Set the Cloud Run service's traffic to ``moved.split`` and wait for the operation.

    Raises:
        svai.errors.ToolMissingError: no token.
        svai.errors.DeployError: Cloud Run refused or failed the change.
    """
    # A person's variable, else the gate job's own identity (the metadata server).
    how = "gcloud auth print-access-token"
    token = revisions.token(signals.access_token(os.environ), _TOKEN_VAR, how, moved)
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
    for _ in range(revisions.POLLS):
        if operation.get("done"):
            break
        sleep(revisions.POLL_S)
        operation = rest.call(f"{base}/v2/{operation.get('name', '')}", token, what)
    else:
        raise DeployError(
            f"{what}: the operation did not finish in {revisions.POLLS * revisions.POLL_S:g} s"
        )
    error = operation.get("error")
    if error:
        raise DeployError(f"{what} failed: {error.get('message', error)}")
    return moved
