"""The ``vllm`` engine: ``vllm serve`` as a child process, svai's front in front of it.

vLLM brings continuous batching, paged attention and tensor parallelism; svai keeps its own
front (validation, admission, cache, idempotency, fallback, metrics) and proxies each
generation to the child's OpenAI API on loopback: the prompt goes as token ids to
``/v1/completions`` (svai renders the chat template, so both engines build the same prompt),
with ``stream: true`` and ``stream_options.include_usage``; each SSE event becomes a
:class:`~svai.runtime.engines.base.Piece`. Cancelling closes the connection, which vLLM
treats as an abort (the sequence leaves the batch and frees its KV blocks).

The child: ``$SVAI_VLLM_BIN`` (default ``vllm``, the version :data:`VLLM_VERSION` the GPU
images pin) ``serve FOLDER --host 127.0.0.1 --port P --served-model-name svai --dtype ...
--gpu-memory-utilization ... --tensor-parallel-size ... [--max-model-len ...] *vllm_args``.
``load`` waits for its ``/health`` (or its exit, reported with the tail of its output);
``health`` is false once it has exited; ``close`` ends it (SIGTERM, then SIGKILL), and
``Service.close`` calls it when the server drains. (No ``PR_SET_PDEATHSIG``: Linux sends it
when the *thread* that started the child ends, and the loading thread ends once loaded.)

Errors: vLLM's 400s (both its ``{"object": "error", ...}`` and ``{"error": {...}}`` shapes)
become a ``RequestError`` with vLLM's message; anything else, or an error event in the
stream, a ``ModelError``.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from svai.runtime.core.config import EngineConfig, ModelConfig
from svai.runtime.core.errors import ConfigError, ModelError, RequestError
from svai.runtime.engines.base import Piece, SamplingParams, TokenizerPrompts

__all__ = ["VLLM_VERSION", "VllmEngine"]

VLLM_VERSION = "0.34.0"
"""The vLLM release this engine speaks to (the GPU images install exactly this one)."""

_SERVED_NAME = "svai"
_READY_TIMEOUT_S = 1800.0  # a 70B model on a cold node downloads and compiles for minutes
_OUTPUT_LINES = 40


class VllmEngine(TokenizerPrompts):
    """Run ``vllm serve`` and generate through it (see the module docstring).

    Args:
        model: the ``model`` section (``path`` is the folder).
        engine: the ``engine`` section (dtype, memory fraction, parallelism, extra args).
        folder: the folder, resolved against the artifact directory.
        log: where timings and the child's fate go (``Telemetry.event``).
    """

    name = "vllm"

    def __init__(
        self,
        model: ModelConfig,
        engine: EngineConfig,
        folder: Path,
        log: Callable[..., None] | None = None,
    ) -> None:
        self.settings = engine
        self.folder = folder
        self.max_model_len = engine.max_model_len or 0
        self.timings: dict[str, float] = {}
        self.port = 0
        self._log = log
        self._child: subprocess.Popen[bytes] | None = None
        self._output: deque[str] = deque(maxlen=_OUTPUT_LINES)
        self._pumping = threading.Thread()

    # -- lifecycle -------------------------------------------------------------------------

    def command(self) -> list[str]:
        """The child's command line."""
        s = self.settings
        cmd = [
            os.environ.get("SVAI_VLLM_BIN", "vllm"),
            "serve",
            str(self.folder),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--served-model-name",
            _SERVED_NAME,
            "--dtype",
            s.dtype,
            "--gpu-memory-utilization",
            str(s.gpu_memory_utilization),
            "--tensor-parallel-size",
            str(s.tensor_parallel_size),
        ]
        if s.max_model_len is not None:
            cmd += ["--max-model-len", str(s.max_model_len)]
        return cmd + list(s.vllm_args)

    def load(self) -> None:
        """Start the child, load the tokenizer meanwhile, wait until the child is healthy."""
        if not (self.folder / "config.json").is_file():
            raise ConfigError(f"model.path: {self.folder} is not a save_pretrained folder")
        t0 = time.perf_counter()
        self.port = _free_port()
        try:
            self._child = subprocess.Popen(
                self.command(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        except OSError as exc:
            raise ConfigError(f"engine vllm: cannot start {self.command()[0]!r}: {exc}") from None
        self._pumping = threading.Thread(target=self._pump, name="svai-vllm-output", daemon=True)
        self._pumping.start()
        import transformers

        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.folder)
        self.timings["tokenizer_s"] = time.perf_counter() - t0
        self._wait_ready(t0)
        if not self.max_model_len:
            self.max_model_len = self._served_max_len()
        self.timings["load_s"] = time.perf_counter() - t0
        if self._log is not None:
            timings = {k: round(v, 4) for k, v in self.timings.items()}
            self._log("engine loaded", engine=self.name, port=self.port, **timings)

    def _pump(self) -> None:
        child = self._child
        assert child is not None and child.stdout is not None
        for raw in child.stdout:
            self._output.append(raw.decode("utf-8", "replace").rstrip())

    def _wait_ready(self, t0: float) -> None:
        end = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < end:
            if not self.health():
                self._pumping.join(5.0)  # the child's last words explain its exit
                tail = "\n".join(self._output)
                raise ModelError(f"vllm serve exited ({self._child_code()}):\n{tail}")
            try:
                status, _ = self._request("GET", "/health", None, timeout=2.0)
                if status == 200:
                    self.timings["ready_s"] = time.perf_counter() - t0
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.close()
        raise ModelError(f"vllm serve not healthy after {_READY_TIMEOUT_S:.0f} s")

    def _served_max_len(self) -> int:
        _status, body = self._request("GET", "/v1/models", None, timeout=10.0)
        try:
            return int(json.loads(body)["data"][0]["max_model_len"])
        except (ValueError, KeyError, IndexError, TypeError):
            return 2048  # an older vLLM that does not say; generation still stops at its limit

    def warmup(self) -> None:
        """One short generation through the child (its CUDA graphs are captured at start)."""
        t = time.perf_counter()
        ids = self.encode("Hello", special=True)
        for _ in self.stream(ids, SamplingParams(max_tokens=1, temperature=0.0), threading.Event()):
            pass
        self.timings["warmup_s"] = time.perf_counter() - t
        if (
            self._log is not None
        ):  # the same line as the transformers engine's (svai bench reads it)
            self._log("engine warm", warmup_s=round(self.timings["warmup_s"], 4))

    def health(self) -> bool:
        """Whether the child still runs."""
        return self._child is not None and self._child.poll() is None

    def metrics(self) -> dict[str, float]:
        """Start-up timings, in seconds."""
        return dict(self.timings)

    def close(self) -> None:
        """End the child: SIGTERM, then SIGKILL after 10 s."""
        child = self._child
        if child is None or child.poll() is not None:
            return
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)

    def _child_code(self) -> int | None:
        return None if self._child is None else self._child.poll()

    # -- generation ------------------------------------------------------------------------

    def stream(
        self, prompt_ids: list[int], params: SamplingParams, cancel: threading.Event
    ) -> Iterator[Piece]:
        """Stream one completion from the child; closing the connection aborts it."""
        body: dict[str, Any] = {
            "model": _SERVED_NAME,
            "prompt": prompt_ids,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            conn.request(
                "POST", "/v1/completions", json.dumps(body), {"content-type": "application/json"}
            )
            resp = conn.getresponse()
            if resp.status != 200:
                raise _error(resp.status, resp.read())
            yield from self._pieces(resp, cancel)
        except (OSError, http.client.HTTPException) as exc:
            raise ModelError(f"vllm serve: {exc!r}") from None
        finally:
            conn.close()  # an abort for vLLM when the stream is not finished

    def _pieces(self, resp: http.client.HTTPResponse, cancel: threading.Event) -> Iterator[Piece]:
        tokens = 0
        finish: str | None = None
        while True:
            if cancel.is_set():
                yield Piece("", "cancelled", tokens)
                return
            line = resp.readline()
            if not line:
                raise ModelError("vllm serve ended the stream without [DONE]")
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                yield Piece("", finish or "stop", tokens)
                return
            event = json.loads(data)
            if "error" in event or event.get("object") == "error":
                raise ModelError(f"vllm serve: {_message(event)}")
            usage = event.get("usage")
            if usage:
                tokens = int(usage.get("completion_tokens", tokens))
            for choice in event.get("choices", []):
                text = choice.get("text", "")
                if choice.get("finish_reason") is not None:
                    finish = "length" if choice["finish_reason"] == "length" else "stop"
                if text:
                    tokens += 1 if not usage else 0
                    yield Piece(text, None, tokens)

    # -- embeddings and classes are not vLLM's job here -------------------------------------

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Not served by this engine (the config allows vllm for text-generation only)."""
        raise ModelError("engine vllm serves text-generation only")

    def classify(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Not served by this engine (the config allows vllm for text-generation only)."""
        raise ModelError("engine vllm serves text-generation only")

    def _request(
        self, method: str, path: str, body: bytes | None, *, timeout: float
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _message(event: Any) -> str:
    if isinstance(event, dict):
        inner = event.get("error", event)
        if isinstance(inner, dict):
            return str(inner.get("message", inner))
        return str(inner)
    return str(event)


def _error(status: int, raw: bytes) -> Exception:
    try:
        message = _message(json.loads(raw))
    except ValueError:
        message = raw[:200].decode("utf-8", "replace")
    if status == 400:
        return RequestError(f"vllm: {message}")
    return ModelError(f"vllm serve answered {status}: {message}")
