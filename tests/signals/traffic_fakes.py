"""Loopback fakes of the two APIs the gate job moves traffic with on GCP and Azure.

* Cloud Run Admin API v2: ``services.patch`` (``PATCH /v2/{service.name}?updateMask=...``)
  answering a long-running ``Operation`` that is done on its first ``GET /v2/{name}``, and
  ``services.get``. Only the fields the mask names change; a traffic target must name an
  existing revision and the percents must sum to 100 (``INVALID_ARGUMENT`` otherwise).
* Azure Resource Manager, ``Microsoft.App/containerApps``: ``PATCH`` is a JSON merge patch
  (objects merge, arrays replace) answered ``202 Accepted`` with no body while the app
  provisions; ``GET`` reports ``provisioningState`` ``InProgress`` once, then ``Succeeded``.
  ``api-version`` is required; a traffic entry must name an existing revision and the weights
  sum to 100. ``POST .../containerApps/{app}/revisions/{name}/deactivate`` (and ``/activate``)
  answers ``200`` with no body and records the call; this fake refuses to deactivate a revision
  that holds traffic, and to route traffic to an inactive one (``400``), the stricter reading,
  so a client that relies on either is caught.

Both check the bearer token and can be told to refuse writes as the clouds do when the caller
lacks the permission (``403 PERMISSION_DENIED`` / ``403 AuthorizationFailed``).
"""

from __future__ import annotations

import copy
import json
import re
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

from signal_fakes import TOKEN, loopback

Answer = tuple[int, dict[str, Any] | None]


class Fake(Protocol):
    def request(self, method: str, path: str, body: dict[str, Any] | None) -> Answer: ...


def _error(code: int, status: str, message: str) -> Answer:
    return code, {"error": {"code": code, "status": status, "message": message}}


@dataclass
class CloudRunAdmin:
    """Cloud Run services: full name -> the service resource (``traffic``, revisions)."""

    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    revisions: dict[str, set[str]] = field(default_factory=dict)
    refuse: bool = False
    patches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _operations: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, name: str, revisions: list[str], traffic: list[tuple[str, int]]) -> None:
        self.revisions[name] = set(revisions)
        self.services[name] = {
            "name": name,
            "template": {"revision": revisions[-1], "containers": [{"image": "img"}]},
            "traffic": [
                {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": r, "percent": p}
                for r, p in traffic
            ],
        }

    def split(self, name: str) -> list[tuple[str, int]]:
        return [(t["revision"], t["percent"]) for t in self.services[name]["traffic"]]

    def request(self, method: str, path: str, body: dict[str, Any] | None) -> Answer:
        url = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(url.query))
        name = url.path.removeprefix("/v2/")
        if method == "GET" and name in self._operations:
            operation = self._operations[name]
            operation["done"] = True
            return 200, operation
        if name not in self.services:
            return _error(404, "NOT_FOUND", f"Resource '{name}' was not found")
        if method == "GET":
            return 200, self.services[name]
        assert method == "PATCH" and body is not None
        if self.refuse:
            return _error(
                403,
                "PERMISSION_DENIED",
                f"Permission 'run.services.update' denied on resource '{name}' (or it may not "
                "exist).",
            )
        mask = [f for f in query.get("updateMask", "").split(",") if f]
        if not mask:  # the body replaces the whole service: this one has no template
            return _error(400, "INVALID_ARGUMENT", "template: required field not set")
        updated = copy.deepcopy(self.services[name])
        for path_ in mask:
            if path_ not in body:
                return _error(400, "INVALID_ARGUMENT", f"update mask names {path_}, not in body")
            updated[path_] = body[path_]
        for target in updated["traffic"]:
            if target.get("revision") not in self.revisions[name]:
                return _error(
                    400,
                    "INVALID_ARGUMENT",
                    f"Revision named '{target.get('revision')}' with traffic target not found",
                )
        if sum(int(t.get("percent", 0)) for t in updated["traffic"]) != 100:
            return _error(400, "INVALID_ARGUMENT", "traffic percents must sum to 100")
        self.patches.append((name, body))
        self.services[name] = updated
        project, location = name.split("/")[1], name.split("/")[3]
        op = f"projects/{project}/locations/{location}/operations/op-{len(self.patches)}"
        self._operations[op] = {"name": op, "done": False, "response": updated}
        return 200, {"name": op, "done": False}


@dataclass
class ContainerApps:
    """Container apps: ARM id -> the app resource, and each app's revisions."""

    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    revisions: dict[str, set[str]] = field(default_factory=dict)
    refuse: bool = False
    patches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    refuse_deactivate: bool = False
    """Answer a deactivate ``403 AuthorizationFailed`` (a role without the action)."""
    actions: list[tuple[str, str, str]] = field(default_factory=list)
    """``(app id, revision, activate|deactivate)`` of every revision action done, in order."""
    inactive: dict[str, set[str]] = field(default_factory=dict)
    _pending: dict[str, int] = field(default_factory=dict)

    def add(self, arm_id: str, revisions: list[str], traffic: list[tuple[str, int]]) -> None:
        self.revisions[arm_id] = set(revisions)
        self.inactive[arm_id] = set()
        self.apps[arm_id] = {
            "id": arm_id,
            "name": arm_id.rsplit("/", 1)[-1],
            "properties": {
                "provisioningState": "Succeeded",
                "configuration": {
                    "activeRevisionsMode": "Multiple",
                    "ingress": {
                        "external": True,
                        "targetPort": 8080,
                        "traffic": [{"revisionName": r, "weight": w} for r, w in traffic],
                    },
                },
            },
        }

    def split(self, arm_id: str) -> list[tuple[str, int]]:
        ingress = self.apps[arm_id]["properties"]["configuration"]["ingress"]
        return [(t["revisionName"], t["weight"]) for t in ingress["traffic"]]

    def _revision_action(self, arm_id: str, revision: str, action: str) -> Answer:
        if arm_id not in self.apps or revision not in self.revisions[arm_id]:
            return 404, {"error": {"code": "ResourceNotFound", "message": f"{arm_id}/{revision}"}}
        if action == "deactivate" and self.refuse_deactivate:
            return 403, {
                "error": {
                    "code": "AuthorizationFailed",
                    "message": "The client does not have authorization to perform action "
                    "'Microsoft.App/containerApps/revisions/deactivate/action' over scope "
                    f"'{arm_id}/revisions/{revision}'",
                }
            }
        if action == "deactivate" and dict(self.split(arm_id)).get(revision):
            return 400, {
                "error": {
                    "code": "ContainerAppRevisionHasTraffic",
                    "message": f"revision {revision} still receives traffic",
                }
            }
        self.actions.append((arm_id, revision, action))
        if action == "deactivate":
            self.inactive[arm_id].add(revision)
        else:
            self.inactive[arm_id].discard(revision)
        return 200, None

    def request(self, method: str, path: str, body: dict[str, Any] | None) -> Answer:
        url = urllib.parse.urlsplit(path)
        if "api-version" not in dict(urllib.parse.parse_qsl(url.query)):
            return 400, {"error": {"code": "MissingApiVersionParameter", "message": path}}
        action = re.fullmatch(r"(.+)/revisions/([^/]+)/(activate|deactivate)", url.path)
        if method == "POST" and action:
            return self._revision_action(*action.groups())
        app = self.apps.get(url.path)
        if app is None or not re.fullmatch(
            r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.App/containerApps/"
            r"[^/]+",
            url.path,
        ):
            return 404, {"error": {"code": "ResourceNotFound", "message": url.path}}
        if method == "GET":
            if self._pending.get(url.path):
                self._pending[url.path] -= 1
                provisioning = "InProgress"
            else:
                provisioning = "Succeeded"
            app["properties"]["provisioningState"] = provisioning
            return 200, app
        assert method == "PATCH" and body is not None
        if self.refuse:
            return 403, {
                "error": {
                    "code": "AuthorizationFailed",
                    "message": "The client does not have authorization to perform action "
                    f"'Microsoft.App/containerApps/write' over scope '{url.path}'",
                }
            }
        merged = _merge_patch(app, body)
        ingress = merged["properties"]["configuration"]["ingress"]
        for entry in ingress["traffic"]:
            if entry.get("revisionName") not in self.revisions[url.path]:
                return 400, {
                    "error": {
                        "code": "ContainerAppRevisionNotFound",
                        "message": f"revision {entry.get('revisionName')} not found",
                    }
                }
            if entry.get("weight") and entry["revisionName"] in self.inactive[url.path]:
                return 400, {
                    "error": {
                        "code": "ContainerAppRevisionNotActive",
                        "message": f"revision {entry['revisionName']} is not active",
                    }
                }
        if sum(int(t.get("weight", 0)) for t in ingress["traffic"]) != 100:
            return 400, {
                "error": {"code": "ContainerAppInvalidTrafficWeight", "message": "sum != 100"}
            }
        self.patches.append((url.path, body))
        self.apps[url.path] = merged
        self._pending[url.path] = 1
        return 202, None


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge member by member, ``null`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


@contextmanager
def serving(fake: Fake) -> Iterator[str]:
    """Serve ``fake`` on 127.0.0.1; yield its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _handle(self, method: str) -> None:
            code: int
            payload: dict[str, Any] | None
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                code, payload = 401, {"error": {"code": 401, "message": "bad token"}}
            else:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                code, payload = fake.request(method, self.path, body)
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_POST(self) -> None:
            self._handle("POST")

    with loopback(Handler) as url:
        yield url
