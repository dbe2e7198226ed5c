"""The GCP REST clients against the loopback fake: tokens, Firestore stores, Pub/Sub publish."""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from fake_gcp import FakeGcp

from svai.runtime.cloud import gcp as gcp_module
from svai.runtime.cloud.gcp import (
    FirestoreCacheStore,
    FirestoreClient,
    FirestoreJobStore,
    GcpError,
    GoogleApi,
    MetadataTokens,
    PubSubQueue,
    document_id,
    parse_timestamp,
)
from svai.runtime.core.cache import Cache
from svai.runtime.core.errors import ConfigError
from svai.runtime.core.retry import Backoff


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    with FakeGcp(require_auth=True) as server:
        yield server


def _client(fake: FakeGcp, *, tokens: bool = True, attempts: int = 4) -> FirestoreClient:
    api = GoogleApi(
        f"http://{fake.host}/v1",
        MetadataTokens(fake.host) if tokens else None,
        attempts=attempts,
        backoff=Backoff(0.001, 0.01, random.Random(1)),
    )
    return FirestoreClient(api, fake.project)


def test_metadata_needs_its_header_and_tokens_are_cached_until_near_expiry(
    fake: FakeGcp,
) -> None:
    url = f"http://{fake.host}/computeMetadata/v1/project/project-id"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 403
    now = [100.0]
    tokens = MetadataTokens(fake.host, clock=lambda: now[0])
    assert tokens.project_id() == "svai-test"
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(tokens.token())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1 and len(fake.tokens) == 1  # one fetch shared by the threads
    now[0] += fake.token_ttl_s - 61
    assert tokens.token() == seen[0]
    now[0] += 2  # within a minute of expiry: refreshed
    assert tokens.token() != seen[0] and len(fake.tokens) == 2


def test_firestore_documents_follow_the_precondition_rules(fake: FakeGcp) -> None:
    client = _client(fake)
    assert client.get("things", "a") is None
    created = client.create("things", "a", {"n": 1, "b": b"\x00\xff", "s": "x"})
    assert created.fields == {"n": 1, "b": b"\x00\xff", "s": "x"}
    with pytest.raises(GcpError) as taken:
        client.create("things", "a", {"n": 2})
    assert (taken.value.status, taken.value.http_status) == ("ALREADY_EXISTS", 409)
    assert not taken.value.transient
    updated = client.patch("things", "a", {"n": 2}, mask=["n"], update_time=created.update_time)
    assert updated.fields == {"n": 2, "b": b"\x00\xff", "s": "x"}
    assert parse_timestamp(updated.update_time) > parse_timestamp(created.update_time)
    with pytest.raises(GcpError) as stale:
        client.patch("things", "a", {"n": 3}, mask=["n"], update_time=created.update_time)
    assert stale.value.status == "FAILED_PRECONDITION"
    with pytest.raises(GcpError) as missing:
        client.patch("things", "nope", {"n": 1}, exists=True)
    assert missing.value.status == "NOT_FOUND"
    with pytest.raises(GcpError):
        client.delete("things", "a", update_time=created.update_time)
    client.delete("things", "a", update_time=updated.update_time)
    assert client.get("things", "a") is None
    when = dt.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    client.patch("things", "t", {"at": when})  # upsert
    assert fake.collection("things")["t"] == {
        "at": {"timestampValue": "2030-01-02T03:04:05.678901Z"}
    }
    got = client.get("things", "t")
    assert got is not None and got.fields["at"] == when


def test_calls_without_a_valid_token_are_refused_and_not_retried(fake: FakeGcp) -> None:
    with pytest.raises(GcpError) as refused:
        _client(fake, tokens=False).get("things", "a")
    assert refused.value.status == "UNAUTHENTICATED" and not refused.value.transient
    assert [c for c in fake.calls if c[2] == 401] == [
        ("GET", "/v1/projects/svai-test/databases/(default)/documents/things/a", 401)
    ]


def test_transient_failures_are_retried_then_raised() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = GoogleApi(f"http://127.0.0.1:{port}/v1", None, attempts=3, backoff=Backoff(0.001, 0.002))
    with pytest.raises(GcpError) as down:
        FirestoreClient(api, "p").get("c", "d")
    assert down.value.transient and down.value.status == "UNAVAILABLE"
    with FakeGcp() as fake:
        fake.outage = True
        with pytest.raises(GcpError) as outage:
            _client(fake, tokens=False, attempts=3).get("c", "d")
        assert outage.value.http_status == 503
        assert len(fake.calls) == 3


def test_document_ids_are_valid_and_distinct() -> None:
    ids = ["a/b", "a%2Fb", ".", "..", "__x__", "a.b", "a_b", "plain-ID-9", "é"]
    encoded = [document_id(i) for i in ids if "%" not in i]
    assert len(set(encoded)) == len(encoded)
    for doc_id in encoded:
        assert "/" not in doc_id and doc_id not in (".", "..") and not doc_id.startswith("__")
    assert document_id("plain-ID-9") == "plain-ID-9"
    assert parse_timestamp("2024-05-06T07:08:09.123456789Z") == dt.datetime(
        2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC
    )


def test_cache_store_round_trip_expiry_and_outage_through_the_core_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    later = dt.timedelta(0)  # how far the store's clock is moved ahead (no sleeping)
    monkeypatch.setattr(gcp_module, "_now", lambda: dt.datetime.now(dt.UTC) + later)
    with FakeGcp() as fake:
        env = {"FIRESTORE_EMULATOR_HOST": fake.host, "SVAI_GCP_PROJECT": fake.project}
        store = FirestoreCacheStore.from_environment(env)
        assert store.get("k1") is None
        store.put("k1", b'{"y":1}', 60)
        assert store.get("k1") == b'{"y":1}'
        store.put("k2", b"old", 20)
        later = dt.timedelta(seconds=19.9)
        assert store.get("k2") == b"old"
        later = dt.timedelta(seconds=20.1)
        assert "k2" in fake.collection("cache")  # Firestore's TTL has not deleted it yet...
        assert store.get("k2") is None  # ...but it has expired
        cache = Cache(ttl_s=60, max_entries=10, store=store, outage_backoff_s=30)
        assert cache.get("k1") == b'{"y":1}'  # from the shared store
        fake.outage = True
        cache.put("k3", b"three")  # the store is down: kept in memory, no error
        assert cache.store_errors == 1
        assert cache.get("k3") == b"three"
        assert cache.get("k4") is None  # the store is skipped while it is out
        assert cache.store_errors == 1
        fake.outage = False
        assert "k3" not in fake.collection("cache")


def test_project_comes_from_the_metadata_server_when_unset() -> None:
    with FakeGcp() as fake:
        env = {"FIRESTORE_EMULATOR_HOST": fake.host, "GCE_METADATA_HOST": fake.host}
        store = FirestoreJobStore.from_environment(env)
        assert store.create("m1") and store.client.root.startswith("/projects/svai-test/")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        nowhere = f"127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(ConfigError, match="SVAI_GCP_PROJECT"):
        FirestoreJobStore.from_environment({"GCE_METADATA_HOST": nowhere})


def _race(store: FirestoreJobStore, request_id: str, workers: int = 8) -> list[bool]:
    """Eight workers store a result for one request id at the same moment."""
    barrier = threading.Barrier(workers)
    wins: list[bool] = []

    def work(i: int) -> None:
        barrier.wait()
        wins.append(store.put_once(request_id, json.dumps({"label": [i]}).encode(), "v1", "h"))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return wins


def test_job_store_writes_once_under_concurrent_workers(fake: FakeGcp) -> None:
    store = FirestoreJobStore(_client(fake), ttl_s=3600)
    rid = "client/req.1"
    assert store.read(rid) is None
    assert store.create(rid) is True
    assert store.create(rid) is False  # a client retry
    record = store.read(rid)
    assert record is not None and (record.status, record.result) == ("queued", None)
    assert store.get(rid) is None
    for request_id in (rid, "never-created"):
        assert sorted(_race(store, request_id)) == [False] * 7 + [True]
        stored = store.get(request_id)
        assert stored is not None and stored.writes == 1 and stored.request_id == request_id
    fields = fake.collection("results")[document_id(rid)]
    assert fields["status"] == {"stringValue": "done"} and fields["writes"] == {"integerValue": "1"}
    expires = parse_timestamp(fields["expires_at"]["timestampValue"]).timestamp()
    assert abs(expires - (time.time() + 3600)) < 60
    store.forget(rid)  # a done result is never removed
    assert store.get(rid) is not None
    assert store.create("q1") and store.read("q1") is not None
    store.forget("q1")
    assert store.read("q1") is None


def test_pubsub_queue_publishes_base64_with_the_request_id(fake: FakeGcp) -> None:
    topic = fake.create_topic("jobs")
    for malformed in ("", "projects/p/jobs", "projects//topics/jobs"):
        with pytest.raises(ConfigError):
            PubSubQueue.from_environment({"SVAI_PUBSUB_TOPIC": malformed})
    # A bare id (no project in the target) is completed with the metadata server's project.
    bare = PubSubQueue.from_environment(
        {"SVAI_PUBSUB_TOPIC": "jobs", "GCE_METADATA_HOST": fake.host}
    )
    assert bare.topic == topic == f"projects/{fake.project}/topics/jobs"
    queue = PubSubQueue(GoogleApi(f"http://{fake.host}/v1", MetadataTokens(fake.host)), topic)
    queue.send("r1", '{"request_id":"r1"}')
    [message] = fake.topics[topic]
    assert base64.b64decode(message.data) == b'{"request_id":"r1"}'
    assert message.attributes == {"request_id": "r1"}
    missing = PubSubQueue(
        GoogleApi(f"http://{fake.host}/v1", MetadataTokens(fake.host)),
        f"projects/{fake.project}/topics/nope",
    )
    with pytest.raises(GcpError) as absent:
        missing.send("r2", "{}")
    assert absent.value.status == "NOT_FOUND"
