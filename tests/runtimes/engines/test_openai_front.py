"""The OpenAI routes served by svai's real server over the transformers engine, on CPU.

A tiny random-weight Llama with a real tokenizer and chat template (``tiny_llama.py``) is
served on 127.0.0.1; the tests speak HTTP to it as an OpenAI client would.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_llama import save_tiny_llama

from svai.runtime.core import Service, Telemetry, parse_config
from svai.runtime.server.main import BackgroundServer, model_loader

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_llama(tmp_path_factory.mktemp("llama") / "model")


class Served:
    """A running server, its telemetry lines, and a small HTTP client."""

    def __init__(self, server: BackgroundServer, lines: list[str], service: Service) -> None:
        self.server = server
        self.lines = lines
        self.service = service
        self.port = server.port

    def post(
        self, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request(
            "POST",
            path,
            json.dumps(body),
            {"content-type": "application/json", **(headers or {})},
        )
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        head = {k.lower(): v for k, v in resp.getheaders()}
        if head.get("content-type") == "text/event-stream":
            return resp.status, head, _events(data.decode())
        return resp.status, head, json.loads(data)

    def get(self, path: str) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("GET", path)
        resp = conn.getresponse()
        status, data = resp.status, json.loads(resp.read())
        conn.close()
        return status, data

    def generations(self, at_least: int = 0) -> list[dict[str, Any]]:
        """The metrics lines so far; ``at_least``: wait for them (a line follows its answer)."""
        deadline = time.monotonic() + 30
        while True:
            records = [json.loads(line) for line in list(self.lines)]
            found = [r for r in records if r.get("message") == "generation"]
            if len(found) >= at_least or time.monotonic() > deadline:
                return found

    def line_for(self, rid: str) -> dict[str, Any]:
        """The metrics line of request ``rid`` (waiting for it a moment)."""
        deadline = time.monotonic() + 30
        while True:
            found = [r for r in self.generations() if r["request_id"] == rid]
            if found or time.monotonic() > deadline:
                return found[0]
            time.sleep(0.01)


def _events(text: str) -> list[str]:
    return [block[len("data: ") :] for block in text.split("\n\n") if block]


@contextmanager
def serving(folder: Path, tmp: Path, **sections: Any) -> Iterator[Served]:
    config: dict[str, Any] = {
        "model": {
            "path": str(folder),
            "version": "v-tiny",
            "framework": "transformers",
            "task": "text-generation",
        },
        "observability": {"service": "tiny-llama"},
        "generation": {"max_tokens": 240, "default_max_tokens": 8},
        **sections,
    }
    cfg = parse_config(config, base_dir=str(tmp))
    lines: list[str] = []
    telemetry = Telemetry("svai", "tiny-llama", "v-tiny", sink=lines.append)
    service = Service.from_config(cfg, telemetry=telemetry, loader=model_loader(cfg))
    server = BackgroundServer(service).start()
    deadline = time.monotonic() + 120
    while not service.ready:
        failed = [line for line in lines if "failed to load" in line]
        assert not failed and time.monotonic() < deadline, failed or lines
        time.sleep(0.02)
    try:
        yield Served(server, lines, service)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def served(llama: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(llama, tmp_path_factory.mktemp("art"), cache={"ttl_s": 60}) as s:
        yield s


def chat(content: str = "hello cat", **extra: Any) -> dict[str, Any]:
    return {"model": "tiny-llama", "messages": [{"role": "user", "content": content}], **extra}


def test_chat_completion_answers_with_the_openai_shape(served: Served) -> None:
    status, headers, body = served.post(CHAT, chat(max_tokens=6, temperature=0))
    assert status == 200, body
    assert body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].strip()
    assert choice["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 6
    assert body["usage"]["prompt_tokens"] > 3  # the chat template's tokens count
    assert headers["x-svai-model-version"] == "v-tiny"


def test_streaming_sends_the_same_text_in_chunks_ending_with_done(served: Served) -> None:
    request = chat("the dog sat", max_tokens=12, temperature=0)
    status, headers, events = served.post(  # streamed first: the second answer is a cache hit
        CHAT, {**request, "stream": True, "stream_options": {"include_usage": True}}
    )
    _, _, whole = served.post(CHAT, request)
    assert status == 200
    assert headers["transfer-encoding"] == "chunked"
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    texts = [c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]]
    assert len([t for t in texts if t]) > 1
    assert "".join(texts) == whole["choices"][0]["message"]["content"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 12


def test_a_chunk_reaches_the_client_before_generation_ends(served: Served) -> None:
    engine = served.service.model.engine  # type: ignore[union-attr]
    gate = Gate(engine)
    served.service.model.engine = gate  # type: ignore[union-attr]
    try:
        sock = _open_stream(served.port, chat("the star is red", max_tokens=20, temperature=0))
        first = _read_until(sock, b'"content":"')
        assert b"HTTP/1.1 200" in first
        # The engine is held after its first token: what arrived cannot be a buffered whole.
        assert gate.waiting.wait(30)
        assert not any(r["request_id"] == "gated" for r in served.generations())
        gate.release.set()
        rest = _read_until(sock, b"data: [DONE]")
        assert b'"finish_reason":"length"' in rest
        sock.close()
    finally:
        served.service.model.engine = engine  # type: ignore[union-attr]


def test_stop_sequences_cut_the_text_before_them(served: Served) -> None:
    _, _, whole = served.post(CHAT, chat("one two", max_tokens=16, temperature=0))
    text = whole["choices"][0]["message"]["content"]
    words = text.split()
    stop = " " + words[3]
    status, _, body = served.post(CHAT, chat("one two", max_tokens=16, temperature=0, stop=[stop]))
    assert status == 200
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["choices"][0]["message"]["content"] == text[: text.index(stop)]
    _, _, events = served.post(
        CHAT, chat("one two", max_tokens=16, temperature=0, stop=stop, stream=True)
    )
    chunks = [json.loads(e) for e in events[:-1]]
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert streamed == text[: text.index(stop)]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_completions_route_and_seeded_sampling_repeat(served: Served) -> None:
    body = {"prompt": "the sun and the moon", "max_tokens": 10, "temperature": 1.0, "seed": 7}
    status, _, first = served.post("/v1/completions", body)
    assert status == 200, first
    assert first["object"] == "text_completion"
    _, _, again = served.post("/v1/completions", {**body, "seed": 7, "top_p": 1.0})
    assert again["choices"][0]["text"] == first["choices"][0]["text"]


def test_only_deterministic_requests_are_cached(served: Served) -> None:
    request = chat("red blue green", max_tokens=5, temperature=0)
    served.post(CHAT, request)
    _, headers, _body = served.post(CHAT, request)
    assert headers.get("x-svai-cache") == "hit"
    _, headers, _ = served.post(CHAT, chat("red blue green", max_tokens=5, temperature=0.7))
    assert "x-svai-cache" not in headers
    _, headers, events = served.post(CHAT, {**request, "stream": True})
    assert headers.get("x-svai-cache") == "hit"
    assert events[-1] == "[DONE]"


def test_an_idempotency_key_replays_the_first_answer(served: Served) -> None:
    request = chat("who is big", max_tokens=6, temperature=1.0)
    key = {"idempotency-key": "order-17"}
    _, _, first = served.post(CHAT, request, key)
    _, headers, second = served.post(CHAT, request, key)
    assert headers.get("idempotent-replayed") == "true"
    assert second["choices"][0]["message"] == first["choices"][0]["message"]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True, "tools": [{"type": "function"}]}, "logprobs, tools"),
        ({"max_tokens": 241}, "max_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"frobnicate": 1}, "frobnicate"),
    ],
)
def test_what_svai_does_not_serve_is_a_400_naming_it(
    served: Served, extra: dict[str, Any], named: str
) -> None:
    status, headers, body = served.post(CHAT, chat(**extra))
    assert status == 400
    assert named in body["error"]["message"]
    assert body["error"]["type"] == "invalid_request_error"
    # refused before any work: no generation, no metrics line
    assert not any(r["request_id"] == headers["x-request-id"] for r in served.generations())


def test_a_prompt_over_the_limit_is_a_400(llama: Path, tmp_path: Path) -> None:
    with serving(llama, tmp_path, generation={"max_prompt_tokens": 5}) as s:
        status, _, body = s.post(CHAT, chat("one two three four five six seven"))
        assert status == 400
        assert body["error"]["code"] == "prompt_too_long"


def test_models_lists_the_served_model(served: Served) -> None:
    status, body = served.get("/v1/models")
    assert status == 200
    assert body["data"][0]["id"] == "tiny-llama"


def test_metrics_lines_carry_ttft_tpot_tokens_and_cold_start(served: Served) -> None:
    status, headers, _ = served.post(CHAT, chat("how big is the sky", max_tokens=7, temperature=0))
    assert status == 200
    rid = headers["x-request-id"]
    line = served.line_for(rid)
    assert line["tokens_out"] == 7
    assert line["tokens_in"] > 0
    assert line["ttft_ms"] > 0
    assert line["tpot_ms"] > 0
    assert line["queue_ms"] >= 0
    assert line["cold_start"] is False
    assert served.generations()[0]["cold_start"] is True
    names = {m["Name"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"ttft_ms", "tpot_ms", "tokens_in", "tokens_out", "queue_ms"} <= names


def test_overload_is_a_429_and_a_disconnect_frees_the_slot(llama: Path, tmp_path: Path) -> None:
    with serving(llama, tmp_path, concurrency={"max_concurrency": 1, "queue_size": 0}) as s:
        engine = s.service.model.engine  # type: ignore[union-attr]
        gate = Gate(engine)
        s.service.model.engine = gate  # type: ignore[union-attr]
        sock = _open_stream(s.port, chat(max_tokens=200, temperature=0))
        _read_until(sock, b'"content":"')
        assert gate.waiting.wait(30)
        status, headers, _body = s.post(CHAT, chat(max_tokens=2))
        assert status == 429
        assert headers["retry-after"] == "1"
        sock.close()  # the client goes away mid-stream
        assert gate.cancelled.wait(30), "the disconnect did not cancel the generation"
        gate.hold = False
        status = _retry_until_admitted(lambda: s.post(CHAT, chat(max_tokens=2))[0])
        assert status == 200
        first = s.line_for("gated")
        assert first["status"] == 499
        assert first["finish_reason"] == "disconnected"
        assert first["tokens_out"] < 200


def test_fallback_answers_when_the_first_token_is_late(llama: Path, tmp_path: Path) -> None:
    block = _blocking_hook(tmp_path, "def rules(body):\n    return 'we are busy, try again'\n")
    sections = {
        "hooks": {"preprocess": "hooks.py:prepare"},
        "fallback": {"rules": "hooks.py:rules", "after_s": 3.0},
    }
    with serving(llama, tmp_path, **sections) as s:
        status, _, body = s.post(CHAT, chat(max_tokens=3))
        assert status == 200  # not blocked: the model answers
        assert body["choices"][0]["message"]["content"] != "we are busy, try again"
        block.touch()
        status, headers, body = s.post(CHAT, chat(max_tokens=3))
        assert status == 200
        assert headers["x-svai-fallback"] == "true"
        assert body["choices"][0]["message"]["content"] == "we are busy, try again"
        status, headers, events = s.post(CHAT, chat(max_tokens=3, stream=True))
        assert headers["x-svai-fallback"] == "true"
        assert "we are busy" in events[1]
        assert events[-1] == "[DONE]"
        block.unlink()
        assert [g["fallback"] for g in s.generations(at_least=3)] == [False, True, True]


def test_a_fallback_model_answers_when_the_first_token_is_late(llama: Path, tmp_path: Path) -> None:
    smaller = save_tiny_llama(tmp_path / "smaller", seed=1)  # other weights, other words
    block = _blocking_hook(tmp_path)
    sections = {
        "hooks": {"preprocess": "hooks.py:prepare"},
        "fallback": {"model": str(smaller), "after_s": 3.0},
    }
    with serving(llama, tmp_path, **sections) as s:
        request = chat("the cat sat", max_tokens=6, temperature=0)
        status, headers, own = s.post(CHAT, request)
        assert status == 200
        assert "x-svai-fallback" not in headers
        block.touch()  # the main model's pre-processing hangs: its first token is late
        status, headers, body = s.post(CHAT, request)
        assert status == 200, body
        assert headers["x-svai-fallback"] == "true"
        text = body["choices"][0]["message"]["content"]
        assert text.strip()
        assert text != own["choices"][0]["message"]["content"]
        status, headers, events = s.post(CHAT, {**request, "stream": True})
        assert headers["x-svai-fallback"] == "true"
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == text
        block.unlink()
        lines = s.generations(at_least=3)
        assert [g["fallback"] for g in lines] == [False, True, True]
        assert lines[1]["tokens_out"] == 6


def test_after_the_first_token_no_fallback_and_the_deadline_ends_the_stream(
    llama: Path, tmp_path: Path
) -> None:
    (tmp_path / "hooks.py").write_text("def rules(body):\n    return 'we are busy'\n")
    sections = {
        "api": {"timeout_s": 4.0},
        "fallback": {"rules": "hooks.py:rules", "after_s": 2.0},
        "concurrency": {"max_concurrency": 1, "queue_size": 0},
    }
    with serving(llama, tmp_path, **sections) as s:
        engine = s.service.model.engine  # type: ignore[union-attr]
        gate = Gate(engine)  # holds every generation after its first token
        s.service.model.engine = gate  # type: ignore[union-attr]
        sock = _open_stream(s.port, chat(max_tokens=200, temperature=0))
        data = _read_until(sock, b"data: [DONE]\n\n\r\n0\r\n\r\n")  # the last chunk
        sock.close()
        assert b"x-svai-fallback" not in data and b"we are busy" not in data
        events = [json.loads(e) for e in _events(_unchunked(data)) if e != "[DONE]"]
        assert events[-2]["choices"][0]["finish_reason"] == "length"
        assert events[-1]["error"]["code"] == "timeout"
        assert gate.cancelled.wait(30), "the deadline did not cancel the generation"
        line = s.line_for("gated")
        assert (line["status"], line["finish_reason"], line["fallback"]) == (504, "timeout", False)
        assert 0 < line["tokens_out"] < 200
        gate.cancelled.clear()
        status, headers, body = s.post(CHAT, chat(max_tokens=200, temperature=0.5))
        assert status == 504  # a whole answer cut by the deadline: nothing was sent yet
        assert body["error"]["code"] == "timeout"
        assert "x-svai-fallback" not in headers
        assert gate.cancelled.wait(30)
        gate.hold = False  # the slot was freed: the next request is served
        status = _retry_until_admitted(lambda: s.post(CHAT, chat(max_tokens=2))[0])
        assert status == 200


def test_a_request_naming_another_model_is_a_404(served: Served) -> None:
    _, listed = served.get("/v1/models")
    status, _, _ = served.post(CHAT, chat(max_tokens=2, model=listed["data"][0]["id"]))
    assert status == 200
    status, headers, body = served.post(CHAT, chat(max_tokens=2, model="gpt-4o"))
    assert status == 404
    assert body["error"] == {
        "message": "The model `gpt-4o` does not exist; this endpoint serves `tiny-llama`",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }
    assert not any(r["request_id"] == headers["x-request-id"] for r in served.generations())
    status, _, body = served.post("/v1/completions", {"prompt": "a", "model": "tiny"})
    assert (status, body["error"]["code"]) == (404, "model_not_found")


def test_stream_true_is_a_400_where_the_path_cannot_stream(llama: Path, tmp_path: Path) -> None:
    with serving(llama, tmp_path, generation={"streaming": False}) as s:
        status, _, body = s.post(CHAT, chat(max_tokens=2, stream=True))
        assert status == 400
        assert body["error"]["code"] == "streaming_unsupported"
        assert body["error"]["param"] == "stream"
        status, _, body = s.post(CHAT, chat(max_tokens=2))
        assert status == 200, body


# -- helpers -------------------------------------------------------------------------------


class Gate:
    """The real engine, held after its first piece while ``hold`` (to observe a live stream)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.hold = True
        self.waiting = threading.Event()
        self.release = threading.Event()
        self.cancelled = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def stream(self, ids: list[int], params: Any, cancel: threading.Event) -> Iterator[Any]:
        for i, piece in enumerate(self.engine.stream(ids, params, cancel)):
            yield piece
            if i == 0 and self.hold:
                self.waiting.set()
                while not self.release.wait(0.01):
                    if cancel.is_set():
                        self.cancelled.set()
                        break


def _blocking_hook(folder: Path, more: str = "") -> Path:
    """Write ``hooks.py`` whose ``prepare`` hangs while the returned file exists."""
    block = folder / "block"
    (folder / "hooks.py").write_text(
        "import pathlib, time\n"
        f"BLOCK = pathlib.Path({str(block)!r})\n"
        "def prepare(body):\n"
        "    end = time.monotonic() + 30\n"
        "    while BLOCK.exists() and time.monotonic() < end:\n"
        "        time.sleep(0.01)\n"
        "    return body\n" + more
    )
    return block


def _unchunked(data: bytes) -> str:
    """The body of a chunked HTTP response (after its head)."""
    rest, body = data.split(b"\r\n\r\n", 1)[1], b""
    while rest:
        size, rest = rest.split(b"\r\n", 1)
        n = int(size, 16)
        body, rest = body + rest[:n], rest[n + 2 :]
    return body.decode()


def _open_stream(port: int, body: dict[str, Any]) -> socket.socket:
    payload = json.dumps({**body, "stream": True}).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"x-request-id: gated\r\ncontent-length: "
        + str(len(payload)).encode()
        + b"\r\n\r\n"
        + payload
    )
    return sock


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        more = sock.recv(65536)
        assert more, data
        data += more
    return data


def _retry_until_admitted(call: Callable[[], int]) -> int:
    deadline = time.monotonic() + 30
    status = call()
    while status == 429 and time.monotonic() < deadline:
        time.sleep(0.05)
        status = call()
    return status
