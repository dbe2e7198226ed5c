"""Hostile HTTP against the container server on 127.0.0.1, over raw sockets.

Each test is one finding of the attacker's pass of issue #13: limits on every route and method
before a body byte is read, RFC 9112's Content-Length and chunk-size grammar, a head size limit,
a deadline for headers, a cap on connections.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import pytest
from raw_http import raw_exchange, read_responses

LIMITED = {"api": {"max_payload_bytes": 10_000}}
HOST = b"Host: x\r\n"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/predict"),
        ("DELETE", "/predict"),
        ("POST", "/healthz"),
        ("GET", "/readyz"),
        ("PUT", "/nowhere"),
        ("POST", "/predict"),
    ],
)
def test_a_body_over_the_limit_is_413_on_every_route_and_method(
    make_artifact: Any, serve: Any, method: str, path: str
) -> None:
    with serve(make_artifact(LIMITED)) as s:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 100000000\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
            sock.sendall(head + b"[" * 4096)  # 4 KB of a declared 100 MB, then silence
            got = read_responses(sock, 5.0)
        assert [g[0] for g in got] == [413]
        assert got[0][1]["connection"] == "close"
        assert json.loads(got[0][2])["error"]["code"] == "payload_too_large"


def test_a_chunked_body_over_the_limit_is_413_on_any_route(make_artifact: Any, serve: Any) -> None:
    with serve(make_artifact(LIMITED)) as s:
        for path in (b"/predict", b"/healthz"):
            chunked = (
                b"GET " + path + b" HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
                b"2000\r\n" + b"[" * 0x2000 + b"\r\n" + b"2000\r\n" + b"[" * 0x2000 + b"\r\n"
            )
            got = raw_exchange(s.port, chunked, timeout=5.0)
            assert [g[0] for g in got] == [413], path


@pytest.mark.parametrize("size", [b"-2faf080", b"0x10", b"1_0", b"+10", b" 10", b"10 ", b""])
def test_chunk_sizes_follow_the_rfc_9112_grammar(
    make_artifact: Any, serve: Any, size: bytes
) -> None:
    body = b'{"inputs":[[1]]}'  # 0x10 bytes of valid JSON: read as a chunk, it would be a 422
    with serve(make_artifact(LIMITED)) as s:
        chunked = (
            b"POST /predict HTTP/1.1\r\n" + HOST + b"Content-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + size + b"\r\n" + body + b"\r\n0\r\n\r\n"
        )
        got = raw_exchange(s.port, chunked, timeout=5.0)
        assert [g[0] for g in got] == [400]


@pytest.mark.parametrize("length", ["¹", "²", "+5", "5, 5", "0x5", "5.0", "-5", ""])
def test_content_length_follows_the_rfc_9112_grammar(
    make_artifact: Any, serve: Any, length: str
) -> None:
    with serve(make_artifact(LIMITED)) as s:
        raw = (
            b"POST /predict HTTP/1.1\r\n" + HOST + b"Content-Type: application/json\r\n"
            b"Content-Length: " + length.encode("latin-1") + b"\r\n\r\n{}   "
        )
        got = raw_exchange(s.port, raw, timeout=5.0)
        assert [g[0] for g in got] == [400]


def test_a_bare_lf_request_is_answered_not_left_hanging(make_artifact: Any, serve: Any) -> None:
    with serve(make_artifact()) as s:
        got = raw_exchange(s.port, b"GET /healthz HTTP/1.1\nHost: x\n\n", timeout=5.0)
        assert [g[0] for g in got] == [400]


def test_a_head_over_64_kib_is_431(make_artifact: Any, serve: Any) -> None:
    with serve(make_artifact()) as s:
        for size in (70_000, 300_000):
            raw = b"GET /healthz HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * size + b"\r\n\r\n"
            got = raw_exchange(s.port, raw, timeout=5.0)
            assert [g[0] for g in got] == [431], size
        many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(3000))
        got = raw_exchange(s.port, b"GET /healthz HTTP/1.1\r\n" + many + b"\r\n", timeout=5.0)
        assert [g[0] for g in got] == [431]
        assert s.request("GET", "/healthz")[0] == 200  # a head just under the limit is fine


def test_slow_headers_get_408(make_artifact: Any, serve: Any) -> None:
    with serve(make_artifact({"server": {"header_timeout_s": 0.5}})) as s:
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")  # and never the rest
            got = read_responses(sock, 10.0)
        assert [g[0] for g in got] == [408]
        assert got[0][1]["connection"] == "close"
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            assert [g[0] for g in read_responses(sock, 10.0)] == [408]  # nothing at all
        # A keep-alive connection's next request gets its own deadline, from its first byte.
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert [g[0] for g in read_responses(sock, 10.0)] == [200]
            time.sleep(0.7)  # idle between requests: not a slow head
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert [g[0] for g in read_responses(sock, 10.0)] == [200]


def test_connections_are_capped_and_slow_clients_do_not_take_a_thread_each(
    make_artifact: Any, serve: Any
) -> None:
    cfg = {"server": {"max_connections": 4, "header_timeout_s": 1.0}}
    with serve(make_artifact(cfg)) as s:
        before = threading.active_count()
        slow = []
        for _ in range(40):  # a slowloris crowd: each sends half a head and waits
            sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            slow.append(sock)
        time.sleep(0.3)
        assert threading.active_count() - before <= 4
        # They are cut off at their deadline and the slots go to the clients waiting behind.
        answers = [read_responses(sock, 15.0) for sock in slow]
        assert all([g[0] for g in got] == [408] for got in answers)
        for sock in slow:
            sock.close()
        assert s.request("GET", "/healthz")[0] == 200


def test_idle_keep_alive_connections_make_room_at_the_cap(make_artifact: Any, serve: Any) -> None:
    with serve(make_artifact({"server": {"max_connections": 2}})) as s:
        idle = []
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert [g[0] for g in read_responses(sock, 10.0)] == [200]
            idle.append(sock)  # kept open, idle, as a load balancer's pool would
        status, _, out = s.request("GET", "/healthz")
        assert status == 200 and out == {"status": "alive"}
        for sock in idle:
            sock.close()


def test_pipelined_requests_before_a_refused_one_are_answered_first(
    make_artifact: Any, serve: Any
) -> None:
    with serve(make_artifact(LIMITED)) as s:
        raw = (
            b"GET /healthz HTTP/1.1\r\n" + HOST + b"\r\n"
            b"GET /healthz HTTP/1.1\r\n" + HOST + b"Content-Length: 99999999\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
            sock.sendall(raw)
            got = read_responses(sock, 5.0, expect=2)
        assert [g[0] for g in got] == [200, 413]


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /healthz HTTP/2.0\r\n\r\n",
        b"POST /predict HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nX: a\r\n  folded\r\n\r\n",
    ],
)
def test_other_malformed_heads_are_4xx_or_5xx_answers(
    make_artifact: Any, serve: Any, raw: bytes
) -> None:
    with serve(make_artifact()) as s:
        got = raw_exchange(s.port, raw, timeout=5.0)
        assert len(got) == 1 and got[0][0] in (400, 501, 505)
