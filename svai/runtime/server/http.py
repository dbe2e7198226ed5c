"""A small threaded HTTP/1.1 server, built for cold start and for handing work to threads.

Why not an ASGI stack: FastAPI + uvicorn cost ~0.34 s of imports before the model even starts
loading, and an async handler that runs inference inline halves throughput. Why not asyncio:
``import asyncio`` pulls in ``ssl`` and costs more at start-up than this whole server, and its
event loop adds a self-pipe wake-up per response. Here each connection gets a thread that reads
requests with blocking sockets and parses them with llhttp (``httptools``, see
:mod:`svai.runtime.server.wire` for what the parser refuses); ``Service.submit`` runs the
prediction on a worker thread (the core's deadline watcher needs the request off the connection
thread to answer 504 for a hung model) and the connection thread writes the response.
``bench/bench_server.py`` and ``bench/bench_http.py`` measure the choice.

What it speaks: HTTP/1.1 with keep-alive (and pipelining, answered in order), ``Content-Length``
and ``chunked`` bodies, ``Expect: 100-continue``, HTTP/1.0 with ``Connection: keep-alive``.
``TCP_NODELAY`` is on for every connection (without it each small response waits ~40 ms).

Limits, on every route and method: a body over the limit is refused with 413 as soon as the
headers say so (the rest is read and dropped, never buffered, for a moment so the client sees
the answer instead of a reset; then the connection closes); a head over 64 KiB gets 431. A
client has ``server.header_timeout_s`` from its request's first byte (from the connection's
start for the first request) to send the headers, then gets 408; a body that stalls for
``READ_TIMEOUT_S`` gets 408 too. At most ``server.max_connections`` connections are open (one
thread each): past it, idle keep-alive connections are closed to make room, else new ones wait
in the listen backlog. Idle keep-alive connections close after ``IDLE_TIMEOUT_S``.

Drain (``begin_drain``, then ``wait_drained``) loses no request: the listening socket closes
first (after accepting what the kernel had already queued, which closing would reset), so a
client that reconnects is refused rather than cut off; every request already in flight or
arriving on an open connection within ``DRAIN_IDLE_S`` is answered with ``Connection: close``;
a connection idle for that long is closed.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from svai.runtime.core import Request, Response, Service
from svai.runtime.core.errors import PayloadTooLargeError, RequestError
from svai.runtime.server.wire import (
    Message,
    Reject,
    RequestReader,
    encode_response,
    load_parser,
)

__all__ = ["HttpServer", "Routes"]

IDLE_TIMEOUT_S = 620.0  # above the 600 s idle timeout of Google's and AWS's load balancers
READ_TIMEOUT_S = 30.0
DRAIN_IDLE_S = 1.0
_LINGER_S = 2.0
_RECV = 65_536
_POLL_IN = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR
_SEND_TIMEOUT = struct.pack("ll", int(READ_TIMEOUT_S), 0)  # struct timeval for SO_SNDTIMEO


class Routes:
    """The URL map: prediction routes (POST) and health routes (GET).

    Args:
        health_route: extra readiness route (Vertex ``AIP_HEALTH_ROUTE``, default ``/health``).
        predict_route: extra prediction route (Vertex ``AIP_PREDICT_ROUTE``, default ``/predict``).
    """

    def __init__(self, health_route: str = "/health", predict_route: str = "/predict") -> None:
        # Every prediction route takes both {"inputs": ...} and Vertex {"instances": [...]}
        # bodies ("auto"); /invocations is SageMaker's, /score Azure ML's.
        self.predict = {p: "auto" for p in ("/predict", "/v1/predict", "/invocations", "/score")}
        self.predict[predict_route] = "auto"
        self.ready = {"/readyz", "/ping", health_route}
        self.live = {"/healthz"}
        # Routes a queue attachment adds (e.g. Pub/Sub push): (method, headers, body) -> Response.
        self.handlers: dict[str, Callable[[str, Mapping[str, str], bytes], Response]] = {}
        # Routes that write their own answer to the socket, token by token (the OpenAI routes):
        # (method, headers, body, socket, keep-alive) -> whether the connection stays open.
        self.streams: dict[
            str, Callable[[str, Mapping[str, str], bytes, socket.socket, bool], bool]
        ] = {}
        # Which stream route a prediction route's body is for (a managed endpoint passes one
        # path; svai.runtime.server.platform), or None: no such routing.
        self.by_body: Callable[[bytes], str | None] | None = None


def envelope_limit(max_body: int) -> int:
    """Body limit of an attachment's route: a job of ``max_body`` bytes, base64 in an envelope."""
    return max_body * 4 // 3 + 65_536


class HttpServer:
    """Listen, accept, and run one thread per connection.

    Args:
        service: the runtime core service (may still be loading).
        routes: the URL map.
        host: address to bind.
        port: port to bind (0 picks a free one; see ``port``).

    Raises:
        OSError: the address cannot be bound (in use, not local, no permission).
    """

    def __init__(self, service: Service, routes: Routes, host: str, port: int) -> None:
        self.service = service
        self.routes = routes
        self.version = "".join(c for c in service.version if c.isprintable())
        server = service.cfg.server
        self.max_body = service.cfg.api.max_payload_bytes
        self.max_connections = server.max_connections
        self.header_timeout_s = server.header_timeout_s
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.create_server((host, port), family=family, backlog=1024)
        self.sock.setblocking(False)  # accept() runs only once poll() says one is queued
        self.port: int = self.sock.getsockname()[1]
        self.draining = False
        self._stopping = False
        self._accepting = False
        self._listener_closed = threading.Event()
        self._stop_r, self._stop_w = os.pipe()
        self._drain_r, self._drain_w = os.pipe()
        self._lock = threading.Condition()  # guards the connection table; notified on changes
        self._open = 0  # connection slots taken: open connections and the one being accepted
        self._conns: set[socket.socket] = set()
        self._idle: set[socket.socket] = set()  # waiting for their next request: reclaimable

    # -- lifecycle -------------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Accept connections until ``begin_drain``; then close the listening socket."""
        self._accepting = True
        load_parser()  # the parser's import happens here, after the port is open
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        poller.register(self._stop_r, select.POLLIN)
        try:
            while self._take_slot():
                poller.poll()
                if self._stopping:
                    self._release_slot()
                    break
                try:
                    conn, _ = self.sock.accept()
                except (BlockingIOError, InterruptedError):
                    self._release_slot()
                    continue
                except OSError:
                    self._release_slot()
                    time.sleep(0.01)  # EMFILE and friends: back off instead of spinning
                    continue
                self._start(conn)
        finally:
            self._close_listener()

    def begin_drain(self) -> None:
        """Stop accepting and report not ready; open connections get their answers (see above)."""
        self.service.begin_drain()
        self._stopping = True
        os.write(self._stop_w, b"x")
        with self._lock:
            self._lock.notify_all()  # the accept thread may be waiting for a free slot
        if not self._accepting:
            self._close_listener()
        self._listener_closed.wait(5.0)

    def wait_drained(self, timeout_s: float) -> bool:
        """Wait until every connection has closed (or ``timeout_s``); then close the rest."""
        with self._lock:
            done = self._lock.wait_for(lambda: self._open == 0, timeout_s)
            conns = list(self._conns)
        for c in conns:
            _shutdown(c)
        if done:
            for fd in (self._stop_r, self._stop_w, self._drain_r, self._drain_w):
                os.close(fd)
        return done

    # -- accepting ---------------------------------------------------------------------------

    def _take_slot(self) -> bool:
        """Reserve a connection slot, closing an idle connection if all are taken."""
        with self._lock:
            while self._open >= self.max_connections and not self._stopping:
                if self._idle:
                    _shutdown(self._idle.pop())  # its thread ends and frees the slot
                self._lock.wait(0.05)
            if self._stopping:
                return False
            self._open += 1
            return True

    def _release_slot(self) -> None:
        with self._lock:
            self._open -= 1
            self._lock.notify_all()

    def _start(self, conn: socket.socket) -> None:
        """Serve ``conn`` on a thread of its own (its slot is already taken)."""
        conn.setblocking(True)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A client that stops reading cannot hold a thread in sendall() forever.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _SEND_TIMEOUT)
        with self._lock:
            self._conns.add(conn)
        accepted = time.monotonic()
        threading.Thread(target=self._run, args=(conn, accepted), daemon=True).start()

    def _close_listener(self) -> None:
        if self._listener_closed.is_set():
            return
        # Closing a listening socket resets the connections the kernel has already queued:
        # accept them first, so that their requests are answered.
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                break
            with self._lock:
                self._open += 1  # over the cap if need be: these are answered, not reset
            self._start(conn)
        self.sock.close()
        self.draining = True
        os.write(self._drain_w, b"x")
        self._listener_closed.set()

    # -- one connection ----------------------------------------------------------------------

    def _run(self, sock: socket.socket, accepted: float) -> None:
        try:
            self._serve_connection(sock, accepted)
        except OSError:
            pass  # the peer reset the connection, or drain closed it
        finally:
            with self._lock:
                self._conns.discard(sock)
                self._idle.discard(sock)
                self._open -= 1
                self._lock.notify_all()
            sock.close()

    def _serve_connection(self, sock: socket.socket, accepted: float) -> None:
        reader = RequestReader(self._head_check, sock.sendall)
        # The socket blocks; every wait is a poll with the deadline that applies. Between
        # requests the drain signal wakes the wait too.
        reading = select.poll()
        reading.register(sock, _POLL_IN)
        waiting = select.poll()
        waiting.register(sock, _POLL_IN)
        waiting.register(self._drain_r, select.POLLIN)
        deadline = accepted + self.header_timeout_s
        served = False
        while True:
            if reader.state == "idle":
                wait = IDLE_TIMEOUT_S if served else deadline - time.monotonic()
                outcome = self._await_request(sock, waiting, wait, reclaimable=served)
                if outcome != "data":
                    if outcome == "timeout" and not served:
                        self._reject(sock, Reject(408, "request_timeout", "no request in time"))
                    return
                if served:
                    deadline = time.monotonic() + self.header_timeout_s
            else:
                left = READ_TIMEOUT_S if reader.state == "body" else deadline - time.monotonic()
                if left <= 0 or not reading.poll(left * 1000):
                    self._reject(
                        sock, Reject(408, "request_timeout", "request not received in time")
                    )
                    return
            data = sock.recv(_RECV)
            if not data:
                return
            error: RequestError | None = None
            try:
                reader.feed(data)
            except RequestError as exc:
                error = exc
            for msg in reader.take():
                if not self._respond(sock, msg):
                    return
                served = True
                if reader.state != "idle":  # the next request's head came with this one
                    deadline = time.monotonic() + self.header_timeout_s
            if error is not None:
                self._reject(sock, error)
                return

    def _await_request(
        self, sock: socket.socket, waiting: select.poll, wait_s: float, *, reclaimable: bool
    ) -> str:
        """Wait for a request's first byte: ``"data"``, ``"timeout"`` or ``"drain"``."""
        idle = self._idle
        if reclaimable:
            idle.add(sock)  # set.add and set.discard are atomic: no lock on the hot path
        events = waiting.poll(max(0.0, wait_s) * 1000)
        if reclaimable:
            idle.discard(sock)
        if not events:
            return "timeout"
        if len(events) > 1 or events[0][0] != self._drain_r:
            return "data"
        # Draining: a client that just had an answer may be sending its next request now.
        waiting.unregister(self._drain_r)
        return "data" if waiting.poll(DRAIN_IDLE_S * 1000) else "drain"

    def _head_check(self, msg: Message) -> int:
        """The route's limit and early checks, run before a body byte is read."""
        path = msg.path
        limit = envelope_limit(self.max_body) if path in self.routes.handlers else self.max_body
        if msg.content_length is not None and msg.content_length > limit:
            raise PayloadTooLargeError(
                f"body of {msg.content_length} bytes exceeds the limit of {limit}"
            )
        if msg.method == "POST" and path in self.routes.predict:
            self.service.check_headers(msg.headers.get("content-type"), msg.content_length)
        return limit

    def _respond(self, sock: socket.socket, msg: Message) -> bool:
        """Answer one request; return whether the connection stays open."""
        path = msg.path
        if self.routes.by_body is not None and msg.method == "POST" and path in self.routes.predict:
            path = self.routes.by_body(msg.body) or path
        stream = self.routes.streams.get(path)
        if stream is not None:
            keep = msg.keep_alive and not self.draining
            return stream(msg.method, msg.headers, msg.body, sock, keep) and not self.draining
        response = self._dispatch(msg.method, msg.path, msg.headers, msg.body)
        keep_alive = msg.keep_alive and not self.draining
        sock.sendall(encode_response(response, keep_alive))
        return keep_alive

    def _dispatch(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        service = self.service
        routes = self.routes
        protocol = routes.predict.get(path)
        if protocol is not None:
            if method != "POST":
                return self._json(405, {"error": {"code": "method_not_allowed"}}, allow="POST")
            return service.submit(
                Request(body, headers.get("content-type"), headers, protocol)
            ).result()
        handler = routes.handlers.get(path)
        if handler is not None:
            if self.draining:
                return self._json(503, {"status": "draining"}, **{"retry-after": "1"})
            return handler(method, headers, body)
        known = path in routes.ready or path in routes.live
        if method != "GET":
            if known:
                return self._json(405, {"error": {"code": "method_not_allowed"}}, allow="GET")
            return self._json(404, {"error": {"code": "not_found", "message": path}})
        if path in routes.live:
            return self._json(200, {"status": "alive"})
        if path in routes.ready:
            if service.ready and not self.draining:
                return self._json(200, {"status": "ready", "model_version": self.version})
            return self._json(503, {"status": "not ready"}, **{"retry-after": "1"})
        return self._json(404, {"error": {"code": "not_found", "message": path}})

    def _json(self, status: int, body: Any, **headers: str) -> Response:
        return Response(
            status, json.dumps(body).encode(), {"x-svai-model-version": self.version, **headers}
        )

    def _reject(self, sock: socket.socket, exc: RequestError) -> None:
        """Answer a refused request, then drop whatever the client still sends."""
        response = self.service.error_response(exc, self.service.request_id({}))
        sock.sendall(encode_response(response, keep_alive=False))
        # Half-close and read (and drop) for a moment: closing with unread data would send a
        # reset that can destroy the response before the client has read it.
        try:
            sock.shutdown(socket.SHUT_WR)
            end = time.monotonic() + _LINGER_S
            sock.settimeout(0.2)
            while time.monotonic() < end:
                try:
                    if not sock.recv(_RECV):
                        break
                except TimeoutError:
                    continue
        except OSError:
            pass


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer
        sock.shutdown(socket.SHUT_RDWR)
