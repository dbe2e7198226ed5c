"""Release state writes are conditional: of two writers that read the same state, one wins.

Against moto's S3 (``If-Match`` / ``If-None-Match: *`` on PutObject) and Azurite (Blob
``If-Match`` / ``If-None-Match: *``), both of which enforce the precondition with 412. The
gcp-storage-emulator ignores ``ifGenerationMatch``: there only the tag (the generation) and a
write on the current one are checked; the refusal itself is not tested against it.

Then the writers: the gate job that loses the race leaves the winner's state and routes the
winner's split again (on moto's Lambda); ``svai promote``'s push that loses it writes nothing.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from signal_fakes import (
    SERVICE,
    ingest_emf,
    moto_env,  # noqa: F401 - the fixture, used by name
    request_lines,
)
from test_gate_job import (  # noqa: F401 - blob_url, gcs_endpoint, gcs_url, s3_url: fixtures
    blob_url,
    bucket_state,
    gcs_endpoint,
    gcs_url,
    released,
    s3_url,
)
from test_gate_traffic import FAILING, alias, deploy_canary
from test_promote_live import svai

from svai.compiler import rollout
from svai.controller import job, sync
from svai.controller.store import ABSENT, Conflict, open_bucket
from svai.errors import DeployError
from svai.signals.evidence import live_evidence

NAME = "releases/race.json"


@pytest.mark.parametrize("store", ["s3_url", "blob_url"])
def test_a_write_over_a_stale_tag_or_onto_an_existing_object_is_refused(
    store: str, request: pytest.FixtureRequest
) -> None:
    bucket = open_bucket(request.getfixturevalue(store))
    assert bucket.read(NAME) == (None, ABSENT)
    bucket.put(NAME, b"first", if_tag=ABSENT)  # created: it was absent
    with pytest.raises(Conflict, match="changed since it was read"):
        bucket.put(NAME, b"again", if_tag=ABSENT)  # not absent any more
    data, tag = bucket.read(NAME)
    assert data == b"first" and tag
    bucket.put(NAME, b"second", if_tag=tag)  # the writer that read it wins
    with pytest.raises(Conflict):
        bucket.put(NAME, b"third", if_tag=tag)  # the other one, on the same old read, loses
    assert bucket.get(NAME) == b"second"
    bucket.put(NAME, b"forced")  # unconditional, as before
    assert bucket.get(NAME) == b"forced"


def test_cloud_storage_s_tag_is_the_generation(gcs_url: str) -> None:  # noqa: F811
    bucket = open_bucket(gcs_url)
    assert bucket.read(NAME) == (None, ABSENT)
    bucket.put(NAME, b"first", if_tag=ABSENT)
    _, first = bucket.read(NAME)
    bucket.put(NAME, b"second", if_tag=first)
    data, second = bucket.read(NAME)
    assert data == b"second" and first.isdigit() and second.isdigit() and second != first


def test_the_gate_job_that_loses_the_race_leaves_the_winner_s_state_and_split(
    s3_url: str,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lam = deploy_canary(s3_url)
    ingest_emf(
        boto3.client("cloudwatch", region_name="us-east-1"), request_lines("b" * 12, FAILING)
    )
    bucket = open_bucket(s3_url)
    state = bucket_state(s3_url)
    winner = rollout.advance(state).after  # a person promoted while the job judged

    def meanwhile(*args: Any, **kwargs: Any) -> Any:
        job.write_state(bucket, winner)
        return live_evidence(*args, **kwargs)

    monkeypatch.setattr(job, "live_evidence", meanwhile)
    code, out = svai("gate", "--once", "--state-url", s3_url, "--window", "10m")
    assert code == 1 and "changed while this run judged it" in out, out
    assert "Traceback" not in out
    assert bucket_state(s3_url) == winner  # the job's rollback was not written over it
    # The job had routed its rollback (all on version 1); the winner's 50% is routed again.
    assert "version 2, version 1 at 50%" in out
    assert alias(lam) == ("2", {"1": 0.5})


def test_a_push_over_a_state_that_changed_since_it_was_read_writes_nothing(
    s3_url: str,  # noqa: F811 - the fixture
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(job.STATE_URL_ENV, s3_url)
    state, policy = released(("aws", "us-east-1"))
    bucket = open_bucket(s3_url)
    job.write_state(bucket, state)
    synced = sync.reconcile(tmp_path, SERVICE, "dev", state)
    assert synced is not None
    job_did = rollout.revert(state, reason="gate job").after  # the job acted meanwhile
    job.write_state(bucket, job_did)
    mine = rollout.advance(state).after
    with pytest.raises(DeployError, match="the bucket keeps its state"):
        sync.push(tmp_path, mine, policy, synced)
    assert bucket_state(s3_url) == job_did
    # Read afresh, a push goes through.
    fresh = sync.reconcile(tmp_path, SERVICE, "dev", job_did)
    later = rollout.start(job_did, "c" * 12, policy.rollout).after
    sync.push(tmp_path, later, policy, fresh)
    assert bucket_state(s3_url) == later
