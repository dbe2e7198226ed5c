"""Result cache: an in-process LRU in front of an optional shared store.

The key is ``sha256(tenant, model version, canonical JSON payload)`` (see ``cache_key``), so a
new model version never serves an old answer and tenants never see each other's results.
A shared store is anything with the ``CacheStore`` methods; ``SqliteStore`` is the local one
(DynamoDB / Firestore / Cosmos DB / Redis adapters implement the same three methods).
A store that raises is treated as an outage: the cache degrades to the in-process LRU, the
request is served as if the store were absent, and the store is skipped for
``outage_backoff_s`` before being tried again. A cache problem is never a request error.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from svai.runtimes.core.errors import ConfigError

__all__ = [
    "Cache",
    "CacheStore",
    "DynamoDbStore",
    "LruCache",
    "SqliteStore",
    "cache_key",
    "is_store_url",
    "open_store",
]

_STORE_PREFIXES = ("sqlite:///", "redis://", "rediss://", "dynamodb://")
_STORE_URLS = ("firestore://", "cosmos://")


def cache_key(tenant: str, model_version: str, canonical_payload: bytes) -> str:
    """Return the hex cache key for a payload already serialised canonically.

    Args:
        tenant: tenant id ("" when none).
        model_version: the immutable model version id.
        canonical_payload: ``json.dumps(payload, sort_keys=True, separators=(",", ":"))``.
    """
    h = hashlib.sha256()
    for part in (tenant.encode(), model_version.encode()):
        h.update(len(part).to_bytes(4, "big"))  # length-prefixed so fields cannot run together
        h.update(part)
    h.update(canonical_payload)
    return h.hexdigest()


class CacheStore(Protocol):
    """A shared key/value store with per-entry expiry (DynamoDB, Redis, SQLite, ...)."""

    def get(self, key: str) -> bytes | None:
        """Return the value, or ``None`` when absent or expired; raise on outage."""
        ...

    def put(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store ``value`` for ``ttl_s`` seconds; raise on outage."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class LruCache:
    """A thread-safe LRU with a per-entry time-to-live."""

    def __init__(self, max_entries: int) -> None:
        self._data: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        """Return the live value for ``key`` or ``None``."""
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return item[1]

    def put(self, key: str, value: Any, ttl_s: float) -> None:
        """Store ``value``, evicting the least recently used entry when full."""
        with self._lock:
            self._data[key] = (time.monotonic() + ttl_s, value)
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def pop(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)


class SqliteStore:
    """A ``CacheStore`` in one SQLite file (WAL), shared by the processes of one machine."""

    def __init__(self, path: str | Path) -> None:
        import sqlite3

        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=200")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS svai_cache "
                "(key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL NOT NULL)"
            )

    def get(self, key: str) -> bytes | None:
        """Return the live value or ``None``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM svai_cache WHERE key = ? AND expires > ?", (key, time.time())
            ).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, key: str, value: bytes, ttl_s: float) -> None:
        """Insert or replace ``key``."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO svai_cache (key, value, expires) VALUES (?, ?, ?)",
                (key, value, time.time() + ttl_s),
            )

    def close(self) -> None:
        """Close the connection (later calls raise, which the ``Cache`` treats as an outage)."""
        with self._lock:
            self._conn.close()


class DynamoDbStore:
    """A ``CacheStore`` in a DynamoDB table: the shared cache of a deployment on AWS.

    Item layout (the table svai's AWS backend creates): ``key`` (S, partition key), ``value``
    (B), ``expires_at`` (N, epoch seconds; the table's TTL attribute). DynamoDB deletes expired
    items lazily, so reads check ``expires_at`` themselves. boto3 is imported only here, when a
    deployment uses this store (the Lambda runtime provides it).
    """

    def __init__(self, table: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self._client = client
        self._table = table

    def get(self, key: str) -> bytes | None:
        """Return the live value or ``None``; errors propagate (the cache treats them as outage)."""
        item = self._client.get_item(TableName=self._table, Key={"key": {"S": key}}).get("Item")
        if not item or float(item["expires_at"]["N"]) <= time.time():
            return None
        return bytes(item["value"]["B"])

    def put(self, key: str, value: bytes, ttl_s: float) -> None:
        """Write ``key`` with its expiry."""
        self._client.put_item(
            TableName=self._table,
            Item={
                "key": {"S": key},
                "value": {"B": value},
                "expires_at": {"N": str(int(time.time() + ttl_s) + 1)},
            },
        )

    def close(self) -> None:
        """Nothing to release: boto3 clients pool their own connections."""


def is_store_url(url: str) -> bool:
    """Say whether ``url`` has a form ``open_store`` knows (checked when the config is read)."""
    return url.startswith(_STORE_PREFIXES) or url in _STORE_URLS


def open_store(url: str | None, base_dir: str | Path = ".") -> CacheStore | None:
    """Open the store named by ``cache.store``.

    * ``sqlite:///path`` (relative to ``base_dir``): the local store.
    * ``redis://[:password@]host[:port][/db]`` or ``rediss://`` (TLS): Redis, Memorystore, Azure
      Cache for Redis.
    * ``dynamodb://TABLE``, or ``dynamodb://`` for the table named by ``SVAI_CACHE_TABLE``.
    * ``firestore://``: the collection named by ``SVAI_CACHE_COLLECTION`` (GCP backend).
    * ``cosmos://``: the container named by ``SVAI_CACHE_CONTAINER`` (Azure backend).

    The backends set those variables on every service allowed to use the cache. Without them (a
    cloud build run locally by ``svai serve``) there is no shared store: the LRU serves alone.

    Raises:
        ConfigError: an unknown scheme.
    """
    if url is None:
        return None
    env = os.environ
    if url.startswith("sqlite:///"):
        return SqliteStore(Path(base_dir, url.removeprefix("sqlite:///")))
    if url.startswith(("redis://", "rediss://")):
        from svai.runtimes.core.redis_store import RedisStore

        return RedisStore(url)
    if url.startswith("dynamodb://"):
        table = url.removeprefix("dynamodb://") or env.get("SVAI_CACHE_TABLE", "")
        return DynamoDbStore(table) if table else None
    if url == "firestore://":
        if not env.get("SVAI_CACHE_COLLECTION"):
            return None
        from svai.runtimes.cloud.gcp import FirestoreCacheStore

        return FirestoreCacheStore.from_environment(env)
    if url == "cosmos://":
        if not (env.get("SVAI_CACHE_CONTAINER") and env.get("SVAI_COSMOS_ENDPOINT")):
            return None
        from svai.runtimes.cloud.azure import CosmosCacheStore

        return CosmosCacheStore.from_environment(env)
    raise ConfigError(
        f"cache.store {url!r}: use sqlite:///path, redis://host:port, dynamodb://TABLE, "
        "firestore:// or cosmos://"
    )


class Cache:
    """The LRU plus an optional shared store, with outage handling.

    Args:
        ttl_s: how long entries live, in the LRU and in the store.
        max_entries: LRU size.
        store: the shared store, if any.
        outage_backoff_s: how long the store is skipped after it raised.
        on_error: called with each store error.
        clock: monotonic clock that times the outage backoff (injected for tests).

    Attributes:
        store_errors: how many store calls have failed (exposed as a metric).
    """

    def __init__(
        self,
        ttl_s: float,
        max_entries: int,
        store: CacheStore | None = None,
        outage_backoff_s: float = 5.0,
        on_error: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.lru = LruCache(max_entries)
        self.store = store
        self.store_errors = 0
        self._backoff = outage_backoff_s
        self._skip_until = 0.0
        self._on_error = on_error
        self._clock = clock

    def get(self, key: str) -> bytes | None:
        """Return the cached bytes (LRU first, then the store), or ``None``."""
        value: bytes | None = self.lru.get(key)
        if value is not None or not self._store_up():
            return value
        try:
            value = self.store.get(key)  # type: ignore[union-attr]
        except Exception as exc:
            self._outage(exc)
            return None
        if value is not None:
            self.lru.put(key, value, self.ttl_s)
        return value

    def put(self, key: str, value: bytes) -> None:
        """Store ``value`` in the LRU and, when it is up, the shared store."""
        self.lru.put(key, value, self.ttl_s)
        if self._store_up():
            try:
                self.store.put(key, value, self.ttl_s)  # type: ignore[union-attr]
            except Exception as exc:
                self._outage(exc)

    def _store_up(self) -> bool:
        return self.store is not None and self._clock() >= self._skip_until

    def _outage(self, exc: Exception) -> None:
        self.store_errors += 1
        self._skip_until = self._clock() + self._backoff
        if self._on_error is not None:
            self._on_error(exc)

    def close(self) -> None:
        """Close the shared store, ignoring errors."""
        if self.store is not None:
            # closing a broken store must not fail shutdown
            with contextlib.suppress(Exception):
                self.store.close()
