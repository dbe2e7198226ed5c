"""The bench's streaming client against a scripted OpenAI-style server on 127.0.0.1.

A stdlib HTTP server answers ``POST /v1/chat/completions`` with chunked server-sent events as
an engine might: several tokens in one chunk, an empty chunk for a partial character, the
usage chunk, ``[DONE]``; or a refusal, an error event, a stream cut short, the fallback. It
counts the prompt as words + a template's fixed tokens, so the fitted prompt must land on the
target exactly. Nothing here asserts a timing beyond sanity.
"""

from __future__ import annotations

import json
import statistics
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from svai.build.token_bench import TokenLoad, measure_tokens
from svai.errors import UsageError

TEMPLATE_TOKENS = 7
TOKENS_PER_CHUNK = 2


class _Script:
    """How the server answers: ``ok`` or one of the failures."""

    mode: ClassVar[str] = "ok"
    bodies: ClassVar[list[dict[str, Any]]] = []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        _Script.bodies.append(body)
        mode = _Script.mode
        if mode == "refused":
            data = b'{"error": {"code": "rate_limited"}}'
            self.send_response(429)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        if mode == "fallback":
            self.send_header("x-svai-fallback", "true")
        self.end_headers()
        prompt = len(body["messages"][0]["content"].split()) + TEMPLATE_TOKENS
        chunks = max(1, body["max_tokens"] // TOKENS_PER_CHUNK)
        for event in self._events(mode, prompt, chunks):
            self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    @staticmethod
    def _events(mode: str, prompt: int, chunks: int) -> Iterator[bytes]:
        def data(event: Any) -> bytes:
            return b"data: " + json.dumps(event).encode() + b"\n\n"

        yield data({"choices": [{"delta": {"role": "assistant", "content": ""}}]})
        for i in range(chunks):
            yield data({"choices": [{"delta": {"content": f" w{i}"}}]})
            if i == 0:
                yield data({"choices": [{"delta": {"content": ""}}]})  # a partial character
            if mode == "error" and i == 1:
                yield data({"error": {"code": "timeout", "message": "deadline"}})
                yield b"data: [DONE]\n\n"
                return
        yield data({"choices": [{"delta": {}, "finish_reason": "length"}]})
        if mode != "no-usage":
            usage = {"prompt_tokens": prompt, "completion_tokens": chunks * TOKENS_PER_CHUNK}
            yield data({"choices": [], "usage": usage})
        yield b"data: [DONE]\n\n"


@pytest.fixture
def server() -> Iterator[int]:
    _Script.mode, _Script.bodies = "ok", []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_the_prompt_is_fitted_and_tokens_are_counted_as_the_server_counts_them(
    server: int,
) -> None:
    lines: list[str] = []
    timings = measure_tokens(server, TokenLoad(100, 12, requests=4), lines.append)
    assert timings.prompt_tokens == 100  # words + the template's tokens, as the server counted
    assert timings.output_tokens == 12 and timings.requests == 4
    assert timings.chunks == 4 * 6  # text chunks only: the role and the empty chunk are not text
    for sample in timings.samples:
        assert sample.output_tokens == 12 and sample.chunks == 6
        assert sample.ttft_s > 0 and sample.decode_s > 0
        # Two tokens a chunk: time per token is the decode over the 11 tokens after the first.
        assert sample.tpot_s == pytest.approx(sample.decode_s / 11)
    assert timings.tpot_s == statistics.median(s.tpot_s or 0 for s in timings.samples)
    assert timings.ttft_p95_s is None and timings.itl_p95_s is not None  # 24 gaps, 4 requests
    sent = _Script.bodies
    assert len(sent) == 2 + 2 + 4  # two probes, two warm-ups, the measured requests
    assert all(b["stream"] and b["stream_options"] == {"include_usage": True} for b in sent)
    assert [b["max_tokens"] for b in sent[:2]] == [1, 1]
    assert {b["temperature"] for b in sent} == {0}
    assert lines[0].startswith("tokens: fitting a prompt of 100 tokens")
    assert lines[-1].startswith("tokens: 4/4: TTFT ")


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("refused", "answered 429"),
        ("error", "the stream ended with an error"),
        ("no-usage", "without a usage chunk"),
        ("fallback", "the fallback answered"),
    ],
)
def test_an_answer_that_gives_no_timings_stops_the_bench_quoting_it(
    server: int, mode: str, says: str
) -> None:
    _Script.mode = mode
    with pytest.raises(UsageError, match=says):
        measure_tokens(server, TokenLoad(100, 12, requests=2))
