"""The eval client against a server on 127.0.0.1: rate limits waited out, OpenAI answers read.

A small HTTP server stands in for a deployment here (the examples' tests run the real runtime):
it answers 429 with ``Retry-After`` as the runtime's limiter does, and OpenAI completions with
the runtime's version and fallback headers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from svai.build.evaluate import ask_endpoint
from svai.errors import UsageError


class _Deployment(BaseHTTPRequestHandler):
    throttled: ClassVar[int] = 0  # 429s still to answer before the next 200
    seen: ClassVar[list[tuple[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).seen.append((self.path, body))
        if type(self).throttled:
            type(self).throttled -= 1
            return self._send(429, {"error": "rate limited"}, {"retry-after": "0"})
        if self.path == "/predict":
            return self._send(200, {"outputs": {"label": body["x"]}, "model_version": "v-1"})
        choice = (
            {"message": {"role": "assistant", "content": f"re: {body['messages'][0]['content']}"}}
            if self.path == "/v1/chat/completions"
            else {"text": f"re: {body['prompt']}"}
        )
        fallback = {"x-svai-fallback": "true"} if "late" in json.dumps(body) else {}
        self._send(200, {"choices": [choice]}, {"x-svai-model-version": "v-2", **fallback})

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for key, value in {"content-type": "application/json", **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def deployment() -> Iterator[str]:
    _Deployment.throttled, _Deployment.seen = 0, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Deployment)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_rate_limited_line_is_asked_again_after_retry_after(deployment: str) -> None:
    _Deployment.throttled = 3
    answers = ask_endpoint(f"{deployment}/predict", [{"x": 1}, {"x": 2}])
    assert answers.outputs == ({"label": 1}, {"label": 2})
    assert len(_Deployment.seen) == 5  # the first line three times refused, then answered
    assert answers.model_versions == ("v-1",) and len(answers.latencies_s) == 2


def test_openai_answers_are_read_from_their_route_with_version_and_fallback(
    deployment: str,
) -> None:
    payloads = [
        {"messages": [{"role": "user", "content": "hi"}], "stream": True},
        {"prompt": "late"},
    ]
    answers = ask_endpoint(deployment, payloads, generation=True)
    assert answers.outputs == ("re: hi", "re: late")
    assert [path for path, _ in _Deployment.seen] == ["/v1/chat/completions", "/v1/completions"]
    assert _Deployment.seen[0][1]["stream"] is False  # one whole answer to score
    assert answers.model_versions == ("v-2",) and answers.fallbacks == 1


def test_a_generation_line_that_is_not_an_openai_request_is_refused(deployment: str) -> None:
    with pytest.raises(UsageError, match="eval line 2: a text-generation input is an OpenAI"):
        ask_endpoint(deployment, [{"prompt": "a"}, {"inputs": "b"}], generation=True)
