"""The one interface every engine implements, and the pieces engines share (stdlib only).

An engine owns a model and its tokenizer: ``load`` (weights onto the device), ``warmup`` (a
first forward pass before readiness), ``encode`` / ``render_chat`` (prompt text to token ids),
``stream`` (incremental generation, one :class:`Piece` per step, cancellable), ``embed`` and
``classify`` (encoder tasks), ``health``, ``metrics`` and ``close``. The server's OpenAI front
(:mod:`svai.runtime.server.openai`) drives ``stream``; :class:`EngineModel` adapts an engine to
the core's ``Model`` protocol so ``/predict`` serves the same folder through ``Service``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "Engine",
    "EngineModel",
    "Piece",
    "SamplingParams",
    "StopWatcher",
    "TokenizerPrompts",
]


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How to generate: ``temperature`` 0 is greedy; ``seed`` makes sampling repeatable."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Piece:
    """One step of a stream: new text (maybe empty), and on the last one why it ended.

    Attributes:
        text: text produced since the previous piece (held back while it may begin a stop
            sequence or ends inside a multi-byte character).
        finish_reason: ``None`` until the last piece: ``stop`` (end of sequence or a stop
            string), ``length`` (``max_tokens`` or the context), ``cancelled``.
        tokens: output tokens produced so far.
    """

    text: str
    finish_reason: str | None = None
    tokens: int = 0


class Engine(Protocol):
    """What the front needs from an engine (see the module docstring)."""

    name: str
    max_model_len: int

    def load(self) -> None:
        """Load the weights and tokenizer onto the device; log each component's time."""

    def warmup(self) -> None:
        """Run a first forward pass so the first request does not pay for it."""

    def encode(self, text: str, *, special: bool) -> list[int]:
        """Token ids of ``text`` (``special``: add the model's BOS and the like)."""

    def render_chat(self, messages: Sequence[dict[str, str]], template: str | None) -> str | None:
        """The prompt for ``messages`` by ``template`` or the tokenizer's; ``None`` if neither."""

    def stream(
        self, prompt_ids: list[int], params: SamplingParams, cancel: threading.Event
    ) -> Iterator[Piece]:
        """Generate from ``prompt_ids``; stop at the next step once ``cancel`` is set."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Pooled, L2-normalised embeddings (task feature-extraction)."""

    def classify(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """``{"label", "score", "scores"}`` per text (task text-classification)."""

    def health(self) -> bool:
        """Whether the engine can serve (a vLLM child process still running, ...)."""

    def metrics(self) -> dict[str, float]:
        """Load timings in seconds by component (``import_s``, ``weights_s``, ...)."""

    def close(self) -> None:
        """Release the device (and end a child process)."""


class TokenizerPrompts:
    """``encode`` and ``render_chat`` by the folder's Hugging Face tokenizer (``self.tokenizer``)."""

    tokenizer: Any = None

    def encode(self, text: str, *, special: bool) -> list[int]:
        """Token ids of ``text`` (``special``: add BOS and the like)."""
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def render_chat(self, messages: Sequence[dict[str, str]], template: str | None) -> str | None:
        """Apply ``template`` or the tokenizer's chat template; ``None`` when there is neither."""
        if template is None and not getattr(self.tokenizer, "chat_template", None):
            return None
        text: str = self.tokenizer.apply_chat_template(
            list(messages), chat_template=template, tokenize=False, add_generation_prompt=True
        )
        return text


@dataclass(slots=True)
class StopWatcher:
    """Cut generated text at the first stop string, holding back what may begin one.

    ``feed`` takes the new text and returns what may be sent now and whether a stop string
    was reached (the text before it is sent; the stop string itself is not).
    """

    stops: tuple[str, ...]
    _held: str = field(default="")

    def feed(self, text: str) -> tuple[str, bool]:
        """Return ``(text to send, stopped)`` after adding ``text``."""
        held = self._held + text
        if not self.stops:
            self._held = ""
            return held, False
        cut = min((i for i in (held.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self._held = ""
            return held[:cut], True
        keep = 0
        for s in self.stops:  # the longest tail of ``held`` that begins some stop string
            for n in range(min(len(s) - 1, len(held)), keep, -1):
                if held.endswith(s[:n]):
                    keep = n
                    break
        self._held = held[len(held) - keep :]
        return held[: len(held) - keep], False

    def flush(self) -> str:
        """What is still held back, once the output ended for another reason."""
        held, self._held = self._held, ""
        return held


class EngineModel:
    """An engine as the core's ``Model``: ``/predict`` for the folder's task.

    ``{"inputs": "text"}`` or a list of texts; outputs per text: ``{"label", "score",
    "scores"}`` (text-classification), ``{"embedding"}`` (feature-extraction) or
    ``{"generated_text"}`` (text-generation: greedy, ``default_max_tokens`` tokens).
    """

    def __init__(self, engine: Engine, task: str, default_max_tokens: int) -> None:
        self.engine = engine
        self.task = task
        self._params = SamplingParams(max_tokens=default_max_tokens, temperature=0.0)

    def to_feeds(self, inputs: Any) -> list[str]:
        """Check the inputs: a string or a non-empty list of strings."""
        from svai.runtime.core.errors import InvalidInputError

        texts = [inputs] if type(inputs) is str else inputs
        if type(texts) is not list or not texts or not all(type(t) is str for t in texts):
            raise InvalidInputError(
                "$.inputs: expected a string or a list of strings", path="$.inputs"
            )
        return list(texts)

    def run_batch(self, batch: Sequence[list[str]]) -> list[Any]:
        """Answer each request of the batch."""
        return [self._run(texts) for texts in batch]

    def _run(self, texts: list[str]) -> list[dict[str, Any]]:
        if self.task == "text-classification":
            return self.engine.classify(texts)
        if self.task == "feature-extraction":
            return [{"embedding": e} for e in self.engine.embed(texts)]
        out = []
        for text in texts:
            ids = self.engine.encode(text, special=True)
            pieces = self.engine.stream(ids, self._params, threading.Event())
            out.append({"generated_text": "".join(p.text for p in pieces)})
        return out

    def warmup(self) -> None:
        """Warm the engine up (its first forward pass)."""
        self.engine.warmup()

    def close(self) -> None:
        """Release the engine (``Service.close`` calls this)."""
        self.engine.close()
