"""The runtime core's parts on their own: LRU, SQLite store, cache outage, idempotency, batcher."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from store_doubles import CountingStore, ManualClock

from svai.runtime.core import cache as cache_module
from svai.runtime.core import idempotency as idempotency_module
from svai.runtime.core.batching import MicroBatcher
from svai.runtime.core.cache import (
    Cache,
    LruCache,
    SqliteStore,
    cache_key,
    is_store_url,
    open_store,
)
from svai.runtime.core.errors import ConfigError, IdempotencyConflictError
from svai.runtime.core.idempotency import IdempotencyTable, State


def test_cache_key_separates_tenant_version_and_payload() -> None:
    base = cache_key("t", "v1", b'{"a":1}')
    assert len(base) == 64
    assert base == cache_key("t", "v1", b'{"a":1}')
    others = {cache_key("t", "v2", b'{"a":1}'), cache_key("", "tv1", b'{"a":1}')}
    others |= {cache_key("t", "v1", b'{"a":2}'), cache_key("tv", "1", b'{"a":1}')}
    assert base not in others and len(others) == 4


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    """The clock the cache and idempotency modules read, moved by hand (no sleeping)."""
    manual = ManualClock()
    monkeypatch.setattr(cache_module, "time", manual)
    monkeypatch.setattr(idempotency_module, "time", manual)
    return manual


def test_lru_evicts_least_recently_used_and_expires(clock: ManualClock) -> None:
    lru = LruCache(2)
    lru.put("a", 1, 60)
    lru.put("b", 2, 60)
    assert lru.get("a") == 1  # "b" is now the least recently used
    lru.put("c", 3, 60)
    assert (lru.get("a"), lru.get("b"), lru.get("c")) == (1, None, 3)
    lru.put("short", 4, 10)
    clock.advance(10)
    assert lru.get("short") == 4  # alive up to its expiry
    clock.advance(0.001)
    assert lru.get("short") is None and len(lru) == 1  # dropped on read; "c" is left


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("redis://cache:6379/0", True),
        ("sqlite:///var/cache/svai.db", True),
        # The scheme is what precedes the first "://", wherever else one appears.
        ("redis://cache:6379/0?via=http://proxy", True),
        ("/var/cache/svai.db", False),
        ("://cache", False),
        ("Redis://cache", False),
        ("re dis://cache", False),
        ("rédis://cache", False),
    ],
)
def test_store_urls_are_told_from_paths(url: str, ok: bool) -> None:
    assert is_store_url(url) is ok


def test_sqlite_store_round_trip_and_expiry(tmp_path: Path, clock: ManualClock) -> None:
    store = SqliteStore(tmp_path / "c.db")
    store.put("k", b"value", 60)
    store.put("old", b"gone", 10)
    clock.advance(9.999)
    assert store.get("old") == b"gone"
    clock.advance(0.001)  # at its expiry it is gone
    assert store.get("k") == b"value"
    assert store.get("old") is None and store.get("missing") is None
    other = SqliteStore(tmp_path / "c.db")  # a second process would see the same rows
    assert other.get("k") == b"value"
    elsewhere = SqliteStore(tmp_path / "d.db")  # and a store at another path sees none of them
    assert elsewhere.get("k") is None and (tmp_path / "c.db").is_file()
    store.close()
    other.close()
    elsewhere.close()
    with pytest.raises(Exception, match="closed"):
        store.get("k")


def test_open_store_picks_the_opener_by_the_first_scheme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[tuple[str, Path]] = []

    def opener(url: str, base: Path) -> SqliteStore:
        opened.append((url, base))
        return SqliteStore(base / "c.db")

    url = "x://shared?via=y://proxy"
    open_store(url, tmp_path, {"x": opener}).close()  # type: ignore[union-attr]
    assert opened == [(url, tmp_path)]
    with pytest.raises(ConfigError, match="unknown store; use one of x://"):
        open_store("y://shared", tmp_path, {"x": opener})
    monkeypatch.chdir(tmp_path)  # with no artifact folder, relative paths are the working dir's
    open_store("sqlite:///rel.db").close()  # type: ignore[union-attr]
    assert (tmp_path / "rel.db").is_file()


class DownStore:
    """A shared store whose backend is unreachable, like a DynamoDB endpoint during an outage."""

    def __init__(self) -> None:
        self.calls = 0

    def get(self, key: str) -> bytes | None:
        self.calls += 1
        raise ConnectionError("store unreachable")

    def put(self, key: str, value: bytes, ttl_s: float) -> None:
        self.calls += 1
        raise ConnectionError("store unreachable")

    def close(self) -> None:
        raise ConnectionError("store unreachable")


def test_cache_outage_degrades_to_lru_and_backs_off() -> None:
    store, clock = DownStore(), ManualClock()
    errors: list[Exception] = []
    cache = Cache(60, 10, store, outage_backoff_s=60, on_error=errors.append, clock=clock)
    assert cache.get("k") is None  # the outage reads as a miss
    cache.put("k", b"v")  # the LRU still takes it
    assert cache.get("k") == b"v"
    assert store.calls == 1  # after the first failure the store is skipped for the backoff
    assert cache.store_errors == 1 and isinstance(errors[0], ConnectionError)
    clock.advance(60)  # past the backoff the store is tried again, and each failure counts
    assert cache.get("other") is None
    assert store.calls == 2 and cache.store_errors == 2 and len(errors) == 2
    cache.close()  # a broken store does not fail shutdown


def test_a_value_read_from_the_shared_store_is_kept_in_the_lru(tmp_path: Path) -> None:
    """One store read per key and TTL: the next get is answered by this instance's LRU."""
    shared = SqliteStore(tmp_path / "shared.db")
    shared.put("k", b"written by another instance", 60)
    store = CountingStore(shared)
    cache = Cache(60, 10, store, clock=ManualClock())
    assert cache.get("k") == b"written by another instance"
    assert cache.get("k") == b"written by another instance"
    assert store.calls == ["get"]
    cache.close()


def test_a_cache_whose_monotonic_clock_reads_zero_uses_its_store_at_once(tmp_path: Path) -> None:
    """A just-booted microVM's monotonic clock can read ~0 s: no outage yet, so no backoff."""
    store = CountingStore(SqliteStore(tmp_path / "shared.db"))
    at_boot = ManualClock()
    at_boot.now = 0.0
    cache = Cache(60, 10, store, clock=at_boot)
    cache.put("k", b"v")
    assert store.calls == ["put"]
    cache.close()


def test_the_store_is_skipped_for_five_seconds_after_a_failed_write_by_default() -> None:
    store, clock = DownStore(), ManualClock()
    errors: list[Exception] = []
    cache = Cache(60, 10, store, on_error=errors.append, clock=clock)
    cache.put("k", b"v")  # the write fails; the error is reported as it was raised
    assert isinstance(errors[0], ConnectionError) and cache.store_errors == 1
    clock.advance(4.9)
    cache.put("k", b"v")
    assert store.calls == 1
    clock.advance(0.1)
    cache.put("k", b"v")
    assert store.calls == 2 and len(errors) == 2


def test_closing_the_cache_closes_its_store(tmp_path: Path) -> None:
    closed: list[bool] = []

    class ClosingStore(SqliteStore):
        def close(self) -> None:
            closed.append(True)
            super().close()

    cache = Cache(60, 10, ClosingStore(tmp_path / "shared.db"))
    cache.close()
    assert closed == [True]


def test_idempotency_states_conflict_and_abandon() -> None:
    table = IdempotencyTable(ttl_s=60, max_entries=10)
    key = table.scoped("tenant", "k1")
    assert key != table.scoped("other", "k1")
    state, entry = table.begin(key, "hash-a")
    assert state is State.NEW
    state2, entry2 = table.begin(key, "hash-a")
    assert state2 is State.PENDING and entry2 is entry
    with pytest.raises(IdempotencyConflictError):
        table.begin(key, "hash-b")
    table.complete(key, entry, "result")
    state3, entry3 = table.begin(key, "hash-a")
    assert state3 is State.DONE and entry3.future.result() == "result"
    key2 = table.scoped("tenant", "k2")
    _, e = table.begin(key2, "h")
    table.abandon(key2, e, RuntimeError("boom"))
    with pytest.raises(RuntimeError):
        e.future.result()
    assert table.begin(key2, "h")[0] is State.NEW  # forgotten: a retry runs again


def test_a_sqlite_store_url_is_relative_to_the_artifact(tmp_path: Path) -> None:
    store = open_store("sqlite:///shared.db", base_dir=tmp_path)
    assert isinstance(store, SqliteStore)
    store.put("k", b"v", 60)
    store.close()
    assert SqliteStore(tmp_path / "shared.db").get("k") == b"v"


def test_idempotency_entries_expire_after_their_ttl(clock: ManualClock) -> None:
    table = IdempotencyTable(ttl_s=60, max_entries=10)
    key = table.scoped("", "order-1")
    _, entry = table.begin(key, "h")
    clock.advance(30)  # the run itself took 30 s: the TTL counts from completion
    table.complete(key, entry, "answer")
    clock.advance(60)
    state, found = table.begin(key, "h")
    assert state is State.DONE and found.future.result() == "answer"
    clock.advance(0.001)
    state, fresh = table.begin(key, "other-hash")  # expired: the key is free again
    assert state is State.NEW and fresh is not entry and len(table) == 1


def test_idempotency_pending_entries_do_not_expire(clock: ManualClock) -> None:
    table = IdempotencyTable(ttl_s=1, max_entries=10)
    key = table.scoped("", "slow")
    _, entry = table.begin(key, "h")
    clock.advance(3600)  # a run slower than the TTL still owns its key
    assert table.begin(key, "h") == (State.PENDING, entry)


def test_idempotency_table_keeps_the_newest_entries(clock: ManualClock) -> None:
    table = IdempotencyTable(ttl_s=60, max_entries=2)
    keys = [table.scoped("", f"k{i}") for i in range(3)]
    for key in keys:
        table.complete(key, table.begin(key, "h")[1], key)
    assert len(table) == 2
    assert table.begin(keys[0], "h")[0] is State.NEW  # the oldest was evicted
    assert table.begin(keys[2], "h")[0] is State.DONE


def test_idempotency_entries_read_from_the_store_expire_too(
    tmp_path: Path, clock: ManualClock
) -> None:
    store = SqliteStore(tmp_path / "idem.db")
    a = IdempotencyTable(60, 10, store, encode=str.encode, decode=bytes.decode)
    b = IdempotencyTable(60, 10, store, encode=str.encode, decode=bytes.decode)
    key = a.scoped("", "order-9")
    a.complete(key, a.begin(key, "h")[1], "stored answer")
    clock.advance(59)
    assert b.begin(key, "h")[0] is State.DONE  # read from the store, alive for another 60 s
    clock.advance(60)
    assert b.begin(key, "h")[0] is State.DONE
    clock.advance(1)  # past both its in-process and its store expiry
    assert b.begin(key, "h")[0] is State.NEW
    store.close()


def test_idempotency_results_are_shared_through_the_store(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "idem.db")
    a = IdempotencyTable(60, 10, store, encode=str.encode, decode=bytes.decode)
    b = IdempotencyTable(60, 10, store, encode=str.encode, decode=bytes.decode)
    key = a.scoped("", "order-9")
    _, entry = a.begin(key, "h")
    a.complete(key, entry, "stored answer")
    state, found = b.begin(key, "h")  # another instance, empty in-process table
    assert state is State.DONE and found.future.result() == "stored answer"
    with pytest.raises(IdempotencyConflictError):
        b.begin(key, "other-hash")
    store.close()


def test_batcher_passes_errors_to_every_waiter() -> None:
    gate = threading.Event()
    calls: list[int] = []

    def run_batch(items: Any) -> list[Any]:
        calls.append(len(items))
        if len(calls) == 1:
            gate.wait(10)
            return [i * 2 for i in items]
        raise ValueError("bad batch")

    batcher: MicroBatcher[int, int] = MicroBatcher(run_batch, 8, 0.0, 1)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher.submit, 1)
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:
            time.sleep(0.005)
        rest = [pool.submit(batcher.submit, i) for i in (2, 3, 4)]
        while batcher.queued < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        gate.set()
        assert first.result(10) == 2
        for f in rest:
            with pytest.raises(ValueError, match="bad batch"):
                f.result(10)
    assert calls == [1, 3]


def test_batcher_lingers_only_for_announced_arrivals() -> None:
    sizes: list[int] = []

    def run_batch(items: Any) -> list[Any]:
        sizes.append(len(items))
        return list(items)

    batcher: MicroBatcher[int, int] = MicroBatcher(run_batch, 4, 30.0, 1)
    # Nobody announced: a 30 s max wait must not be spent.
    assert batcher.submit(1) == 1
    # Two requests announced: the first runner waits for the second and they leave together.
    batcher.announce()
    batcher.announce()
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(batcher.submit, 10, True)
        time.sleep(0.05)
        b = pool.submit(batcher.submit, 20, True)
        assert (a.result(10), b.result(10)) == (10, 20)
    assert sizes == [1, 2]
