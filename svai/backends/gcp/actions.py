"""The steps Pulumi cannot express, run after ``pulumi up``: upload a model, deploy it on Vertex.

pulumi-gcp has no resource for a custom model on a Vertex AI endpoint (``deployedModels`` is
output-only), so lowering records the exact REST calls as pending actions. After the
stack is up, :func:`run_pending` makes them in order with an OAuth access token: it fills
``{placeholders}`` from earlier answers (the uploaded model's name; the deployed-model ids of the
versions already on the endpoint, for the traffic split), waits for each long-running operation,
and stops with a clear error on the first failure. Manual steps are returned, not run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from svai.backends.gcp.blueprint import PendingAction
from svai.errors import DeployError, ToolMissingError

__all__ = ["access_token", "run_pending"]

_PLACEHOLDER = re.compile(r"\{([a-z_.]+(?::[A-Za-z0-9._-]+)?)\}")
Opener = Callable[..., Any]


def access_token(environ: Mapping[str, str] = os.environ) -> str:
    """Return an OAuth access token: ``GOOGLE_OAUTH_ACCESS_TOKEN``, else ``gcloud``'s.

    Raises:
        ToolMissingError: neither is available (the message says what to install or set).
    """
    token = environ.get("GOOGLE_OAUTH_ACCESS_TOKEN")
    if token:
        return token
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise ToolMissingError(
            "deploying a model on a Vertex AI endpoint needs Google credentials: set "
            "GOOGLE_OAUTH_ACCESS_TOKEN, or install the gcloud CLI "
            "(https://cloud.google.com/sdk/docs/install) and run `gcloud auth login`"
        )
    done = subprocess.run(
        [gcloud, "auth", "print-access-token"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise ToolMissingError(f"`gcloud auth print-access-token` failed: {done.stderr.strip()}")
    return done.stdout.strip()


def run_pending(
    actions: Sequence[PendingAction],
    *,
    token: str,
    api_root: str | None = None,
    opener: Opener = urllib.request.urlopen,
    poll_s: float = 5.0,
    timeout_s: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Make the pending API calls in order; return what they produced.

    Args:
        actions: From ``GcpBackend.pending_actions(plan)``.
        token: OAuth access token (:func:`access_token`).
        api_root: Replaces scheme and host of every URL (a regional or private endpoint, tests).
        opener: ``urllib.request.urlopen`` or a compatible callable.
        poll_s: Pause between polls of a long-running operation.
        timeout_s: Longest wait for one operation.
        sleep: Pause function (tests pass a no-op).

    Returns:
        ``{"<action id>.model": ..., "<action id>.deployed_model_id": ..., "manual": [...]}``.

    Raises:
        DeployError: a call or an operation failed, or a placeholder cannot be filled (for
            example ``{project}`` when the target names no ``project``).
    """
    values: dict[str, Any] = {"manual": []}
    client = _Client(token, api_root, opener)
    for action in actions:
        if action.method == "manual":
            values["manual"].append({"id": action.id, "reason": action.reason, **action.body})
            continue
        url = _fill(action.url, values, action.id)
        body = action.body
        if "{deployed_model_id:" in json.dumps(body):
            endpoint = client.call("GET", url.rsplit(":", 1)[0], None)
            values["deployed"] = [
                (str(m.get("displayName", "")), str(m.get("id", "")))
                for m in endpoint.get("deployedModels", [])
            ]
        filled = json.loads(_fill(json.dumps(body), values, action.id))
        reply = client.call(action.method, url, filled)
        result = client.wait(reply, url, poll_s=poll_s, timeout_s=timeout_s, sleep=sleep)
        if "model" in result:
            values[f"{action.id}.model"] = result["model"]
        deployed = result.get("deployedModel", {})
        if isinstance(deployed, dict) and "id" in deployed:
            values[f"{action.id}.deployed_model_id"] = deployed["id"]
    return values


def _fill(text: str, values: Mapping[str, Any], action: str) -> str:
    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key.startswith("deployed_model_id:"):
            # A deployed model's display name ends with its version id cut to 12 characters.
            suffix = "-" + key.split(":", 1)[1][:12]
            for name, deployed_id in values.get("deployed", []):
                if name.endswith(suffix):
                    return str(deployed_id)
            raise DeployError(
                f"{action}: version {key.split(':', 1)[1]} is not deployed on the endpoint, so "
                "the traffic split cannot name it"
            )
        if key not in values:
            raise DeployError(
                f"{action}: cannot fill `{{{match.group(1)}}}` — "
                + (
                    "name the GCP `project` of this target in svai.yaml"
                    if key in ("project", "sa.email")
                    else "an earlier step did not produce it"
                )
            )
        return str(values[key])

    return _PLACEHOLDER.sub(replace, text)


class _Client:
    def __init__(self, token: str, api_root: str | None, opener: Opener) -> None:
        self.token = token
        self.api_root = api_root.rstrip("/") if api_root else None
        self.opener = opener

    def call(self, method: str, url: str, body: Any) -> dict[str, Any]:
        if self.api_root is not None:
            parts = urlsplit(url)
            url = self.api_root + parts.path + (f"?{parts.query}" if parts.query else "")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", "application/json")
        try:
            with self.opener(request, timeout=60) as reply:
                answer = json.loads(reply.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise DeployError(f"{method} {url} failed with {exc.code}: {detail}") from None
        except urllib.error.URLError as exc:
            raise DeployError(f"{method} {url} failed: {exc.reason}") from None
        return answer if isinstance(answer, dict) else {}

    def wait(
        self,
        reply: dict[str, Any],
        url: str,
        *,
        poll_s: float,
        timeout_s: float,
        sleep: Callable[[float], None],
    ) -> dict[str, Any]:
        """Follow a long-running operation to its end; return its ``response``."""
        name = str(reply.get("name", ""))
        if "/operations/" not in name:
            return reply
        parts = urlsplit(url)
        version = parts.path.split("/")[1]  # "v1"
        status_url = f"{parts.scheme}://{parts.netloc}/{version}/{name}"
        deadline = time.monotonic() + timeout_s
        operation = reply
        while not operation.get("done"):
            if time.monotonic() > deadline:
                raise DeployError(f"{name} did not finish within {timeout_s:g} s")
            sleep(poll_s)
            operation = self.call("GET", status_url, None)
        if "error" in operation:
            raise DeployError(f"{name} failed: {json.dumps(operation['error'])[:500]}")
        response = operation.get("response", {})
        return response if isinstance(response, dict) else {}
