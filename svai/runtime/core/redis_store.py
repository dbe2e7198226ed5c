"""A ``CacheStore`` in Redis (Memorystore, Azure Cache for Redis, a local server), over RESP.

Two commands are all a cache needs, so this speaks the Redis protocol (RESP2) over a socket
instead of importing a client library: ``SET key value PX ttl_ms`` and ``GET key``. Redis expires
keys itself, so nothing is checked on read. Each thread keeps its own connection (requests run
on worker threads and one connection carries one command at a time); a connection that fails is
closed and the error raised, which the core's :class:`~svai.runtime.core.cache.Cache` treats as
an outage (no cache for a while, never a request error). The next call reconnects.

URL: ``redis://[[user]:password@]host[:port][/db]``; ``rediss://`` speaks TLS (Memorystore and
Azure Cache for Redis require it). Keys are namespaced ``svai:`` so a shared server stays tidy.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from svai.runtime.core.errors import ConfigError

__all__ = ["RedisError", "RedisStore"]

_PREFIX = b"svai:"
_TIMEOUT_S = 0.5  # a cache that answers slower than this is worse than none


class RedisError(Exception):
    """Redis answered with an error, or spoke something that is not RESP."""


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


def _command(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


class _Connection:
    """One socket speaking RESP2, with a read buffer."""

    def __init__(self, target: _Target) -> None:
        self.sock = socket.create_connection((target.host, target.port), timeout=_TIMEOUT_S)
        self.buf = bytearray()
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if target.tls:
                import ssl  # only for rediss://: it costs ~10 ms to import

                context = ssl.create_default_context()
                self.sock = context.wrap_socket(self.sock, server_hostname=target.host)
            if target.password is not None:
                user = (target.username.encode(),) if target.username else ()
                self.call(b"AUTH", *user, target.password.encode())
            if target.db:
                self.call(b"SELECT", str(target.db).encode())
        except BaseException:
            self.sock.close()  # a refused handshake leaves no open socket behind
            raise

    def call(self, *args: bytes) -> bytes | None:
        """Send one command and return its reply (bulk string, status, or ``None`` for nil)."""
        self.sock.sendall(_command(*args))
        return self._reply()

    def _line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[: end + 2]
                return line
            self._fill()

    def _fill(self) -> None:
        chunk = self.sock.recv(65_536)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buf += chunk

    def _reply(self) -> bytes | None:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RedisError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return rest
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            while len(self.buf) < size + 2:
                self._fill()
            value = bytes(self.buf[:size])
            del self.buf[: size + 2]
            return value
        raise RedisError(f"unexpected reply {line[:40]!r}")

    def close(self) -> None:
        self.sock.close()


class RedisStore:
    """A shared cache in Redis; see the module docstring.

    Args:
        url: ``redis://`` or ``rediss://`` URL of the server.
    """

    def __init__(self, url: str) -> None:
        self._target = _parse(url)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[_Connection] = []

    def _call(self, *args: bytes) -> bytes | None:
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _Connection(self._target)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        try:
            return conn.call(*args)
        except (OSError, RedisError, ValueError):
            self._drop(conn)
            raise

    def _drop(self, conn: _Connection) -> None:
        self._local.conn = None
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        conn.close()

    def get(self, key: str) -> bytes | None:
        """Return the value, or ``None`` when absent or expired; raise on outage."""
        return self._call(b"GET", _PREFIX + key.encode())

    def put(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store ``value`` for ``ttl_s`` seconds (at least 1 ms); raise on outage."""
        ttl_ms = str(max(1, round(ttl_s * 1000))).encode()
        self._call(b"SET", _PREFIX + key.encode(), value, b"PX", ttl_ms)

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
