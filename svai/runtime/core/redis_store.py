"""A ``CacheStore`` in Redis (Memorystore, Azure Cache for Redis, a local server), over redis-py.

Two commands are all a cache needs: ``SET key value PX ttl_ms`` and ``GET key``; Redis expires
keys itself, so nothing is checked on read. redis-py keeps a thread-safe pool of connections
(requests run on worker threads, and a connection carries one command at a time). A failure
is raised at once, with no retry: the core's :class:`~svai.runtime.core.cache.Cache` treats it
as an outage (no cache for a while, never a request error), and the next call reconnects.

``import redis`` costs more than the rest of the runtime core (``bench/bench_http.py`` measures
it), so this module is imported only when a ``redis://`` store is opened, on the thread that
loads the model, never on the path that opens the server's port.

URL: ``redis://[[user]:password@]host[:port][/db]``; ``rediss://`` speaks TLS (Memorystore and
Azure Cache for Redis require it). Keys are namespaced ``svai:`` so a shared server stays tidy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from svai.runtime.core.errors import ConfigError

__all__ = ["RedisError", "RedisStore"]

_PREFIX = b"svai:"
_TIMEOUT_S = 0.5  # a cache that answers slower than this is worse than none


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    tls: bool


def _parse(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ConfigError(f"cache.store {url!r}: expected redis://host[:port][/db]")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ConfigError(f"cache.store {url!r}: the database must be a number (/0)")
    try:
        port = parts.port or 6379
    except ValueError:
        raise ConfigError(f"cache.store {url!r}: bad port") from None
    return _Target(
        host=parts.hostname,
        port=port,
        db=int(path or 0),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=parts.scheme == "rediss",
    )


class RedisStore:
    """A shared cache in Redis; see the module docstring.

    Args:
        url: ``redis://`` or ``rediss://`` URL of the server.

    Raises:
        ConfigError: The URL is not a Redis URL.
    """

    def __init__(self, url: str) -> None:
        target = _parse(url)
        self._client = redis.Redis(
            host=target.host,
            port=target.port,
            db=target.db,
            username=target.username,
            password=target.password,
            ssl=target.tls,
            socket_timeout=_TIMEOUT_S,
            socket_connect_timeout=_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),  # the cache's outage backoff decides when to retry
        )

    def get(self, key: str) -> bytes | None:
        """Return the value, or ``None`` when absent or expired; raise on outage."""
        return cast("bytes | None", self._client.get(_PREFIX + key.encode()))

    def put(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store ``value`` for ``ttl_s`` seconds (at least 1 ms); raise on outage."""
        self._client.set(_PREFIX + key.encode(), value, px=max(1, round(ttl_s * 1000)))

    def close(self) -> None:
        """Close every connection this store opened."""
        self._client.close()
