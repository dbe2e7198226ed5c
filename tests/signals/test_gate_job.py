"""The scheduled gate job (``svai gate --once``) against real stores and the metric fakes.

The release state and policy live in the deployment's bucket: moto's S3, gcp-storage-emulator
and Azurite on 127.0.0.1; the candidate's live signals come from moto's CloudWatch and the
loopback Cloud Monitoring and Log Analytics fakes. A failing canary is rolled back and the
state written back with no person in the loop; a healthy one advances; too few requests hold.
Then ``svai promote`` reconciles the user's copy with what the job did.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from signal_fakes import (
    SERVICE,
    ingest_emf,
    moto_env,  # noqa: F401 - the fixture, used by name
    request_lines,
)
from test_gcp_azure_cli import Clouds, clouds  # noqa: F401 - the fixture, used by name
from test_promote_live import canary, svai

from svai.compiler import gate, rollout
from svai.compiler.release_state import ReleaseState, from_dict, write_state
from svai.controller import job
from svai.controller.store import open_bucket
from svai.spec.resolve import ResolvedRollout

sys.path.insert(0, str(Path(__file__).parents[1] / "sources"))
from servers import azurite_command, azurite_connection, start_azurite, start_gcs

A, B = "a" * 12, "b" * 12
ROLLOUT = ResolvedRollout("canary", (10, 50, 100), 600.0, 0.9, 0.02, None, None)


def released(target: tuple[str, str]) -> tuple[ReleaseState, gate.Policy]:
    """A serving, B's canary at 10%: the state ``svai apply`` leaves; and its policy."""
    state = rollout.start(ReleaseState(SERVICE, "dev"), A, ROLLOUT).after
    state = rollout.start(state, B, ROLLOUT).after
    assert state.split == ((A, 90), (B, 10))
    return state, gate.Policy(SERVICE, "dev", (target,), ROLLOUT, 100)


def seed(url: str, target: tuple[str, str]) -> None:
    bucket = open_bucket(url)
    state, policy = released(target)
    job.write_state(bucket, state)
    job.write_policy(bucket, policy)


def gate_once(url: str) -> dict[str, Any]:
    # As the deployed job runs it: only the bucket is named; it finds the release's policy.
    code, out = svai("gate", "--once", "--state-url", url, "--window", "10m", "--format", "json")
    assert code == 0, out
    (data,) = json.loads(out)["runs"]
    assert isinstance(data, dict)
    return data


def bucket_state(url: str) -> ReleaseState:
    raw = open_bucket(url).get(job.state_name(SERVICE, "dev"))
    assert raw is not None
    return from_dict(json.loads(raw))


# ---- AWS: S3 + CloudWatch (moto) ---------------------------------------------------------------


@pytest.fixture
def s3_url(moto_env: str) -> str:  # noqa: F811 - the fixture
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="svai-artifacts")
    return "s3://svai-artifacts/svai"


def test_aws_failing_canary_is_rolled_back_and_written_back(s3_url: str) -> None:
    seed(s3_url, ("aws", "us-east-1"))
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    ingest_emf(
        cloudwatch,
        request_lines(B, [(500 if n % 5 == 0 else 200, 40.0, False) for n in range(150)]),
    )
    run = gate_once(s3_url)
    assert run["verdict"] == "rollback" and run["written"], run
    assert [g["name"] for g in run["gates"] if not g["passed"]] == ["error_rate"]
    after = bucket_state(s3_url)
    assert (after.status, after.serving, after.split) == ("rolled-back", A, ((A, 100), (B, 0)))
    assert after.history[-1].note.startswith("gate job: gate failed: error_rate 0.2")
    # The next run finds nothing in progress and writes nothing.
    again = gate_once(s3_url)
    assert (again["verdict"], again["written"]) == ("idle", False)


def test_aws_healthy_canary_advances(s3_url: str) -> None:
    seed(s3_url, ("aws", "us-east-1"))
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    ingest_emf(cloudwatch, request_lines(B, [(200, 40.0, False)] * 150))
    run = gate_once(s3_url)
    assert run["verdict"] == "advance", run
    after = bucket_state(s3_url)
    assert (after.status, after.step_index, after.split) == ("in-progress", 1, ((A, 50), (B, 50)))
    assert after.history[-1].note == "gate job"


def test_too_few_requests_hold_and_write_nothing(s3_url: str) -> None:
    seed(s3_url, ("aws", "us-east-1"))
    before = open_bucket(s3_url).get(job.state_name(SERVICE, "dev"))
    ingest_emf(
        boto3.client("cloudwatch", region_name="us-east-1"),
        request_lines(B, [(500, 40.0, False)] * 20),
    )
    run = gate_once(s3_url)
    assert (run["verdict"], run["written"]) == ("hold", False)
    assert open_bucket(s3_url).get(job.state_name(SERVICE, "dev")) == before


def test_a_bucket_without_policy_is_a_usage_error(s3_url: str) -> None:
    code, out = svai("gate", "--once", "--state-url", s3_url)
    assert code == 2 and "no release policy here" in out, out
    code, out = svai("gate", "--once", "--state-url", s3_url, "--name", SERVICE, "--env", "dev")
    assert code == 2 and "policy.json does not exist" in out, out


# ---- GCP (Cloud Storage emulator + Cloud Monitoring fake), Azure (Azurite + Log Analytics) -----


@pytest.fixture(scope="module")
def gcs_endpoint() -> Iterator[str]:
    """One emulator for the module (its in-memory store is shared by every server it starts)."""
    pytest.importorskip("gcp_storage_emulator")
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    server, endpoint = start_gcs()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STORAGE_EMULATOR_HOST", endpoint)
        credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        storage.Client(project="p", credentials=credentials).create_bucket("svai-gcp")
    yield endpoint
    server.stop()


@pytest.fixture
def gcs_url(gcs_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_endpoint)
    return f"gs://svai-gcp/{tmp_path.name}"  # a prefix of its own per test


@pytest.fixture
def blob_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    if azurite_command() is None:
        pytest.skip("Azurite is not installed here (`npm install -g azurite`)")
    from azure.storage.blob import BlobServiceClient

    process, endpoint = start_azurite(tmp_path / "azurite")
    connection = azurite_connection(endpoint)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
    BlobServiceClient.from_connection_string(connection).create_container("svai")
    yield "https://devstoreaccount1.blob.core.windows.net/svai/releases-root"
    process.terminate()
    process.wait(timeout=30)


@pytest.mark.parametrize(
    ("store", "target"),
    [("gcs_url", ("gcp", "us-central1")), ("blob_url", ("azure", "eastus"))],
)
@pytest.mark.parametrize("healthy", [False, True])
def test_gcp_and_azure_canaries(
    store: str,
    target: tuple[str, str],
    healthy: bool,
    clouds: Clouds,  # noqa: F811 - the fixture
    request: pytest.FixtureRequest,
) -> None:
    url: str = request.getfixturevalue(store)
    seed(url, target)
    clouds.add(A, [(200, 40.0, False)] * 30)
    clouds.add(B, [(200 if healthy or n % 4 else 500, 30.0, False) for n in range(120)])
    run = gate_once(url)
    after = bucket_state(url)
    if healthy:
        assert run["verdict"] == "advance", run
        assert after.split == ((A, 50), (B, 50))
    else:
        assert run["verdict"] == "rollback", run
        assert (after.status, after.split) == ("rolled-back", ((A, 100), (B, 0)))
    region = target[1]
    assert run["signals"][0]["region"] == region and run["signals"][0]["requests"] == 120


# ---- reconcile: svai promote after the gate job moved the release ------------------------------


def test_promote_reconciles_with_the_job_s_rollback(
    s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(job.STATE_URL_ENV, s3_url)
    spec, b = canary(tmp_path)  # `promote --state-only` pushes state and policy to the bucket
    local_file = tmp_path / ".svai" / "releases" / f"{SERVICE}-dev.json"
    assert bucket_state(s3_url) == from_dict(json.loads(local_file.read_text()))
    policy = job.read_policy(open_bucket(s3_url), SERVICE, "dev")
    assert policy is not None and policy.targets == (("aws", "us-east-1"),)

    ingest_emf(
        boto3.client("cloudwatch", region_name="us-east-1"),
        request_lines(b, [(503, 40.0, False)] * 120),
    )
    assert gate_once(s3_url)["verdict"] == "rollback"

    code, out = svai("promote", str(spec), "--state-only")
    assert code == 0, out
    assert "the bucket is ahead of this copy: #3 rollback" in out
    assert "(gate job: gate failed: error_rate 1 (needs <= 0.02))" in out
    local = from_dict(json.loads(local_file.read_text()))
    assert local == bucket_state(s3_url) and local.status == "rolled-back"

    code, out = svai("promote", str(spec), "--state-only")
    assert code == 0 and "this copy and the bucket agree" in out, out


def test_forked_copies_are_refused(
    s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(job.STATE_URL_ENV, s3_url)
    spec, _ = canary(tmp_path)
    state = bucket_state(s3_url)
    # The job rolled back while someone else's copy promoted the same step: two third events.
    job.write_state(open_bucket(s3_url), rollout.revert(state, reason="elsewhere").after)
    local_file = tmp_path / ".svai" / "releases" / f"{SERVICE}-dev.json"
    write_state(local_file, rollout.advance(state).after)
    before = local_file.read_bytes()
    code, out = svai("promote", str(spec), "--state-only")
    assert code == 2 and "forked" in out and "Traceback" not in out, out
    assert "here: #3 promote" in out and "bucket: #3 rollback" in out
    assert local_file.read_bytes() == before
