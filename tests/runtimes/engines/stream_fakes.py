"""Loopback stand-ins for the two AWS services the streaming function talks to.

* :class:`RuntimeApi` -- the Lambda Runtime API as documented for custom runtimes:
  ``GET /2018-06-01/runtime/invocation/next`` hands out queued events, ``POST
  .../invocation/{id}/response`` is read chunk by chunk as it arrives (each chunk timestamped
  and queued, so a test sees what the caller of a function URL would see, and when), with the
  trailers after the last chunk; ``.../error`` and ``/runtime/init/error`` are recorded.
* :class:`SageMakerRuntime` -- ``InvokeEndpoint`` and ``InvokeEndpointWithResponseStream`` in
  front of a real svai server: the body goes to its ``/invocations`` as SageMaker sends it, and
  each piece of the streamed answer comes back as a ``PayloadPart`` message in the AWS
  event-stream encoding (prelude, CRCs, headers), which botocore parses. moto has no
  ``InvokeEndpointWithResponseStream``. ``break_after`` ends a stream with a
  ``ModelStreamError`` exception message after that many parts.
"""

from __future__ import annotations

import http.client
import json
import queue
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BASE = "/2018-06-01/runtime"
DELIMITER = b"\0" * 8


@dataclass
class Streamed:
    """One invocation's answer as the Runtime API received it."""

    headers: dict[str, str]
    chunks: queue.SimpleQueue[bytes | None] = field(default_factory=queue.SimpleQueue)
    trailers: dict[str, str] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)
    received: list[bytes] = field(default_factory=list)

    def prelude_and_body(self) -> tuple[dict[str, Any], bytes]:
        """The function URL's view: the HTTP prelude, then the body (after ``done``)."""
        data = b"".join(self.received)
        head, _, body = data.partition(DELIMITER)
        return json.loads(head), body


class RuntimeApi:
    """A Lambda Runtime API on 127.0.0.1 (see the module docstring)."""

    def __init__(self) -> None:
        self.events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.answers: dict[str, Streamed] = {}
        self.errors: dict[str | None, tuple[dict[str, str], bytes]] = {}
        self._ready = threading.Condition()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                assert self.path == f"{BASE}/invocation/next", self.path
                rid, event = api.events.get()
                body = json.dumps(event).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
                self.send_header(
                    "Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000)
                )
                self.send_header("Lambda-Runtime-Trace-Id", f"Root=1-{rid}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                if self.path.endswith("/response"):
                    rid = self.path.split("/")[-2]
                    answer = Streamed(headers)
                    with api._ready:
                        api.answers[rid] = answer
                        api._ready.notify_all()
                    self._read_chunked(answer)
                else:
                    length = int(headers.get("content-length", 0))
                    rid = None if "/init/" in self.path else self.path.split("/")[-2]
                    with api._ready:
                        api.errors[rid] = (headers, self.rfile.read(length))
                        api._ready.notify_all()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _read_chunked(self, answer: Streamed) -> None:
                assert answer.headers.get("transfer-encoding") == "chunked"
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        break
                    data = self.rfile.read(size)
                    self.rfile.readline()
                    answer.received.append(data)
                    answer.chunks.put(data)
                while (line := self.rfile.readline().strip()) != b"":
                    name, _, value = line.decode().partition(":")
                    answer.trailers[name.strip().lower()] = value.strip()
                answer.chunks.put(None)
                answer.done.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, rid: str, event: Any) -> None:
        """Queue ``event`` for the function's next ``/invocation/next``."""
        self.events.put((rid, event))

    def answer(self, rid: str, timeout: float = 60) -> Streamed:
        """The streamed answer of ``rid`` once its response has started."""
        with self._ready:
            assert self._ready.wait_for(lambda: rid in self.answers or rid in self.errors, timeout)
            assert rid not in self.errors, self.errors[rid]
            return self.answers[rid]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One message in the AWS event-stream encoding (string headers only)."""
    encoded = b"".join(
        struct.pack("B", len(k)) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
        for k, v in headers.items()
    )
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return head + struct.pack(">I", zlib.crc32(head))


class SageMakerRuntime:
    """``sagemaker-runtime`` on 127.0.0.1 over svai's server at ``port`` (module docstring)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.break_after: int | None = None
        self.calls: list[tuple[str, dict[str, str], bytes]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = self.rfile.read(int(headers.get("content-length", 0)))
                fake.calls.append((self.path, headers, body))
                upstream = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=60)
                # SageMaker hands the container its content type and the custom attributes.
                forwarded = {"content-type": headers.get("content-type", "application/json")}
                if "x-amzn-sagemaker-custom-attributes" in headers:
                    forwarded["x-amzn-sagemaker-custom-attributes"] = headers[
                        "x-amzn-sagemaker-custom-attributes"
                    ]
                upstream.request("POST", "/invocations", body, forwarded)
                reply = upstream.getresponse()
                if self.path.endswith("/invocations-response-stream") and reply.status == 200:
                    self._stream(reply)
                else:
                    self._whole(reply)
                upstream.close()

            def _whole(self, reply: http.client.HTTPResponse) -> None:
                data = reply.read()
                if reply.status != 200:  # SageMaker's ModelError carries the container's answer
                    error = {
                        "__type": "ModelError",
                        "Message": "Received client error from primary container",
                        "OriginalStatusCode": reply.status,
                        "OriginalMessage": data.decode(),
                    }
                    data = json.dumps(error).encode()
                    self.send_response(424)
                    self.send_header("x-amzn-ErrorType", "ModelError")
                    self.send_header("Content-Type", "application/json")
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", reply.getheader("content-type", ""))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, reply: http.client.HTTPResponse) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.amazon.eventstream")
                self.send_header("X-Amzn-SageMaker-Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                parts = 0
                while piece := reply.read1(65536):
                    if fake.break_after is not None and parts >= fake.break_after:
                        error = {"Message": "the container stopped", "ErrorCode": "ModelError"}
                        self._chunk(
                            event_message(
                                {
                                    ":message-type": "exception",
                                    ":exception-type": "ModelStreamError",
                                    ":content-type": "application/json",
                                },
                                json.dumps(error).encode(),
                            )
                        )
                        break
                    headers = {
                        ":message-type": "event",
                        ":event-type": "PayloadPart",
                        ":content-type": "application/octet-stream",
                    }
                    self._chunk(event_message(headers, piece))
                    parts += 1
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
