"""HTTP/1.1 framing for the threaded server: requests parsed by httptools, responses written here.

Parsing is llhttp's (through ``httptools``, the parser behind uvicorn's fast path and Node.js),
not a hand-written one. llhttp refuses, and the server answers 400 to: a malformed request line
or header (bare LF line ends, obs-fold, spaces before the colon, control characters); a
``Content-Length`` that is not ``1*DIGIT`` (``+5``, ``¹``, ``5, 5``, two headers) or that
overflows; a chunk size that is not ``1*HEXDIG`` (``-2faf080``, ``0x10``, ``1_0``, ``+10``);
``Content-Length`` together with ``Transfer-Encoding``.

What this module adds, before a single body byte is read: the head (request line and headers)
may take ``MAX_HEAD`` bytes (64 KiB, give or take one read) or the answer is 431; the body limit
of the route (the server's ``on_head`` callback) is checked against ``Content-Length`` at once
and against the bytes of a chunked body as they arrive (413, never buffered past the limit);
the bytes a chunked body spends on framing and trailers are bounded too. Transfer codings
other than ``chunked`` get 501, and HTTP versions other than 1.0 and 1.1 get 505.

``httptools`` is imported by :func:`load_parser`, which the accept thread calls after the port
is open, so the import stays off the port-open path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from svai.runtime.core import Response
from svai.runtime.core.errors import PayloadTooLargeError, RequestError

__all__ = ["MAX_HEAD", "Message", "Reject", "RequestReader", "encode_response", "load_parser"]

MAX_HEAD = 65_536
_CHUNK_FRAMING = 64  # bytes a chunk may spend on its size line and CRLFs (extensions included)
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
REASONS = {
    100: "Continue",
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}

_httptools: Any = None


def load_parser() -> None:
    """Import ``httptools`` (a C extension; the accept thread calls this once the port is open)."""
    global _httptools
    if _httptools is None:
        import httptools

        _httptools = httptools


class Reject(RequestError):
    """A request refused while it is being read (400, 408, 431, 501, 505)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Message:
    """One request: its head, then its body once complete.

    Attributes:
        method: ``GET``, ``POST``, ...
        target: The request target as sent (path and query).
        path: The target without its query.
        headers: Header names in lower case; repeated headers joined with ``", "``.
        keep_alive: Whether the connection may carry another request after this one.
        content_length: The declared length, or ``None`` (chunked, or no body).
        body: The body, complete once the message is.
    """

    __slots__ = ("body", "content_length", "headers", "keep_alive", "method", "path", "target")

    def __init__(self) -> None:
        self.method = ""
        self.target = ""
        self.path = ""
        self.headers: dict[str, str] = {}
        self.keep_alive = True
        self.content_length: int | None = None
        self.body = b""


HeadCheck = Callable[[Message], int]
"""Called when a request's headers are complete, before its body: returns the body limit in
bytes for this request, or raises a ``RequestError`` (413, 415, ...) to refuse it."""


class RequestReader:
    """Turns the bytes of one connection into complete requests, enforcing the limits.

    Feed it what ``recv`` returned; take the completed requests with ``take``. The state says
    what the connection is waiting for: ``"idle"`` (the next request's first byte), ``"head"``
    or ``"body"``.

    Args:
        on_head: The route's checks and body limit (see ``HeadCheck``).
        send_continue: Sends ``100 Continue`` (for ``Expect: 100-continue``).
    """

    def __init__(self, on_head: HeadCheck, send_continue: Callable[[bytes], None]) -> None:
        self._on_head = on_head
        self._send_continue = send_continue
        self._parser = _httptools.HttpRequestParser(self)
        self._done: list[Message] = []
        self._msg = Message()
        self._url = b""
        self._head = 0
        self._parts: list[bytes] = []
        self._size = 0
        self._limit = 0
        self._chunks = 0
        self._raw = 0
        self._error: RequestError | None = None
        self._upgraded = False
        self.state = "idle"

    def feed(self, data: bytes) -> None:
        """Parse ``data``; complete requests queue up for ``take``.

        Raises:
            RequestError: The request being read is refused; requests completed before it in
                ``data`` are still queued, and must be answered first.
        """
        if self._upgraded:
            return  # the client asked to switch protocols: the connection closes after the answer
        # Bounds what httptools buffers of a head that never ends (the exact check is on the
        # parsed head, in on_headers_complete); checked on the bytes already fed, so one read
        # may hold the end of a head and the start of a body.
        if self.state == "body":
            if self._raw > self._limit + MAX_HEAD + _CHUNK_FRAMING * self._chunks:
                raise PayloadTooLargeError(f"body framing exceeds the limit of {self._limit}")
        elif self._raw > MAX_HEAD:
            raise Reject(431, "request_header_too_large", f"head exceeds {MAX_HEAD} bytes")
        self._raw += len(data)
        try:
            self._parser.feed_data(data)
        except _httptools.HttpParserUpgrade:
            self._upgraded = True  # the message is complete; nothing after it is HTTP/1.1
        except _httptools.HttpParserCallbackError:
            error, self._error = self._error, None
            if error is None:  # pragma: no cover - only our own callbacks raise
                raise Reject(400, "bad_request", "malformed request") from None
            raise error from None
        except _httptools.HttpParserError as exc:
            raise Reject(400, "bad_request", f"malformed request: {exc}") from None

    def take(self) -> list[Message]:
        """The requests completed so far, in order (each returned once)."""
        done, self._done = self._done, []
        return done

    # -- llhttp callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        """llhttp: the first byte of a request."""
        self.state = "head"
        self._msg = Message()
        self._url = b""
        self._head = 0

    def on_url(self, url: bytes) -> None:
        """llhttp: (part of) the request target."""
        self._url += url
        self._head += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """llhttp: one header (or trailer) line."""
        if self.state != "head":
            return  # a trailer after a chunked body: bounded by the framing allowance, ignored
        self._head += len(name) + len(value) + 4  # with ": " and CRLF
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = self._msg.headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        """llhttp: the head is complete; the checks that run before the body."""
        try:
            self._head_complete()
        except RequestError as exc:
            self._error = exc
            raise

    def on_chunk_header(self) -> None:
        """llhttp: a chunk size line (counted for the framing allowance)."""
        self._chunks += 1

    def on_body(self, body: bytes) -> None:
        """llhttp: body bytes (chunk framing removed)."""
        self._size += len(body)
        if self._size > self._limit:
            self._error = PayloadTooLargeError(f"body exceeds the limit of {self._limit} bytes")
            raise self._error
        self._parts.append(body)

    def on_message_complete(self) -> None:
        """llhttp: the request is complete."""
        msg = self._msg
        parts = self._parts
        msg.body = parts[0] if len(parts) == 1 else b"".join(parts)
        self._parts = []
        self._done.append(msg)
        self.state = "idle"
        self._raw = 0

    # -- helpers -----------------------------------------------------------------------------

    def _head_complete(self) -> None:
        if self._head > MAX_HEAD:
            raise Reject(431, "request_header_too_large", f"head exceeds {MAX_HEAD} bytes")
        parser = self._parser
        msg = self._msg
        version = parser.get_http_version()
        if version not in ("1.1", "1.0"):
            raise Reject(505, "http_version_not_supported", f"HTTP/{version} is not served")
        msg.method = parser.get_method().decode("ascii")
        msg.target = self._url.decode("latin-1")
        msg.path = msg.target.partition("?")[0]
        msg.keep_alive = parser.should_keep_alive() and not parser.should_upgrade()
        headers = msg.headers
        coding = headers.get("transfer-encoding")
        if coding is not None and coding.strip().lower() != "chunked":
            raise Reject(501, "not_implemented", f"Transfer-Encoding {coding!r} is not served")
        length = headers.get("content-length")
        msg.content_length = int(length) if length is not None else None  # llhttp checked it
        self._limit = self._on_head(msg)
        if msg.content_length is not None and msg.content_length > self._limit:
            raise PayloadTooLargeError(
                f"body of {msg.content_length} bytes exceeds the limit of {self._limit}"
            )
        self.state = "body"
        self._size = self._chunks = self._raw = 0
        if (
            headers.get("expect", "").lower() == "100-continue"
            and (coding is not None or (msg.content_length or 0) > 0)
            and not self._done  # a 100 must not overtake the answers to earlier requests
        ):
            self._send_continue(_CONTINUE)


def encode_response(response: Response, keep_alive: bool) -> bytes:
    """The bytes of ``response``, with ``Connection: close`` when the connection ends after it."""
    head = (
        f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Status')}\r\n"
        f"content-type: {response.content_type}\r\n"
        f"content-length: {len(response.body)}\r\n"
    )
    for k, v in response.headers.items():
        head += f"{k}: {v}\r\n"
    if not keep_alive:
        head += "connection: close\r\n"
    return head.encode("latin-1") + b"\r\n" + response.body
