"""The Redis cache store against a real ``redis-server`` on 127.0.0.1 (Debian's package).

CI installs the server (``.ci/run``) and sets ``SVAI_REQUIRE_REDIS=1``, so there a missing
server fails the run instead of skipping these tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from store_doubles import CountingStore, ManualClock

from svai.runtime.core import Service
from svai.runtime.core.cache import Cache, open_store
from svai.runtime.core.errors import ConfigError
from svai.runtime.core.redis_store import RedisError, RedisStore

SERVER = shutil.which("redis-server")


@dataclass
class Redis:
    port: int
    password: str | None
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(tmp: Path, port: int, password: str | None) -> Redis:
    if SERVER is None:
        if os.environ.get("SVAI_REQUIRE_REDIS"):
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    args = [SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp)]
    args += ["--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"]
    if password:
        args += ["--requirepass", password]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return Redis(port, password, process)
        except OSError:
            time.sleep(0.02)
    process.kill()
    pytest.fail("redis-server did not start")


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Redis]:
    server = _start(tmp_path, _free_port(), "s3cret pass")
    yield server
    server.process.kill()
    server.process.wait()


def _ask(redis: Redis, *commands: str) -> list[bytes]:
    """Send inline commands on a fresh authenticated connection; return one reply line each.

    Reads until every reply has arrived (integer and status replies are one line each), so no
    sleep is needed; the socket timeout bounds the wait.
    """
    lines = [f'AUTH "{redis.password}"', *commands]
    with socket.create_connection(("127.0.0.1", redis.port), timeout=10) as raw:
        raw.sendall("".join(f"{line}\r\n" for line in lines).encode())
        buf = b""
        while buf.count(b"\r\n") < len(lines):
            chunk = raw.recv(4096)
            assert chunk, "redis closed the connection"
            buf += chunk
    return buf.split(b"\r\n")[1 : len(lines)]


def test_values_round_trip_and_expire(redis: Redis) -> None:
    store = RedisStore(redis.url)
    payload = bytes(range(256)) + b"\r\n$-1\r\n"  # binary, with RESP's own delimiters inside
    assert store.get("k") is None
    store.put("k", payload, ttl_s=30.9)
    assert store.get("k") == payload
    # Redis holds the TTL in milliseconds, as given (it expires the key itself).
    assert 30_000 < int(_ask(redis, "PTTL svai:k")[0][1:]) <= 30_900
    store.put("long", b"x" * 1_000_000, ttl_s=60)  # bigger than one recv
    assert store.get("long") == b"x" * 1_000_000
    store.put("zero", b"v", ttl_s=0)  # Redis refuses PX 0: the store asks for 1 ms instead
    # Expire "k" now, as Redis does when its TTL runs out: the store then reads a miss.
    assert _ask(redis, "PEXPIREAT svai:k 1") == [b":1"]
    assert store.get("k") is None
    assert store.get("long") == b"x" * 1_000_000
    store.close()


def test_keys_are_namespaced_and_the_database_is_selected(redis: Redis) -> None:
    RedisStore(redis.url.replace("/0", "/3")).put("k", b"three", ttl_s=60)
    assert RedisStore(redis.url).get("k") is None
    assert RedisStore(redis.url.replace("/0", "/3")).get("k") == b"three"
    assert _ask(redis, "SELECT 3", "EXISTS svai:k") == [b"+OK", b":1"]


def test_a_wrong_password_is_an_error_not_a_value(redis: Redis) -> None:
    store = RedisStore(f"redis://:wrong@127.0.0.1:{redis.port}")
    refused = []  # kept alive, as a caller's error handling might: it must not pin a socket
    for _ in range(5):
        with pytest.raises(RedisError, match=r"WRONGPASS|invalid") as caught:
            store.get("k")
        refused.append(caught.value)
    # Each refused handshake closed its socket: only the checking connection stays connected.
    raw = socket.create_connection(("127.0.0.1", redis.port))
    deadline = time.monotonic() + 5
    while True:
        raw.sendall(b'AUTH "s3cret pass"\r\nCLIENT LIST\r\n')
        time.sleep(0.05)
        clients = raw.recv(65_536).count(b"id=")
        if clients == 1 or time.monotonic() > deadline:
            break
    raw.close()
    assert clients == 1


def test_threads_share_the_store_safely(redis: Redis) -> None:
    store = RedisStore(redis.url)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(200):
                store.put(f"{n}-{i}", f"{n}:{i}".encode(), ttl_s=60)
                assert store.get(f"{n}-{i}") == f"{n}:{i}".encode()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store.close()


def test_an_outage_degrades_to_no_cache_and_recovers(redis: Redis, tmp_path: Path) -> None:
    store = open_store(redis.url)
    assert isinstance(store, RedisStore)
    counting, clock = CountingStore(store), ManualClock()
    cache = Cache(ttl_s=60, max_entries=1, store=counting, outage_backoff_s=0.2, clock=clock)
    cache.put("a", b"1")
    cache.put("z", b"26")  # the one-entry LRU now holds z: reads of a go to Redis
    assert cache.get("a") == b"1"
    cache.put("z", b"26")
    redis.process.kill()
    redis.process.wait()
    tried = len(counting.calls)
    assert cache.get("a") is None  # an outage is a miss, not an error
    assert cache.store_errors == 1
    cache.put("b", b"2")  # and a write is dropped quietly
    # The failed read was one store call; within the backoff the write never reached it.
    assert counting.calls[tried:] == ["get"] and cache.store_errors == 1
    revived = _start(tmp_path, redis.port, redis.password)
    try:
        clock.advance(0.25)  # past the outage backoff: the store is tried again, reconnecting
        cache.put("c", b"3")
        assert cache.get("c") == b"3"
        assert store.get("c") == b"3"
    finally:
        revived.process.kill()
        revived.process.wait()


@pytest.mark.parametrize(
    "url",
    ["redis://", "redis://host/db", "redis://host:99999", "http://host"],
)
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        RedisStore(url)


def test_svai_cache_store_points_a_built_service_at_redis(
    redis: Redis,
    make_artifact: Callable[..., Path],
    new_service: Callable[..., Service],
    digits: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No store in the artifact's config: the environment names the shared one.
    config = make_artifact({"cache": {"ttl_s": 60, "max_entries": 1}})
    monkeypatch.setenv("SVAI_CACHE_STORE", redis.url)
    service = new_service(config)
    service.load()
    try:
        assert isinstance(service._store, RedisStore)
        rows = [[float(v) for v in row] for row in digits.x_test[:3]]
        first = service.predict({"inputs": rows[:1]})
        service.predict({"inputs": rows[1:2]})  # evicts the first from the one-entry LRU
        again = service.predict({"inputs": rows[:1]})  # served from Redis
        assert again.outputs_json == first.outputs_json
        assert service.cache is not None and service.cache.store_errors == 0
        assert _ask(redis, "DBSIZE") == [b":2"]  # one key per distinct input
    finally:
        service.close()
    monkeypatch.setenv("SVAI_CACHE_STORE", "memcached://127.0.0.1")
    with pytest.raises(ConfigError, match=r"cache\.store"):
        new_service(config).load()
