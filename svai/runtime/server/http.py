"""A small threaded HTTP/1.1 server, built for cold start and for handing work to threads.

Why not an ASGI stack: FastAPI + uvicorn cost ~0.34 s of imports before the model even starts
loading, and an async handler that runs inference inline halves throughput. Why not asyncio:
``import asyncio`` pulls in ``ssl`` and costs more at start-up than this whole server, and its
event loop adds a self-pipe wake-up per response. Here each connection gets a thread that reads
and parses requests with blocking sockets; ``Service.submit`` runs the prediction on a worker
thread (the core's deadline watcher needs the request off the connection thread to answer 504
for a hung model) and the connection thread writes the response. ``bench/bench_server.py``
measures the choice.

What it speaks: HTTP/1.1 with keep-alive (and pipelining, answered in order), ``Content-Length``
and ``chunked`` bodies, ``Expect: 100-continue``, HTTP/1.0 with ``Connection: keep-alive``.
``TCP_NODELAY`` is on for every connection (without it each small response waits ~40 ms).
A body over the limit is refused with 413 as soon as its headers arrive; the rest is read and
dropped (never buffered) for a moment so the client sees the answer instead of a reset, then the
connection closes. ``Content-Length`` together with ``Transfer-Encoding``, or two different
lengths, is a 400 (request smuggling). Idle keep-alive connections close after
``IDLE_TIMEOUT_S``; a client that stalls mid-request is cut off after ``READ_TIMEOUT_S``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from svai.runtime.core import Request, Response, Service
from svai.runtime.core.errors import NotReadyError, PayloadTooLargeError, RequestError

__all__ = ["HttpServer", "Routes"]

IDLE_TIMEOUT_S = 620.0  # above the 600 s idle timeout of Google's and AWS's load balancers
READ_TIMEOUT_S = 30.0
_MAX_HEAD = 65_536
_LINGER_S = 2.0
_REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


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


class _ClientGone(Exception):
    """The peer closed, reset or stalled; drop the connection quietly."""


class _Reject(RequestError):
    """A malformed request, answered with an error before its body is read."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class HttpServer:
    """Listen, accept, and run one thread per connection.

    Args:
        service: the runtime core service (may still be loading).
        routes: the URL map.
        host: address to bind.
        port: port to bind (0 picks a free one; see ``port``).
    """

    def __init__(self, service: Service, routes: Routes, host: str, port: int) -> None:
        self.service = service
        self.routes = routes
        self.version = "".join(c for c in service.version if c.isprintable())
        self.max_body = service.cfg.api.max_payload_bytes
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.create_server((host, port), family=family, backlog=1024)
        self.port: int = self.sock.getsockname()[1]
        self.draining = False
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._conns: dict[socket.socket, bool] = {}  # socket -> busy with a request
        self.inflight = 0

    # -- lifecycle -------------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Accept connections until ``begin_drain`` closes the listening socket."""
        while not self.draining:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                if self.draining:
                    return
                time.sleep(0.01)  # EMFILE and friends: back off instead of spinning
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns[conn] = False
            threading.Thread(target=self._serve_connection, args=(conn,), daemon=True).start()

    def begin_drain(self) -> None:
        """Stop accepting, report not ready, close idle connections; in-flight ones finish."""
        self.draining = True
        self.service.begin_drain()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.sock.close()
        with self._lock:
            idle = [c for c, busy in self._conns.items() if not busy]
        for c in idle:
            _shutdown(c)

    def wait_drained(self, timeout_s: float) -> bool:
        """Wait until no request is in flight (or ``timeout_s``); then close every connection."""
        with self._idle:
            done = self._idle.wait_for(lambda: self.inflight == 0, timeout_s)
            conns = list(self._conns)
        for c in conns:
            _shutdown(c)
        return done

    # -- one connection ----------------------------------------------------------------------

    def _serve_connection(self, sock: socket.socket) -> None:
        buf = bytearray()
        try:
            while True:
                sock.settimeout(IDLE_TIMEOUT_S)
                head = _read_head(sock, buf)
                sock.settimeout(READ_TIMEOUT_S)
                with self._lock:
                    self._conns[sock] = True
                    self.inflight += 1
                try:
                    keep_alive = self._handle(sock, head, buf)
                finally:
                    with self._lock:
                        self._conns[sock] = False
                        self.inflight -= 1
                        if self.inflight == 0:
                            self._idle.notify_all()
                if not keep_alive or self.draining:
                    break
        except (_ClientGone, OSError):
            pass
        finally:
            with self._lock:
                self._conns.pop(sock, None)
            sock.close()

    def _handle(self, sock: socket.socket, head: bytes, buf: bytearray) -> bool:
        """Serve one request; return whether the connection stays open."""
        try:
            method, target, headers, keep_alive, length, chunked = _parse_head(head)
            path = target.split("?", 1)[0]
            protocol = self.routes.predict.get(path)
            if method == "POST" and protocol is not None:
                self.service.check_headers(headers.get("content-type"), length)
                if headers.get("expect", "").lower() == "100-continue":
                    sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = _read_chunked(sock, buf, self.max_body) if chunked else _read(sock, buf, length)
        except RequestError as exc:  # malformed, too large or the wrong media type
            self._reject(sock, exc, head)
            return False
        keep_alive = keep_alive and not self.draining
        response = self._dispatch(method, path, protocol, headers, body)
        _send(sock, response, keep_alive)
        return keep_alive

    def _dispatch(
        self,
        method: str,
        path: str,
        protocol: str | None,
        headers: dict[str, str],
        body: bytes,
    ) -> Response:
        service = self.service
        if protocol is not None:
            if method != "POST":
                return self._json(405, {"error": {"code": "method_not_allowed"}}, allow="POST")
            if self.draining:
                exc = NotReadyError("server is shutting down")
                return service.error_response(exc, service.request_id(headers))
            return service.submit(
                Request(body, headers.get("content-type"), headers, protocol)
            ).result()
        routes = self.routes
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

    def _reject(self, sock: socket.socket, exc: RequestError, head: bytes) -> None:
        """Answer before the body is read, then drop whatever the client still sends."""
        try:
            headers = _parse_head(head)[2]
        except _Reject:
            headers = {}
        response = self.service.error_response(exc, self.service.request_id(headers))
        _send(sock, response, keep_alive=False)
        # Half-close and read (and drop) for a moment: closing with unread data would send a
        # reset that can destroy the response before the client has read it.
        try:
            sock.shutdown(socket.SHUT_WR)
            end = time.monotonic() + _LINGER_S
            sock.settimeout(0.2)
            while time.monotonic() < end:
                try:
                    if not sock.recv(65536):
                        break
                except TimeoutError:
                    continue
        except OSError:
            pass


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer
        sock.shutdown(socket.SHUT_RDWR)


def _recv(sock: socket.socket, buf: bytearray) -> None:
    try:
        chunk = sock.recv(65536)
    except TimeoutError:
        raise _ClientGone from None
    if not chunk:
        raise _ClientGone
    buf += chunk


def _read_head(sock: socket.socket, buf: bytearray) -> bytes:
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(buf[:end])
            del buf[: end + 4]
            return head
        if len(buf) > _MAX_HEAD:
            raise _ClientGone  # nothing sensible to answer a client that sends no head
        _recv(sock, buf)


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str], bool, int, bool]:
    """Return method, target, headers, keep-alive, content length and whether chunked."""
    if len(head) > _MAX_HEAD:
        raise _Reject(431, "request_header_too_large", "request head too large")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _Reject(400, "bad_request", "malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _Reject(400, "bad_request", "malformed header line")
        key = name.lower()
        value = value.strip()
        if key == "content-length" and key in headers and headers[key] != value:
            raise _Reject(400, "bad_request", "conflicting Content-Length headers")
        headers[key] = value
    conn = headers.get("connection", "").lower()
    keep_alive = ("keep-alive" in conn) if version == "HTTP/1.0" else ("close" not in conn)
    te = headers.get("transfer-encoding", "").lower()
    if te:
        if "content-length" in headers or te != "chunked":
            raise _Reject(400, "bad_request", "unsupported Transfer-Encoding / Content-Length mix")
        return method, target, headers, keep_alive, 0, True
    cl = headers.get("content-length", "0")
    if not cl.isdigit():
        raise _Reject(400, "bad_request", "invalid Content-Length")
    return method, target, headers, keep_alive, int(cl), False


def _read(sock: socket.socket, buf: bytearray, length: int) -> bytes:
    while len(buf) < length:
        _recv(sock, buf)
    body = bytes(buf[:length])
    del buf[:length]
    return body


def _read_chunked(sock: socket.socket, buf: bytearray, limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        while (eol := buf.find(b"\r\n")) < 0:
            if len(buf) > 1024:
                raise _Reject(400, "bad_request", "malformed chunk size")
            _recv(sock, buf)
        field = bytes(buf[:eol]).split(b";", 1)[0].strip()
        try:
            size = int(field, 16)
        except ValueError:
            raise _Reject(400, "bad_request", "malformed chunk size") from None
        total += size
        if total > limit:
            raise PayloadTooLargeError(f"chunked body exceeds {limit} bytes")
        del buf[: eol + 2]
        if size == 0:
            # Skip optional trailers up to the blank line.
            while True:
                while (eol := buf.find(b"\r\n")) < 0:
                    if len(buf) > _MAX_HEAD:
                        raise _Reject(400, "bad_request", "trailers too large")
                    _recv(sock, buf)
                line_empty = eol == 0
                del buf[: eol + 2]
                if line_empty:
                    return b"".join(parts)
        while len(buf) < size + 2:
            _recv(sock, buf)
        parts.append(bytes(buf[:size]))
        del buf[: size + 2]


def _send(sock: socket.socket, response: Response, keep_alive: bool) -> None:
    head = (
        f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Status')}\r\n"
        f"content-type: {response.content_type}\r\n"
        f"content-length: {len(response.body)}\r\n"
    )
    for k, v in response.headers.items():
        head += f"{k}: {v}\r\n"
    if not keep_alive:
        head += "connection: close\r\n"
    sock.sendall(head.encode("latin-1") + b"\r\n" + response.body)
