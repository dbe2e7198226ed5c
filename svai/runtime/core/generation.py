"""The OpenAI-compatible text-generation contract: request checks and response shapes.

Transport- and engine-independent (no torch here): the server's OpenAI routes
(:mod:`svai.runtime.server.openai`) parse a body with :func:`parse_request`, which refuses --
before any work -- what svai does not serve (``n > 1``, ``logprobs``, ``tools``, ... are named
in a 400), then answer with :func:`completion_body` or, for ``stream: true``, a series of
:func:`chunk_body` events framed by :func:`sse` and ended by :data:`SSE_DONE`.

Errors use OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``, so the OpenAI
client libraries read them (:func:`openai_error`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

from svai.runtime.core.config import GenerationConfig
from svai.runtime.core.errors import RequestError, RuntimeCoreError

__all__ = [
    "SSE_DONE",
    "GenerationRequest",
    "ModelNotFoundError",
    "StreamingUnavailableError",
    "UnsupportedParameterError",
    "check_model",
    "chunk_body",
    "completion_body",
    "is_deterministic",
    "openai_error",
    "parse_request",
    "sse",
]

SSE_DONE = b"data: [DONE]\n\n"
"""The last event of every stream (OpenAI's terminator)."""

_COMMON = frozenset(
    {
        "model",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "seed",
        "stop",
        "stream",
        "stream_options",
        "user",
        "n",
        "logprobs",
        "top_logprobs",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "response_format",
    }
)
_CHAT = _COMMON | {"messages"}
_COMPLETION = _COMMON | {"prompt", "echo", "best_of", "suffix"}
_UNSUPPORTED = ("tools", "tool_choice", "functions", "function_call", "parallel_tool_calls")
_ROLES = ("system", "user", "assistant", "developer")
_MAX_STOPS = 4  # OpenAI's own limit


class UnsupportedParameterError(RequestError):
    """A parameter svai does not serve (``n > 1``, ``logprobs``, ``tools``, ...): a 400."""

    code = "unsupported_parameter"


class ModelNotFoundError(RequestError):
    """The request names a model this endpoint does not serve: a 404, as OpenAI answers it."""

    status = 404
    code = "model_not_found"


class StreamingUnavailableError(RequestError):
    """``stream: true`` on a deployment path that buffers answers (``generation.streaming``)."""

    code = "streaming_unsupported"


def check_model(body: Any, served: str) -> None:
    """Refuse a request whose ``model`` names another model than ``served``.

    ``served`` is the id ``GET /v1/models`` lists (the spec's ``name``); a request without a
    ``model`` field is served (OpenAI requires the field, but svai serves one model).

    Raises:
        ModelNotFoundError: ``model`` is present and is not ``served``.
    """
    name = body.get("model") if type(body) is dict else None
    if name is not None and name != served:
        shown = name if type(name) is str else json.dumps(name)
        raise ModelNotFoundError(
            f"The model `{shown[:200]}` does not exist; this endpoint serves `{served}`"
        )


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """A checked request of ``/v1/chat/completions`` or ``/v1/completions``.

    Attributes:
        kind: ``chat`` or ``completion``.
        messages: the chat messages (``{"role", "content"}`` with string content), chat only.
        prompt: the prompt text, completions only.
        max_tokens: output tokens at most (the default when the request named none).
        temperature: 0 is greedy decoding.
        top_p: nucleus sampling mass.
        seed: makes sampling repeatable.
        stop: strings that end the output (not included in it).
        stream: answer as server-sent events.
        include_usage: ``stream_options.include_usage``: a last chunk with token counts.
    """

    kind: str
    messages: tuple[dict[str, str], ...]
    prompt: str
    max_tokens: int
    temperature: float
    top_p: float
    seed: int | None
    stop: tuple[str, ...]
    stream: bool
    include_usage: bool

    def cache_form(self) -> dict[str, Any]:
        """What decides the answer: the key of the exact-match cache and of idempotency."""
        return {
            "kind": self.kind,
            "messages": list(self.messages),
            "prompt": self.prompt,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop": list(self.stop),
        }


def is_deterministic(req: GenerationRequest) -> bool:
    """Whether the same request always gets the same answer (greedy, or sampled with a seed)."""
    return req.temperature == 0 or req.seed is not None


def parse_request(body: Any, kind: str, limits: GenerationConfig) -> GenerationRequest:
    """Check a decoded OpenAI request body; refuse anything svai would not honour.

    Args:
        body: the decoded JSON body.
        kind: ``chat`` (``/v1/chat/completions``) or ``completion`` (``/v1/completions``).
        limits: the ``generation`` section (``max_tokens`` cap and default).

    Returns:
        The checked request.

    Raises:
        UnsupportedParameterError: parameters svai does not serve, all named in one message.
        RequestError: a missing, mistyped or out-of-range field (``path`` names it).
    """
    if type(body) is not dict:
        raise RequestError("$: expected a JSON object", path="$")
    allowed = _CHAT if kind == "chat" else _COMPLETION
    unknown = [k for k in body if k in _UNSUPPORTED or k not in allowed]
    unsupported = sorted(set(unknown + _unsupported_values(body)))
    if unsupported:
        raise UnsupportedParameterError(
            f"unsupported parameter(s): {', '.join(unsupported)}", path=f"$.{unsupported[0]}"
        )
    if kind == "chat":
        messages, prompt = _messages(body.get("messages")), ""
    else:
        messages, prompt = (), _prompt(body.get("prompt"))
    requested = body.get("max_completion_tokens", body.get("max_tokens"))
    max_tokens = limits.default_max_tokens if requested is None else _int(requested, "max_tokens")
    if not 1 <= max_tokens <= limits.max_tokens:
        raise RequestError(
            f"$.max_tokens: must be in 1..{limits.max_tokens}, got {max_tokens}",
            path="$.max_tokens",
        )
    temperature = _number(body.get("temperature", 1.0), "temperature", 0.0, 2.0)
    top_p = _number(body.get("top_p", 1.0), "top_p", 0.0, 1.0)
    if top_p == 0:
        raise RequestError("$.top_p: must be > 0", path="$.top_p")
    seed = body.get("seed")
    if seed is not None:
        seed = _int(seed, "seed")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError("$.stream: expected true or false", path="$.stream")
    if stream and not limits.streaming:
        raise StreamingUnavailableError(
            "$.stream: this deployment's path buffers whole answers and cannot stream; "
            "send stream: false (svai plan names the path)",
            path="$.stream",
        )
    options = body.get("stream_options") or {}
    if type(options) is not dict or set(options) - {"include_usage"}:
        raise RequestError("$.stream_options: only include_usage is supported", path="$")
    return GenerationRequest(
        kind=kind,
        messages=messages,
        prompt=prompt,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        stop=_stops(body.get("stop")),
        stream=stream,
        include_usage=bool(options.get("include_usage", False)),
    )


def _unsupported_values(body: dict[str, Any]) -> list[str]:
    """Known parameters whose values svai does not serve (``n: 2``, ``logprobs: true``, ...)."""
    bad = []
    if body.get("n", 1) != 1:
        bad.append("n")
    if body.get("best_of", 1) != 1:
        bad.append("best_of")
    for name in ("logprobs", "top_logprobs", "logit_bias", "echo", "suffix"):
        if body.get(name) not in (None, False, 0, {}):
            bad.append(name)
    for name in ("presence_penalty", "frequency_penalty"):
        if body.get(name) not in (None, 0, 0.0):
            bad.append(name)
    fmt = body.get("response_format")
    if fmt is not None and fmt != {"type": "text"}:
        bad.append("response_format")
    return bad


def _messages(value: Any) -> tuple[dict[str, str], ...]:
    if type(value) is not list or not value:
        raise RequestError("$.messages: expected a non-empty array", path="$.messages")
    out = []
    for i, m in enumerate(value):
        where = f"$.messages[{i}]"
        if type(m) is not dict or set(m) - {"role", "content", "name"}:
            raise RequestError(f"{where}: expected {{role, content}}", path=where)
        role, content = m.get("role"), m.get("content")
        if role not in _ROLES:
            raise RequestError(f"{where}.role: expected one of {_ROLES}", path=f"{where}.role")
        if type(content) is list:  # content parts: text only
            if not all(type(p) is dict and p.get("type") == "text" for p in content):
                raise UnsupportedParameterError(
                    f"{where}.content: only text parts are supported", path=f"{where}.content"
                )
            content = "".join(str(p.get("text", "")) for p in content)
        if type(content) is not str:
            raise RequestError(f"{where}.content: expected a string", path=f"{where}.content")
        out.append({"role": role, "content": content})
    return tuple(out)


def _prompt(value: Any) -> str:
    if type(value) is list and len(value) == 1 and type(value[0]) is str:
        value = value[0]
    if type(value) is not str:
        raise RequestError("$.prompt: expected a string (one prompt per request)", path="$.prompt")
    return value


def _stops(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if type(value) is str else value
    if (
        type(stops) is not list
        or len(stops) > _MAX_STOPS
        or not all(type(s) is str and s for s in stops)
    ):
        raise RequestError(
            f"$.stop: expected a non-empty string or up to {_MAX_STOPS} of them", path="$.stop"
        )
    return tuple(stops)


def _int(value: Any, name: str) -> int:
    if type(value) is not int:
        raise RequestError(f"$.{name}: expected an integer", path=f"$.{name}")
    return value


def _number(value: Any, name: str, low: float, high: float) -> float:
    ok = type(value) in (int, float) and math.isfinite(value) and low <= value <= high
    if not ok:
        raise RequestError(f"$.{name}: expected a number in {low}..{high}", path=f"$.{name}")
    return float(value)


# -- responses -----------------------------------------------------------------------------


def completion_body(
    req: GenerationRequest,
    rid: str,
    model: str,
    text: str,
    finish_reason: str,
    usage: tuple[int, int],
) -> dict[str, Any]:
    """The whole answer (``stream: false``), in the shape of the route that was called."""
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish_reason}
    if req.kind == "chat":
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice["text"] = text
        choice["logprobs"] = None
    return {
        "id": _id(req, rid),
        "object": "chat.completion" if req.kind == "chat" else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": _usage(usage),
    }


def chunk_body(
    req: GenerationRequest,
    rid: str,
    model: str,
    text: str | None,
    finish_reason: str | None = None,
    usage: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """One streamed event: a piece of text, the finish reason, or (``usage``) the token counts.

    A chat stream's first event carries ``role: assistant`` (``text`` empty), as OpenAI's does.
    """
    body: dict[str, Any] = {
        "id": _id(req, rid),
        "object": "chat.completion.chunk" if req.kind == "chat" else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [],
    }
    if usage is not None:
        body["usage"] = _usage(usage)
        return body
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish_reason}
    if req.kind == "chat":
        delta: dict[str, str] = {} if text is None else {"content": text}
        if text == "":
            delta = {"role": "assistant", "content": ""}
        choice["delta"] = delta
    else:
        choice["text"] = text or ""
        choice["logprobs"] = None
    body["choices"] = [choice]
    return body


def sse(event: dict[str, Any]) -> bytes:
    """Frame one server-sent event (``data: {...}`` and a blank line)."""
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


def openai_error(exc: RuntimeCoreError) -> dict[str, Any]:
    """The error body in OpenAI's shape (``param`` is the field, without ``$.``)."""
    param = exc.path[2:] if exc.path and exc.path.startswith("$.") else None
    kind = "invalid_request_error" if exc.status < 500 else "server_error"
    return {"error": {"message": exc.message, "type": kind, "param": param, "code": exc.code}}


def _id(req: GenerationRequest, rid: str) -> str:
    return ("chatcmpl-" if req.kind == "chat" else "cmpl-") + rid


def _usage(usage: tuple[int, int]) -> dict[str, int]:
    prompt, completion = usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
