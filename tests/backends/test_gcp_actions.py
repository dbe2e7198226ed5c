"""Vertex model upload + deploy after `pulumi up`, against a local fake of the Vertex REST API.

The fake (127.0.0.1) answers like Vertex: upload and deployModel return long-running
operations that finish on the second poll; the endpoint lists the version already deployed.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from svai.backends.gcp import GcpBackend
from svai.backends.gcp.actions import access_token, run_pending
from svai.errors import DeployError, ToolMissingError
from tests.backends.plans import sync_plan

OLD = "mv-0a1b2c3d4e5f"


@pytest.fixture
def vertex() -> Iterator[dict[str, Any]]:
    state: dict[str, Any] = {"requests": [], "polls": {}}

    class Api(BaseHTTPRequestHandler):
        def _reply(self, body: dict[str, Any], status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            state["requests"].append(("GET", self.path, None, self.headers["Authorization"]))
            if "/operations/" in self.path:
                polls = state["polls"][self.path] = state["polls"].get(self.path, 0) + 1
                if polls < 2:
                    self._reply({"name": self.path[4:], "done": False})
                elif self.path.endswith("/1"):
                    self._reply({"done": True, "response": {"model": "projects/p/models/123"}})
                else:
                    self._reply({"done": True, "response": {"deployedModel": {"id": "777"}}})
            else:  # the endpoint
                self._reply(
                    {"deployedModels": [{"id": "555", "displayName": f"sentiment-{OLD[:12]}"}]}
                )

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["requests"].append(("POST", self.path, body, self.headers["Authorization"]))
            if state.get("fail_deploy") and self.path.endswith(":deployModel"):
                self._reply({"error": {"code": 400, "message": "bad machine type"}}, 400)
                return
            op = "1" if self.path.endswith("models:upload") else "2"
            self._reply({"name": f"projects/p/locations/us-central1/operations/{op}"})

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["root"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()


def test_upload_then_deploy_with_the_canary_split(vertex: dict[str, Any]) -> None:
    import dataclasses

    plan = sync_plan("gcp", offering="gcp.vertex.endpoint", kind="endpoint", canary=True)
    plan = dataclasses.replace(plan, account="acme-ml")
    pending = GcpBackend(billing_account="x").pending_actions(plan)
    result = run_pending(pending, token="tok", api_root=vertex["root"], sleep=lambda _s: None)
    assert result["vertex.upload_model.model"] == "projects/p/models/123"
    assert result["vertex.deploy_model.deployed_model_id"] == "777"
    posts = [r for r in vertex["requests"] if r[0] == "POST"]
    assert [p[1].rsplit("/", 1)[-1] for p in posts] == [
        "models:upload",
        posts[1][1].rsplit("/", 1)[-1],
    ]
    assert posts[1][1].endswith(":deployModel")
    deploy = posts[1][2]
    assert deploy["deployedModel"]["model"] == "projects/p/models/123"
    assert not re.search(r"\{[a-z_.]+(:[^}]*)?\}", json.dumps(deploy))  # every placeholder filled
    assert deploy["trafficSplit"] == {"555": 90, "0": 10}
    assert all(r[3] == "Bearer tok" for r in vertex["requests"])


def test_a_failed_call_stops_with_the_apis_message(vertex: dict[str, Any]) -> None:
    import dataclasses

    vertex["fail_deploy"] = True
    plan = dataclasses.replace(
        sync_plan("gcp", offering="gcp.vertex.endpoint", kind="endpoint"), account="acme-ml"
    )
    pending = GcpBackend(billing_account="x").pending_actions(plan)
    with pytest.raises(DeployError, match=r"failed with 400.*bad machine type"):
        run_pending(pending, token="tok", api_root=vertex["root"], sleep=lambda _s: None)


def test_without_a_project_the_placeholders_are_named(vertex: dict[str, Any]) -> None:
    pending = GcpBackend(billing_account="x").pending_actions(
        sync_plan("gcp", offering="gcp.vertex.endpoint", kind="endpoint")
    )
    with pytest.raises(DeployError, match="name the GCP `project`"):
        run_pending(pending, token="tok", api_root=vertex["root"], sleep=lambda _s: None)
    assert vertex["requests"] == []  # nothing was sent


def test_access_token_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_OAUTH_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolMissingError, match="install the gcloud CLI"):
        access_token()
    assert access_token({"GOOGLE_OAUTH_ACCESS_TOKEN": "t"}) == "t"


def test_after_up_has_nothing_to_call_for_cloud_run() -> None:
    assert GcpBackend(billing_account="x").after_up(sync_plan("gcp")) == {}
