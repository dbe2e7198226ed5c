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
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from svai.runtime.core.errors import ConfigError

__all__ = [
    "LOCAL_STORES",
    "Cache",
    "CacheStore",
    "LruCache",
    "SqliteStore",
    "StoreOpener",
    "cache_key",
    "is_store_url",
    "open_redis",
    "open_sqlite",
    "open_store",
]

StoreOpener = Callable[[str, Path], "CacheStore | None"]
"""Opens a ``cache.store`` URL (relative paths against the artifact folder); ``None``: no store.

A store that needs settings the process does not have (a cloud build run locally by
``svai serve``) opens as ``None``, and the in-process LRU serves alone."""


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

    def __len__(self) -> int:
        return len(self._data)


_SQLITE_SETUP = (
    "PRAGMA journal_mode=WAL",  # readers in other processes do not block the writer
    "PRAGMA busy_timeout=200",
    "CREATE TABLE IF NOT EXISTS svai_cache "
    "(key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL NOT NULL)",
)
_SQLITE_GET = "SELECT value FROM svai_cache WHERE key = ? AND expires > ?"
_SQLITE_PUT = "INSERT OR REPLACE INTO svai_cache (key, value, expires) VALUES (?, ?, ?)"


class SqliteStore:
    """A ``CacheStore`` in one SQLite file (WAL), shared by the processes of one machine."""

    def __init__(self, path: str | Path) -> None:
        import sqlite3

        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            for statement in _SQLITE_SETUP:
                self._conn.execute(statement)

    def get(self, key: str) -> bytes | None:
        """Return the live value or ``None``."""
        with self._lock:
            row = self._conn.execute(_SQLITE_GET, (key, time.time())).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, key: str, value: bytes, ttl_s: float) -> None:
        """Insert or replace ``key``."""
        with self._lock:
            self._conn.execute(_SQLITE_PUT, (key, value, time.time() + ttl_s))

    def close(self) -> None:
        """Close the connection (later calls raise, which the ``Cache`` treats as an outage)."""
        with self._lock:
            self._conn.close()


def is_store_url(url: str) -> bool:
    """Say whether ``url`` looks like a store URL (``scheme://...``); checked when the config is read.

    Which schemes exist is the entry point's table (``svai.runtime.entry.stores``), so the core
    never imports a cloud client; an unknown scheme is refused when the service opens it.
    """
    scheme, sep, _ = url.partition("://")
    return bool(sep) and scheme.isascii() and scheme.isalpha() and scheme.islower()


def open_sqlite(url: str, base_dir: Path) -> CacheStore:
    """Open ``sqlite:///path`` (relative to ``base_dir``): the local store."""
    return SqliteStore(Path(base_dir, url.removeprefix("sqlite:///")))


def open_redis(url: str, base_dir: Path) -> CacheStore:
    """Open ``redis://[:password@]host[:port][/db]`` or ``rediss://`` (TLS)."""
    from svai.runtime.core.redis_store import RedisStore

    return RedisStore(url)


LOCAL_STORES: Mapping[str, StoreOpener] = {
    "sqlite": open_sqlite,
    "redis": open_redis,
    "rediss": open_redis,
}
"""The stores the core opens by itself; the entry points add the clouds' (``entry.stores``)."""


def open_store(
    url: str | None, base_dir: str | Path = ".", openers: Mapping[str, StoreOpener] = LOCAL_STORES
) -> CacheStore | None:
    """Open the store named by ``cache.store`` with the opener of its scheme.

    Args:
        url: The store URL, or ``None`` for no shared store.
        base_dir: The artifact folder (relative ``sqlite:///`` paths resolve against it).
        openers: Scheme -> opener; the entry point passes every store its platform can reach.

    Raises:
        ConfigError: a scheme with no opener.
    """
    if url is None:
        return None
    scheme = url.partition("://")[0]
    opener = openers.get(scheme)
    if opener is None:
        known = ", ".join(f"{name}://" for name in sorted(openers))
        raise ConfigError(f"cache.store {url!r}: unknown store; use one of {known}")
    return opener(url, Path(base_dir))


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
