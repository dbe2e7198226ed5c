"""A 20 MB async job end to end on GCP: Cloud Storage claim check, Pub/Sub push, Firestore.

Pub/Sub refuses a publish request above 10 MiB (the loopback fake too); the front stores the
body in the deployment's bucket (gcp-storage-emulator), publishes a reference, the worker (the
real server behind the fake's push subscription) fetches it, and the status route returns the
result. The limit comes from svai's catalog, as the GCP backend sets it on the front.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_gcp import FakeGcp
from job_artifacts import build_job_artifact
from test_gcp_async import Worker, _env, _free_port, _subscribe

from svai.compiler.catalog import load_catalog
from svai.runtime.cloud.gcp import FirestoreJobStore, PubSubQueue
from svai.runtime.core import load_config
from svai.runtime.core.jobs import MESSAGE_BYTES_ENV
from svai.runtime.entry.claims import PAYLOAD_BUCKET_ENV, PREFIX, payload_bucket
from svai.runtime.entry.jobs import JobsFront

gcs = pytest.importorskip("gcp_storage_emulator.server")

BIG = 20 * 1024 * 1024
BUCKET = "svai-artifacts"


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    with FakeGcp() as server:
        yield server


@pytest.fixture
def storage() -> Iterator[str]:
    port = _free_port()
    server = gcs.create_server("127.0.0.1", port, in_memory=True)
    server.start()
    host = f"http://127.0.0.1:{port}"
    request = urllib.request.Request(
        f"{host}/storage/v1/b?project=svai",
        json.dumps({"name": BUCKET}).encode(),
        {"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.status == 200
    yield host
    server.stop()


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    return build_job_artifact(tmp_path / "artifact", api={"max_payload_bytes": 25 * 2**20})


def _environment(fake: FakeGcp, storage: str, topic: str, *, bucket: bool) -> dict[str, str]:
    limit, _ = load_catalog().queue_message_limit("gcp")
    env = {**_env(fake, topic), "STORAGE_EMULATOR_HOST": storage, MESSAGE_BYTES_ENV: str(limit)}
    return {**env, PAYLOAD_BUCKET_ENV: BUCKET} if bucket else env


def _front(artifact: Path, env: dict[str, str]) -> JobsFront:
    return JobsFront(
        load_config(artifact),
        queue=PubSubQueue.from_environment(env),
        store=FirestoreJobStore.from_environment(env),
        payloads=payload_bucket("gs", env),
    )


def _objects(storage: str) -> list[dict[str, Any]]:
    url = f"{storage}/storage/v1/b/{BUCKET}/o?prefix={PREFIX}"
    with urllib.request.urlopen(url, timeout=10) as reply:
        return list(json.load(reply).get("items", []))


def _big_body() -> bytes:
    # A scanned document rides along with the features: 20 MB, twice Pub/Sub's limit.
    body = json.dumps({"inputs": [[5.1, 3.5, 1.4, 0.2]], "document": "A" * BIG}).encode()
    assert len(body) > BIG
    return body


def _post(front: JobsFront, body: bytes, key: str) -> tuple[int, dict[str, Any]]:
    status, answer, _ = front.route(
        "POST", "/jobs", body, "application/json", {"idempotency-key": key}
    )
    return status, answer


def test_a_20_mb_job_completes_through_the_bucket(
    fake: FakeGcp, storage: str, artifact: Path
) -> None:
    topic = fake.create_topic("jobs")
    env = _environment(fake, storage, topic, bucket=True)
    port = _free_port()
    _subscribe(fake, topic, port)
    front = _front(artifact, env)
    body = _big_body()
    first = _post(front, body, "doc-20mb")
    assert first[0] == 202, first
    assert _post(front, body, "doc-20mb") == first and len(fake.topics[topic]) == 1
    (stored,) = _objects(storage)
    assert int(stored["size"]) > BIG
    (message,) = fake.topics[topic]
    reference = json.loads(base64.b64decode(message.data))
    assert len(message.data) < 1024 and reference["claim"]["key"] == stored["name"]

    worker = Worker(artifact, env, port)
    worker.start()
    try:
        assert fake.wait_idle(30)
    finally:
        worker.stop()
    assert worker.outcomes() == {"done": 1}
    status, result, _ = front.route("GET", "/jobs/doc-20mb", b"", None, {})
    assert status == 200 and result["outputs"]["label"] == [0]


def test_without_a_bucket_a_job_above_the_limit_is_refused_and_nothing_is_queued(
    fake: FakeGcp, storage: str, artifact: Path
) -> None:
    topic = fake.create_topic("jobs")
    front = _front(artifact, _environment(fake, storage, topic, bucket=False))
    status, answer = _post(front, _big_body(), "too-big")
    assert status == 413 and answer["error"]["code"] == "payload_too_large"
    assert "message limit" in answer["error"]["message"]
    assert fake.topics[topic] == [] and fake.collection("results") == {}
    assert front.route("GET", "/jobs/too-big", b"", None, {})[0] == 404
    # Just under the limit still goes inline, and Pub/Sub takes it.
    fits = front.queue.max_message_bytes
    assert fits is not None
    inline = json.dumps({"inputs": [[5.1, 3.5, 1.4, 0.2]], "document": "A" * (fits - 200)})
    assert _post(front, inline.encode(), "just-fits")[0] == 202
    assert len(fake.topics[topic]) == 1 and _objects(storage) == []
