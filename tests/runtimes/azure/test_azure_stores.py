"""Cosmos DB stores and managed-identity tokens against the loopback Azure fake.

The cache stores and expires values and, when Cosmos DB is unreachable, the core ``Cache``
degrades to its in-process LRU; the job store creates a record once per request id and writes a
result exactly once however many threads race, even when writes fail after being applied.
"""

from __future__ import annotations

import base64
import json
import random
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from fake_azure import FakeAzure

from svai.runtime.cloud import azure as azure_module
from svai.runtime.cloud.azure import (
    AzureError,
    CosmosCacheStore,
    CosmosContainer,
    CosmosJobStore,
    ManagedIdentityTokens,
    ServiceBusQueue,
)
from svai.runtime.core.cache import Cache
from svai.runtime.core.errors import ConfigError
from svai.runtime.core.retry import Backoff


@pytest.fixture
def fake() -> Iterator[FakeAzure]:
    azure = FakeAzure(seed=11).start()
    azure.add_container("svai", "results", "/request_id")
    azure.add_container("svai", "cache", "/key")
    azure.add_container("svai", "cache-no-ttl", "/key", default_ttl=None)
    yield azure
    azure.stop()


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _job_store(fake: FakeAzure, ttl_s: str = "3600") -> CosmosJobStore:
    store = CosmosJobStore.from_environment({**fake.env(), "SVAI_RESULT_TTL_S": ttl_s})
    store.container._rest.backoff = Backoff(0.001, 0.01, random.Random(3))
    return store


def test_tokens_are_cached_per_resource_refreshed_and_need_the_identity_header(
    fake: FakeAzure,
) -> None:
    tokens = ManagedIdentityTokens.from_environment(fake.env())
    got: list[str] = []
    threads = [
        threading.Thread(target=lambda: got.append(tokens.token("https://cosmos.azure.com")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(got)) == 1 and fake.token_requests == ["https://cosmos.azure.com"]
    tokens.token("https://servicebus.azure.net")
    assert fake.token_requests[-1] == "https://servicebus.azure.net"
    # A token within the refresh margin of its expiry is fetched again.
    fake.token_lifetime_s = 60
    short = ManagedIdentityTokens.from_environment(fake.env())
    first = short.token("https://cosmos.azure.com")
    assert short.token("https://cosmos.azure.com") != first
    wrong = ManagedIdentityTokens(
        fake.env()["IDENTITY_ENDPOINT"], "not-the-secret", "svai-identity"
    )
    with pytest.raises(AzureError) as caught:
        wrong.token("https://cosmos.azure.com")
    assert caught.value.status == 401
    with pytest.raises(ConfigError, match="IDENTITY_ENDPOINT"):
        CosmosJobStore.from_environment({"SVAI_COSMOS_ENDPOINT": "x", "SVAI_COSMOS_DATABASE": "y"})


class _Clock:
    """``time`` for the Azure module: the real time, moved forward by hand (no sleeping)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        self.offset += seconds


def test_cache_store_round_trips_and_expires(
    fake: FakeAzure, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = _Clock()
    monkeypatch.setattr(azure_module, "time", clock)
    store = CosmosCacheStore.from_environment(fake.env())
    assert store.get("k1") is None
    store.put("k1", b"\x00value\xff", 60)
    assert store.get("k1") == b"\x00value\xff"
    store.put("k1", b"newer", 60)  # last writer wins (upsert)
    assert store.get("k1") == b"newer"
    (doc,) = fake.live_docs("svai", "cache")
    assert (doc["id"], doc["key"], doc["ttl"]) == ("k1", "k1", 60)
    assert base64.b64decode(doc["value"]) == b"newer"
    assert abs(doc["expires_at"] - (time.time() + 60)) < 5
    # Cosmos DB TTL is whole seconds (and off when the container has no defaultTtl):
    # ``expires_at`` hides an expired value either way.
    no_ttl = CosmosCacheStore.from_environment(
        {**fake.env(), "SVAI_CACHE_CONTAINER": "cache-no-ttl"}
    )
    no_ttl.put("k2", b"short", 20)
    assert no_ttl.get("k2") == b"short"
    clock.sleep(19.9)
    assert no_ttl.get("k2") == b"short"
    clock.sleep(0.2)  # past its expiry
    assert no_ttl.get("k2") is None
    assert len(fake.live_docs("svai", "cache-no-ttl")) == 1  # still stored, never served


def test_cache_outage_degrades_to_the_in_process_lru(fake: FakeAzure) -> None:
    env = {**fake.env(), "SVAI_COSMOS_ENDPOINT": f"http://127.0.0.1:{_dead_port()}/"}
    errors: list[Exception] = []
    cache = Cache(60, 100, CosmosCacheStore.from_environment(env), on_error=errors.append)
    cache.put("a", b"1")  # the store is down: only the LRU keeps it
    assert cache.get("a") == b"1"
    assert cache.get("b") is None
    # One failed call, then the outage backoff skips the store: the miss above never waited
    # on it (a second attempt would be a second error).
    assert cache.store_errors == 1 and isinstance(errors[0], OSError)
    # With the store up, a value written by another replica is served from Cosmos DB.
    up = Cache(60, 100, CosmosCacheStore.from_environment(fake.env()))
    CosmosCacheStore.from_environment(fake.env()).put("shared", b"2", 60)
    assert up.get("shared") == b"2" and up.store_errors == 0


def test_throttling_is_retried_and_bad_auth_is_not(fake: FakeAzure) -> None:
    store = _job_store(fake)
    fake.throttle(2)
    assert store.create("t1") is True
    assert fake.throttled == 2
    forged = CosmosContainer(
        fake.env()["SVAI_COSMOS_ENDPOINT"],
        "svai",
        "results",
        ManagedIdentityTokens.from_environment(fake.env()),
    )
    forged._rest.resource = "https://servicebus.azure.net"  # a token for the wrong audience
    with pytest.raises(AzureError) as caught:
        forged.read("t1", "t1")
    assert caught.value.status == 401
    assert [r for r in fake.requests if r[2] == 401] == [
        ("GET", "/dbs/svai/colls/results/docs/t1", 401)
    ]


def test_job_store_records_once_and_forgets_only_queued_jobs(fake: FakeAzure) -> None:
    store = _job_store(fake)
    assert store.read("a/b:c") is None
    assert store.create("a/b:c") is True
    assert store.create("a/b:c") is False  # a client retry
    record = store.read("a/b:c")
    assert record is not None and (record.status, record.result) == ("queued", None)
    assert store.get("a/b:c") is None
    (doc,) = fake.live_docs("svai", "results")
    assert doc["id"] == "a|b:c" and doc["request_id"] == "a/b:c" and doc["ttl"] == 3600
    assert store.put_once("a/b:c", b'{"label":[1]}', "v1", "h1") is True
    store.forget("a/b:c")  # a done result is never removed
    stored = store.get("a/b:c")
    assert stored is not None
    assert (stored.outputs, stored.model_version, stored.input_hash, stored.writes) == (
        {"label": [1]},
        "v1",
        "h1",
        1,
    )
    (doc,) = fake.live_docs("svai", "results")
    assert doc["submitted_at"] <= doc["completed_at"] and doc["status"] == "done"
    assert store.create("q1") is True
    store.forget("q1")
    assert store.read("q1") is None
    store.forget("never-seen")


def test_put_once_writes_exactly_once_under_racing_threads_and_ambiguous_failures(
    fake: FakeAzure,
) -> None:
    store = _job_store(fake)
    fake.cosmos_faults = 0.2  # one write in five answers 503, half of them after applying it
    ids = [f"job-{i}" for i in range(12)]
    for request_id in ids[::2]:
        assert store.create(request_id) is True  # half queued by the front, half unknown
    threads_per_job = 6
    barrier = threading.Barrier(threads_per_job * len(ids))
    wins: dict[str, list[bool]] = {i: [] for i in ids}
    failures: list[BaseException] = []

    def race(request_id: str, n: int) -> None:
        barrier.wait()
        try:
            outputs = json.dumps({"label": [n]}).encode()
            wins[request_id].append(store.put_once(request_id, outputs, "v1", f"h{n}"))
        except AzureError as exc:  # retries ran out: the job would be redelivered
            failures.append(exc)

    threads = [
        threading.Thread(target=race, args=(request_id, n))
        for request_id in ids
        for n in range(threads_per_job)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fake.cosmos_faults_applied > 0 and not failures
    docs = {d["request_id"]: d for d in fake.live_docs("svai", "results")}
    assert set(docs) == set(ids)
    assert {i: d["writes"] for i, d in docs.items()} == dict.fromkeys(ids, 1)
    assert {i: w.count(True) for i, w in wins.items()} == dict.fromkeys(ids, 1)
    for request_id, doc in docs.items():
        assert doc["input_hash"] == f"h{json.loads(doc['outputs'])['label'][0]}"
        assert ("submitted_at" in doc) == (request_id in ids[::2])


def test_queue_send_sets_the_message_id_and_needs_a_queue(fake: FakeAzure) -> None:
    fake.add_queue("jobs")
    queue = ServiceBusQueue.from_environment(fake.env())
    queue.send("r1", '{"request_id": "r1"}')
    (message,) = fake.queues["jobs"].messages
    assert (message.message_id, message.body) == ("r1", b'{"request_id": "r1"}')
    missing = ServiceBusQueue.from_environment({**fake.env(), "SVAI_SERVICEBUS_QUEUE": "nope"})
    with pytest.raises(AzureError) as caught:
        missing.send("r2", "{}")
    assert caught.value.status == 410
