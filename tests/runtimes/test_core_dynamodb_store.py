"""The DynamoDB cache store against a real moto server on 127.0.0.1, through the core's Cache."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from store_doubles import CountingStore, ManualClock

from svai.runtime.cloud import aws as aws_module
from svai.runtime.cloud.aws import DynamoDbStore
from svai.runtime.core.cache import Cache, open_store
from svai.runtime.core.errors import ConfigError
from svai.runtime.entry.stores import STORES

boto3 = pytest.importorskip("boto3")


@pytest.fixture(scope="module")
def table() -> str:
    # A fresh name each time: moto keeps its tables per process, across test sessions.
    return f"cache-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def dynamodb(aws_env: dict[str, str], table: str) -> Any:
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


def test_values_round_trip_and_expire(dynamodb: Any, table: str) -> None:
    store = DynamoDbStore(table, client=dynamodb)
    store.put("k1", b'{"outputs": [1]}', ttl_s=60)
    assert store.get("k1") == b'{"outputs": [1]}'
    assert store.get("absent") is None
    store.put("k2", b"x", ttl_s=-5)  # already expired: DynamoDB's TTL sweep is lazy
    assert store.get("k2") is None


def test_two_instances_share_entries_through_the_table(dynamodb: Any, table: str) -> None:
    first = Cache(ttl_s=60, max_entries=10, store=DynamoDbStore(table, client=dynamodb))
    second = Cache(ttl_s=60, max_entries=10, store=DynamoDbStore(table, client=dynamodb))
    first.put("shared", b"answer")
    assert second.get("shared") == b"answer"


def test_an_outage_degrades_to_no_shared_cache(dynamodb: Any) -> None:
    store = CountingStore(DynamoDbStore("no-such-table", client=dynamodb))
    cache = Cache(ttl_s=60, max_entries=10, store=store, clock=ManualClock())
    cache.put("k", b"v")  # the store refuses; the in-process LRU still has it
    assert cache.get("k") == b"v"
    assert cache.store_errors >= 1
    assert cache.get("other") is None  # the store is skipped for a while, no error
    assert store.calls == ["put"] and cache.store_errors == 1  # tried once, then skipped


def test_open_store_reads_the_table_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("SVAI_CACHE_TABLE", "cache-table")
    store = open_store("dynamodb://", openers=STORES)
    assert isinstance(store, DynamoDbStore) and store._table == "cache-table"
    monkeypatch.delenv("SVAI_CACHE_TABLE")
    assert (
        open_store("dynamodb://", openers=STORES) is None
    )  # run locally: the in-process LRU serves alone
    with pytest.raises(ConfigError, match=r"unknown store; use one of cosmos://, dynamodb://"):
        open_store("memcached://localhost", openers=STORES)
    with pytest.raises(ConfigError, match=r"unknown store; use one of redis://, rediss://, sqlite"):
        open_store("dynamodb://", ".")  # the core alone opens no cloud store


def test_an_entry_expires_at_the_second_after_its_ttl(
    dynamodb: Any, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock()  # the store's time.time(), moved by hand
    monkeypatch.setattr(aws_module, "time", clock)
    store = DynamoDbStore(table, client=dynamodb)
    store.put("ttl", b"v", ttl_s=59.5)  # expires_at: whole seconds, rounded up past the TTL
    clock.advance(59.999)
    assert store.get("ttl") == b"v"
    clock.advance(0.001)
    assert store.get("ttl") is None
