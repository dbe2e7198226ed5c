"""The gate job moves Cloud Run and Container Apps traffic itself, with no command run.

The release state and policy live in gcp-storage-emulator / Azurite; the candidate's signals
come from the Cloud Monitoring and Log Analytics fakes (``clouds``); the traffic goes through
loopback fakes of the Cloud Run Admin API v2 and of Azure Resource Manager
(:mod:`traffic_fakes`), which start where ``svai apply`` leaves a 10% canary. The policy's routes
are read from stack outputs shaped as the backends export them, with the backends' own revision
names. After one ``svai gate --once`` the traffic is where the decision says, or, when the
cloud refuses, nothing is written and the next run decides again.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from signal_fakes import SERVICE, TOKEN
from test_gate_job import (  # noqa: F401 - blob_url, gcs_endpoint, gcs_url: fixtures
    ROLLOUT,
    A,
    B,
    blob_url,
    bucket_state,
    gate_once,
    gcs_endpoint,
    gcs_url,
    released,
)
from test_gcp_azure_cli import Clouds, clouds  # noqa: F401 - the fixture, used by name
from test_promote_live import svai
from traffic_fakes import CloudRunAdmin, ContainerApps, serving

from svai.backends import gate as backend_gate
from svai.backends.azure.revisions import revision_name as app_revision
from svai.backends.gcp.gate import revision_name as run_revision
from svai.compiler import rollout
from svai.compiler.gate import ServiceRoute
from svai.compiler.release_state import ReleaseState
from svai.controller import gcp as gcp_routes
from svai.controller import job, revisions, sync
from svai.controller.store import open_bucket
from svai.errors import UsageError
from svai.signals.azure import MANAGEMENT_ENDPOINT_VAR

RUN_SERVICE = "projects/demo-project/locations/us-central1/services/scorer-api"
APP = (
    "/subscriptions/sub-1/resourceGroups/rg-svai-scorer/providers/Microsoft.App/containerApps/"
    "ca-scorer-api"
)


@dataclass
class Routed:
    """One cloud's bucket, its traffic fake and the revision of each version."""

    url: str
    fake: CloudRunAdmin | ContainerApps
    resource: str
    revision: dict[str, str]

    def split(self) -> list[tuple[str, int]]:
        return self.fake.split(self.resource)


def outputs(cloud: str, region: str, resource: str, revision: dict[str, str]) -> dict[str, object]:
    """The stack outputs of the apply that started the canary, as the backend exports them."""
    entry = backend_gate.route(cloud, resource, revision)
    return {f"{cloud}_{region}{backend_gate.ROUTES_SUFFIX}": [entry]}


@pytest.fixture(params=["gcp", "azure"])
def routed(
    request: pytest.FixtureRequest,
    clouds: Clouds,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Routed]:
    """A's revision at 90%, B's at 10%, in the bucket's state and in the cloud's traffic."""
    monkeypatch.setattr(revisions, "POLL_S", 0.0)
    cloud: str = request.param
    fake: CloudRunAdmin | ContainerApps
    if cloud == "gcp":
        url, region, resource = request.getfixturevalue("gcs_url"), "us-central1", RUN_SERVICE
        revision = {v: run_revision("scorer-api", v) for v in (A, B)}
        fake = CloudRunAdmin()
    else:
        url, region, resource = request.getfixturevalue("blob_url"), "eastus", APP
        revision = {v: app_revision("ca-scorer-api", v) for v in (A, B)}
        fake = ContainerApps()
    fake.add(resource, [revision[A], revision[B]], [(revision[A], 90), (revision[B], 10)])
    state, policy = released((cloud, region))
    routes = sync.routes_in(outputs(cloud, region, resource, revision))
    bucket = open_bucket(url)
    job.write_state(bucket, state)
    job.write_policy(bucket, dataclasses.replace(policy, routes=routes))
    with ExitStack() as stack:
        endpoint = stack.enter_context(serving(fake))
        monkeypatch.setenv(gcp_routes.RUN_ENDPOINT_VAR, endpoint)
        monkeypatch.setenv(MANAGEMENT_ENDPOINT_VAR, endpoint)
        monkeypatch.setenv("AZURE_MANAGEMENT_TOKEN", TOKEN)
        yield Routed(url, fake, resource, revision)


FAILING = [(200 if n % 4 else 500, 30.0, False) for n in range(120)]
HEALTHY = [(200, 30.0, False)] * 120


def test_a_failing_canary_is_routed_back_with_no_command(
    routed: Routed,
    clouds: Clouds,  # noqa: F811 - the fixture
) -> None:
    clouds.add(B, FAILING)
    run = gate_once(routed.url)
    assert run["verdict"] == "rollback" and run["written"], run
    a, b = routed.revision[A], routed.revision[B]
    assert routed.split() == [(a, 100), (b, 0)]  # every request back on A's revision
    assert run["moved"] == [f"{routed.resource} -> {a} 100%, {b} 0%"]
    after = bucket_state(routed.url)
    assert (after.status, after.split) == ("rolled-back", ((A, 100), (B, 0)))
    if isinstance(routed.fake, ContainerApps):  # a merge patch: the rest of ingress stays
        ingress = routed.fake.apps[APP]["properties"]["configuration"]["ingress"]
        assert (ingress["external"], ingress["targetPort"]) == (True, 8080)
    else:  # only the traffic was asked to change
        ((_, body),) = routed.fake.patches
        assert list(body) == ["traffic"]
    # The next run finds nothing in progress and moves nothing.
    again = gate_once(routed.url)
    assert (again["verdict"], again["moved"]) == ("idle", [])
    assert len(routed.fake.patches) == 1


def test_a_healthy_canary_is_advanced_to_the_next_step(
    routed: Routed,
    clouds: Clouds,  # noqa: F811 - the fixture
) -> None:
    clouds.add(B, HEALTHY)
    run = gate_once(routed.url)
    assert run["verdict"] == "advance", run
    assert routed.split() == [(routed.revision[A], 50), (routed.revision[B], 50)]
    assert bucket_state(routed.url).split == ((A, 50), (B, 50))


def test_when_the_cloud_refuses_nothing_is_written_and_the_next_run_decides_again(
    routed: Routed,
    clouds: Clouds,  # noqa: F811 - the fixture
) -> None:
    clouds.add(B, FAILING)
    before = open_bucket(routed.url).get(job.state_name(SERVICE, "dev"))
    routed.fake.refuse = True
    code, out = svai("gate", "--once", "--state-url", routed.url, "--window", "10m")
    assert code == 1 and f"routing {routed.resource} ->" in out and "HTTP 403" in out, out
    assert "Traceback" not in out
    assert open_bucket(routed.url).get(job.state_name(SERVICE, "dev")) == before
    assert routed.split() == [(routed.revision[A], 90), (routed.revision[B], 10)]
    routed.fake.refuse = False
    assert gate_once(routed.url)["verdict"] == "rollback"
    assert routed.split() == [(routed.revision[A], 100), (routed.revision[B], 0)]


def test_a_version_without_a_revision_is_refused_before_anything_moves() -> None:
    state, _ = released(("gcp", "us-central1"))
    only_b = ServiceRoute("gcp", RUN_SERVICE, ((B, "scorer-api-b"),))
    with pytest.raises(UsageError, match=f"no revision of version {A}"):
        revisions.move(state, [ServiceRoute("azure", APP, ((A, "a"), (B, "b"))), only_b])


def test_push_writes_each_cloud_s_routes_into_its_policy(
    gcs_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    state, policy = released(("gcp", "us-central1"))
    policy = dataclasses.replace(policy, targets=(("gcp", "us-central1"), ("azure", "eastus")))
    revision = {A: "scorer-api-a", B: "scorer-api-b"}
    saved = {
        "gcp_release_state_url": gcs_url,
        **outputs("gcp", "us-central1", RUN_SERVICE, revision),
        **outputs("azure", "eastus", APP, revision),
    }
    folder = tmp_path / ".svai" / "outputs"
    folder.mkdir(parents=True)
    (folder / f"svai-{SERVICE}-dev.json").write_text(json.dumps(saved))
    sync.push(tmp_path, state, policy)
    written = job.read_policy(open_bucket(gcs_url), SERVICE, "dev")
    assert written is not None and written.targets == (("gcp", "us-central1"),)
    assert written.routes == (ServiceRoute("gcp", RUN_SERVICE, tuple(sorted(revision.items()))),)


class Identities(BaseHTTPRequestHandler):
    """The job's own identity, on loopback: GCP's metadata server and Azure's identity endpoint.

    As documented: the metadata server answers ``GET /computeMetadata/v1/...`` only with
    ``Metadata-Flavor: Google`` (the service account's ``access_token`` and the project id); the
    Container Apps identity endpoint answers ``GET ?resource=R&api-version=2019-08-01&client_id=C``
    only with the ``X-IDENTITY-HEADER`` secret (``access_token``, ``expires_on`` in epoch seconds).
    """

    asked: ClassVar[list[str]] = []
    project: ClassVar[str] = ""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        answer: dict[str, Any] | str | None = None
        if url.path.startswith("/computeMetadata/v1/"):
            if self.headers.get("Metadata-Flavor") == "Google":
                key = url.path.removeprefix("/computeMetadata/v1/")
                if key == "instance/service-accounts/default/token":
                    answer = {"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"}
                elif key == "project/project-id":
                    answer = Identities.project
                Identities.asked.append(f"gcp:{key}")
        elif (url.path, self.headers.get("X-IDENTITY-HEADER"), query.get("client_id")) == (
            "/msi/token",
            "secret",
            "gate-client",
        ):
            answer = {"access_token": TOKEN, "expires_on": str(int(time.time()) + 3600)}
            Identities.asked.append(f"azure:{query['resource']}")
        data = (answer if isinstance(answer, str) else json.dumps(answer)).encode()
        self.send_response(404 if answer is None else 200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_in_the_cloud_the_job_routes_with_its_own_identity(
    routed: Routed,
    clouds: Clouds,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No person's token: the gate job reads the metrics and moves traffic as its identity."""
    for name in (
        "GOOGLE_OAUTH_ACCESS_TOKEN",
        "GOOGLE_CLOUD_PROJECT",
        "AZURE_MANAGEMENT_TOKEN",
        "AZURE_LOG_ANALYTICS_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    Identities.asked, Identities.project = [], clouds.monitoring.project
    server = ThreadingHTTPServer(("127.0.0.1", 0), Identities)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    try:
        if isinstance(routed.fake, CloudRunAdmin):  # a Cloud Run job, as Cloud Run runs it
            monkeypatch.setenv("CLOUD_RUN_JOB", "scorer-gate")
            monkeypatch.setenv("GCE_METADATA_HOST", host)
        else:  # a Container Apps job with the gate's user-assigned identity
            monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://{host}/msi/token")
            monkeypatch.setenv("IDENTITY_HEADER", "secret")
            monkeypatch.setenv("AZURE_CLIENT_ID", "gate-client")
        clouds.add(B, FAILING)
        run = gate_once(routed.url)
    finally:
        server.shutdown()
        server.server_close()
    assert run["verdict"] == "rollback" and run["written"], run
    a, b = routed.revision[A], routed.revision[B]
    assert routed.split() == [(a, 100), (b, 0)]
    if isinstance(routed.fake, CloudRunAdmin):
        assert set(Identities.asked) == {
            "gcp:instance/service-accounts/default/token",
            "gcp:project/project-id",
        }
    else:
        assert set(Identities.asked) == {
            "azure:https://api.loganalytics.io",
            "azure:https://management.azure.com/",
        }


# ---- Container Apps: the revision a release's end leaves at 0% stops running ------------------

on_azure = pytest.mark.parametrize("routed", ["azure"], indirect=True)


def at_half(routed: Routed) -> None:
    """The canary one step on: 50/50 in the bucket's state and in the app's traffic."""
    state, _ = released(("azure", "eastus"))
    job.write_state(open_bucket(routed.url), rollout.advance(state).after)
    a, b = routed.revision[A], routed.revision[B]
    assert isinstance(routed.fake, ContainerApps)
    routed.fake.add(APP, [a, b], [(a, 50), (b, 50)])


@pytest.mark.parametrize(
    ("routed", "half", "signals", "status", "split", "stopped"),
    [
        # A completed canary stops the old revision; the new one takes everything.
        pytest.param("azure", True, HEALTHY, "complete", [(B, 100)], [A], id="completed"),
        # A rolled-back canary stops the candidate.
        pytest.param("azure", False, FAILING, "rolled-back", [(A, 100), (B, 0)], [B], id="rolled"),
        # A step in the middle (90/10 -> 50/50) stops nothing.
        pytest.param("azure", False, HEALTHY, "in-progress", [(A, 50), (B, 50)], [], id="middle"),
    ],
    indirect=["routed"],
)
def test_the_end_of_a_release_deactivates_the_revision_it_left_at_zero(
    routed: Routed,
    clouds: Clouds,  # noqa: F811 - the fixture
    half: bool,
    signals: list[tuple[int, float, bool]],
    status: str,
    split: list[tuple[str, int]],
    stopped: list[str],
) -> None:
    assert isinstance(routed.fake, ContainerApps)
    if half:
        at_half(routed)
    clouds.add(B, signals)
    run = gate_once(routed.url)
    assert bucket_state(routed.url).status == status, run
    assert routed.split() == [(routed.revision[v], p) for v, p in split]
    gone = [routed.revision[v] for v in stopped]
    assert routed.fake.actions == [(APP, r, "deactivate") for r in gone]
    assert routed.fake.inactive[APP] == set(gone)
    assert run["retired"] == [f"{APP}: {r} deactivated (0% after the release ended)" for r in gone]
    # The next run finds nothing in progress (or judges the next step): nothing more stops.
    if status != "in-progress":
        assert gate_once(routed.url)["retired"] == [] and len(routed.fake.actions) == 1


@on_azure
def test_a_refused_deactivation_is_reported_and_leaves_traffic_and_state_as_moved(
    routed: Routed,
    clouds: Clouds,  # noqa: F811 - the fixture
) -> None:
    assert isinstance(routed.fake, ContainerApps)
    routed.fake.refuse_deactivate = True
    clouds.add(B, FAILING)
    code, out = svai("gate", "--once", "--state-url", routed.url, "--window", "10m")
    a, b = routed.revision[A], routed.revision[B]
    assert code == 0 and "Traceback" not in out, out
    assert f"revision: {APP}: {b} left active at 0%" in out and "HTTP 403" in out, out
    assert "revisions/deactivate/action" in out, out
    assert routed.split() == [(a, 100), (b, 0)]
    after = bucket_state(routed.url)
    assert (after.status, after.split) == ("rolled-back", ((A, 100), (B, 0)))
    assert routed.fake.actions == [] and routed.fake.inactive[APP] == set()


def policy_routes(routed: Routed) -> tuple[ServiceRoute, ...]:
    policy = job.read_policy(open_bucket(routed.url), SERVICE, "dev")
    assert policy is not None
    return policy.routes


@on_azure
def test_a_rollback_after_the_end_reactivates_the_old_revision_first(routed: Routed) -> None:
    """`svai rollback` after a completed release routes back to a revision retire() stopped."""
    assert isinstance(routed.fake, ContainerApps)
    routes = policy_routes(routed)
    state, _ = released(("azure", "eastus"))
    done = rollout.advance(state, to_end=True)
    a, b = routed.revision[A], routed.revision[B]
    moved = revisions.move(done.after, routes)
    assert routed.split() == [(b, 100)]
    assert revisions.retire(done.after, moved) == (revisions.Retired(APP, a),)
    back = rollout.revert(done.after)
    moved = revisions.move(back.after, routes)
    assert routed.split() == [(a, 100), (b, 0)]
    assert revisions.retire(back.after, moved) == (revisions.Retired(APP, b),)
    assert routed.fake.actions == [
        (APP, a, "deactivate"),
        (APP, a, "activate"),
        (APP, b, "deactivate"),
    ]


@on_azure
def test_a_revision_that_holds_traffic_is_never_deactivated(routed: Routed) -> None:
    """The move says A was left idle, but the app routes to it again (someone else did)."""
    assert isinstance(routed.fake, ContainerApps)
    state, _ = released(("azure", "eastus"))
    done = rollout.advance(state, to_end=True).after
    a, b = routed.revision[A], routed.revision[B]
    moved = revisions.Moved("azure", APP, ((b, 100),), idle=(a,))
    (kept,) = revisions.retire(done, [moved])
    assert kept == revisions.Retired(APP, a, "it holds traffic again")
    assert routed.fake.actions == []


@on_azure
def test_blue_green_keeps_its_standby_active_until_the_release_ends(routed: Routed) -> None:
    """The switch leaves the old revision at 0% on purpose: the standby a rollback returns to."""
    assert isinstance(routed.fake, ContainerApps)
    routes = policy_routes(routed)
    blue_green = dataclasses.replace(ROLLOUT, strategy="blue-green")
    serving = rollout.start(ReleaseState(SERVICE, "dev"), A, blue_green).after
    switched = rollout.start(serving, B, blue_green).after
    assert switched.split == ((A, 0), (B, 100))
    a, b = routed.revision[A], routed.revision[B]
    routed.fake.add(APP, [a, b], [(a, 100)])
    assert revisions.retire(switched, revisions.move(switched, routes)) == ()
    done = rollout.advance(switched).after
    moved = revisions.move(done, routes)
    assert revisions.retire(done, moved) == (revisions.Retired(APP, a),)
    assert routed.fake.actions == [(APP, b, "activate"), (APP, a, "deactivate")]
