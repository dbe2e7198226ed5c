"""A Lambda runtime loop that streams answers: the Runtime API's streaming response mode.

Python's managed Lambda runtime answers each invocation whole; only a runtime that speaks the
Runtime API itself can stream (AWS: "a custom runtime with a custom Runtime API integration").
svai's streaming function runs on the ``python3.12`` runtime with ``AWS_LAMBDA_EXEC_WRAPPER``
naming the zip's ``svai_stream_bootstrap``, which starts this loop instead of the runtime's own
client, so it keeps the managed runtime's Python and boto3 (the Lambda Web Adapter layer uses
the same hook).

Per invocation (``AWS_LAMBDA_RUNTIME_API`` is the ``host:port`` of the Runtime API):

1. ``GET /2018-06-01/runtime/invocation/next``: the event, and its request id in
   ``Lambda-Runtime-Aws-Request-Id`` (``Lambda-Runtime-Trace-Id`` becomes ``_X_AMZN_TRACE_ID``);
2. ``POST /2018-06-01/runtime/invocation/{id}/response`` with
   ``Lambda-Runtime-Function-Response-Mode: streaming``, ``Transfer-Encoding: chunked`` and
   ``Content-Type: application/vnd.awslambda.http-integration-response``: first the HTTP
   prelude a function URL turns into the caller's status and headers (JSON, then 8 NUL bytes),
   then each body part as the handler yields it, one chunk each;
3. an error after the first byte is reported in the trailers ``Lambda-Runtime-Function-Error-
   Type`` and ``Lambda-Runtime-Function-Error-Body`` (base64 JSON), declared up front in
   ``Trailer``; an error before the answer starts goes to ``/invocation/{id}/error``, and one
   while the handler is built to ``/runtime/init/error``.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Answer", "Invocation", "RuntimeApi", "serve"]

_BASE = "/2018-06-01/runtime"
PRELUDE_TYPE = "application/vnd.awslambda.http-integration-response"
_DELIMITER = b"\0" * 8
_ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
_ERROR_BODY = "Lambda-Runtime-Function-Error-Body"


@dataclass(frozen=True)
class Answer:
    """What the handler answers: the caller's status and headers, then the body as it comes.

    ``body`` may raise after yielding: the loop then reports the error in the trailers (the
    bytes already sent stay sent).
    """

    status: int
    headers: Mapping[str, str]
    body: Iterator[bytes]
    cookies: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Invocation:
    """One event from ``/invocation/next``."""

    request_id: str
    event: Any
    deadline_ms: int


class RuntimeApi:
    """A client of the Lambda Runtime API at ``address`` (``host:port``)."""

    def __init__(self, address: str) -> None:
        self.address = address

    def _connection(self, timeout: float | None = None) -> http.client.HTTPConnection:
        host, _, port = self.address.rpartition(":")
        return http.client.HTTPConnection(host, int(port), timeout=timeout)

    def next(self) -> Invocation:
        """Wait for the next invocation (no timeout: Lambda freezes the sandbox meanwhile)."""
        conn = self._connection()
        try:
            conn.request("GET", f"{_BASE}/invocation/next")
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                raise RuntimeError(f"invocation/next answered {response.status}: {data[:200]!r}")
            trace = response.getheader("Lambda-Runtime-Trace-Id")
            if trace:
                os.environ["_X_AMZN_TRACE_ID"] = trace
            return Invocation(
                str(response.getheader("Lambda-Runtime-Aws-Request-Id")),
                json.loads(data),
                int(response.getheader("Lambda-Runtime-Deadline-Ms") or 0),
            )
        finally:
            conn.close()

    def stream(self, request_id: str, answer: Answer) -> None:
        """Send ``answer`` in the streaming response mode, each body part as it is yielded."""
        conn = self._connection()
        try:
            conn.putrequest("POST", f"{_BASE}/invocation/{request_id}/response")
            conn.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
            conn.putheader("Transfer-Encoding", "chunked")
            conn.putheader("Content-Type", PRELUDE_TYPE)
            conn.putheader("Trailer", f"{_ERROR_TYPE}, {_ERROR_BODY}")
            conn.endheaders()
            prelude: dict[str, Any] = {"statusCode": answer.status, "headers": dict(answer.headers)}
            if answer.cookies:
                prelude["cookies"] = list(answer.cookies)
            conn.send(_chunk(json.dumps(prelude).encode() + _DELIMITER))
            trailers = b""
            try:
                for part in answer.body:
                    if part:
                        conn.send(_chunk(part))
            except Exception as exc:  # reported to Lambda after the bytes already sent
                kind, body = _error(exc)
                trailers = (
                    f"{_ERROR_TYPE}: {kind}\r\n{_ERROR_BODY}: {base64.b64encode(body).decode()}\r\n"
                ).encode()
            conn.send(b"0\r\n" + trailers + b"\r\n")
            conn.getresponse().read()
        finally:
            conn.close()

    def error(self, request_id: str | None, exc: BaseException) -> None:
        """Report a failed invocation (or, with no request id, a failed start)."""
        kind, body = _error(exc)
        path = (
            f"{_BASE}/init/error"
            if request_id is None
            else f"{_BASE}/invocation/{request_id}/error"
        )
        conn = self._connection(timeout=10)
        try:
            conn.request(
                "POST", path, body, {_ERROR_TYPE: kind, "Content-Type": "application/json"}
            )
            conn.getresponse().read()
        finally:
            conn.close()


def serve(
    make_handler: Callable[[], Callable[[Any], Answer]],
    environ: Mapping[str, str] = os.environ,
    *,
    once: bool = False,
) -> None:
    """Build the handler, then answer invocations until the sandbox ends (or one, ``once``)."""
    api = RuntimeApi(environ["AWS_LAMBDA_RUNTIME_API"])
    try:
        handler = make_handler()
    except Exception as exc:
        api.error(None, exc)
        raise
    while True:
        invocation = api.next()
        try:
            answer = handler(invocation.event)
        except Exception as exc:  # nothing was sent yet: a failed invocation
            print(f"svai stream: invocation failed: {exc!r}", file=sys.stderr)
            api.error(invocation.request_id, exc)
        else:
            api.stream(invocation.request_id, answer)
        if once:
            return


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _error(exc: BaseException) -> tuple[str, bytes]:
    kind = f"Function.{type(exc).__name__}"
    body = {"errorType": type(exc).__name__, "errorMessage": str(exc)[:4096]}
    return kind, json.dumps(body).encode()
