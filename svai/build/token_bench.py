"""Time to first token and time per output token, measured through the served OpenAI route.

``svai bench`` on a ``task: text-generation`` artifact has its measuring child serve the model
with the runtime's own HTTP server (:mod:`svai.build.bench`); this module is the client. It
sends streaming ``POST /v1/chat/completions`` requests (``stream: true``, greedy, the usage
chunk asked for) one after another, reads the server-sent events line by line as they arrive,
and times each request:

* **TTFT**: from sending the request to the first chunk with generated text;
* **TPOT**: from that chunk to the chunk that ends the answer (``finish_reason``), over the
  output tokens after the first (``usage.completion_tokens`` − 1): a chunk may carry several
  tokens or none (a partial character), the token count is the server's;
* the gaps between successive chunks (inter-chunk times).

The prompt is filler text sized to the spec's ``traffic.tokens.prompt``: two short requests
give the tokens the server counts for two filler lengths (chat template included), a straight
line through them picks the length, and the warm-up requests (not counted) check it. The
recorded ``prompt_tokens`` is what the server reported, never the target. Figures are medians
over the measured requests; p95s only where there are 20 values or more.
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from svai.compiler.needs import DEFAULT_TOKENS
from svai.errors import UsageError
from svai.spec.resolve import ResolvedSpec

__all__ = [
    "StreamSample",
    "TokenLoad",
    "TokenTimings",
    "measure_tokens",
    "percentile",
    "summarise",
    "token_load",
]

_ROUTE = "/v1/chat/completions"
_MIN_FOR_P95 = 20
"""Fewer values than this give no p95 worth stating (the nearest rank would be the maximum)."""
_WORDS = (
    "the", "support", "team", "reads", "every", "ticket", "and", "drafts", "a", "short",
    "reply", "that", "names", "the", "product", "version", "account", "and", "next", "step",
)  # fmt: skip
_PROBES = (8, 40)
"""Filler lengths (in words) of the two requests that fit the prompt's token count."""


@dataclass(frozen=True, slots=True)
class TokenLoad:
    """What to send: a prompt of about ``prompt_tokens``, up to ``output_tokens`` back.

    Attributes:
        prompt_tokens: The prompt length to aim at, in the server's tokens.
        output_tokens: ``max_tokens`` of each request.
        requests: Measured requests.
        warmup: Requests sent first at the measured size, not counted.
        timeout_s: Socket timeout of one request.
    """

    prompt_tokens: int
    output_tokens: int
    requests: int
    warmup: int = 2
    timeout_s: float = 120.0


@dataclass(frozen=True, slots=True)
class StreamSample:
    """One streamed answer as the client saw it.

    Attributes:
        prompt_tokens: ``usage.prompt_tokens``.
        output_tokens: ``usage.completion_tokens``.
        chunks: Chunks that carried generated text.
        ttft_s: Request sent to the first text chunk.
        decode_s: First text chunk to the chunk that ended the answer.
    """

    prompt_tokens: int
    output_tokens: int
    chunks: int
    ttft_s: float
    decode_s: float

    @property
    def tpot_s(self) -> float | None:
        """Seconds per output token after the first; ``None`` with fewer than two of either."""
        if self.output_tokens < 2 or self.chunks < 2 or self.decode_s <= 0:
            return None
        return self.decode_s / (self.output_tokens - 1)


@dataclass(frozen=True, slots=True)
class TokenTimings:
    """Warm token timings over the measured requests.

    Attributes:
        ttft_s: Median time to first token.
        tpot_s: Median, over requests, of each request's time per output token.
        prompt_tokens: Median prompt length the server reported.
        output_tokens: Median output tokens per request.
        requests: Measured requests.
        chunks: Text chunks over all measured requests.
        ttft_p95_s: 95th percentile of TTFT (``None`` under 20 requests).
        itl_p95_s: 95th percentile of the inter-chunk times (``None`` under 20 gaps).
        samples: Each measured request.
    """

    ttft_s: float
    tpot_s: float
    prompt_tokens: int
    output_tokens: int
    requests: int
    chunks: int
    ttft_p95_s: float | None
    itl_p95_s: float | None
    samples: tuple[StreamSample, ...] = ()


def token_load(spec: ResolvedSpec, config: Mapping[str, Any], requests: int) -> TokenLoad | None:
    """What to stream from ``spec``'s built model (``config``: its ``svai_runtime.json``).

    The spec's ``traffic.tokens`` prompt and output (else the recommender's defaults, 512 and
    256), within the package's limits: ``generation.max_prompt_tokens``, ``max_tokens`` and the
    engine's context. ``None`` for a model that does not generate text.
    """
    if spec.model.task != "text-generation":
        return None
    declared = spec.traffic.tokens
    prompt, output = (declared.prompt, declared.output) if declared else DEFAULT_TOKENS
    generation = config.get("generation") or {}
    output = min(output, int(generation.get("max_tokens") or output))
    if generation.get("max_prompt_tokens"):
        prompt = min(prompt, int(generation["max_prompt_tokens"]))
    context = (config.get("engine") or {}).get("max_model_len")
    if context:
        prompt = min(prompt, int(context) - output)
    timeout_s = float((config.get("api") or {}).get("timeout_s") or 60.0)
    return TokenLoad(max(1, prompt), max(2, output), requests, timeout_s=timeout_s + 30.0)


def percentile(ordered: list[float], q: float) -> float:
    """Nearest rank of sorted ``ordered``: a reported p99 is a value some request really had."""
    index = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[index]


def measure_tokens(
    port: int, load: TokenLoad, progress: Callable[[str], None] | None = None
) -> TokenTimings:
    """Stream ``load`` from the server on ``127.0.0.1:port`` and return the timings.

    Raises:
        UsageError: an answer that is not a 200 stream of text (quoted), an error event in the
            stream, an answer from the fallback, or no request with two tokens or more.
    """
    say = progress or (lambda _line: None)
    say(f"tokens: fitting a prompt of {load.prompt_tokens:,} tokens (2 short requests)")
    words, per_word = _fit_prompt(port, load)
    for i in range(load.warmup):
        sample, _ = _stream(port, words, load.output_tokens, load.timeout_s)
        if i == 0:  # one correction where the line through the two probes was off
            words = max(1, words + round((load.prompt_tokens - sample.prompt_tokens) / per_word))
        say(f"tokens: warm-up {i + 1}/{load.warmup}: {sample.prompt_tokens:,} prompt tokens")
    samples, gaps = [], []
    for i in range(load.requests):
        sample, between = _stream(port, words, load.output_tokens, load.timeout_s)
        samples.append(sample)
        gaps += between
        tpot = f"{sample.tpot_s * 1000:,.2f} ms/token" if sample.tpot_s else "no second token"
        say(
            f"tokens: {i + 1}/{load.requests}: TTFT {sample.ttft_s * 1000:,.1f} ms, "
            f"{sample.output_tokens} tokens in {sample.chunks} chunks, {tpot}"
        )
    return summarise(samples, gaps)


def summarise(samples: list[StreamSample], gaps: list[float]) -> TokenTimings:
    """The medians (and p95s where there are enough values) of ``samples``.

    ``gaps``: the inter-chunk times of all of them.

    Raises:
        UsageError: no sample generated two tokens, so no time per token can be told.
    """
    per_token = [s.tpot_s for s in samples if s.tpot_s is not None]
    if not per_token:
        raise UsageError(
            "svai bench: no answer had two output tokens in two chunks, so no time per token "
            "can be measured (the model ended each answer at once)"
        )
    ttfts = sorted(s.ttft_s for s in samples)
    gaps = sorted(gaps)
    return TokenTimings(
        ttft_s=statistics.median(ttfts),
        tpot_s=statistics.median(per_token),
        prompt_tokens=round(statistics.median(s.prompt_tokens for s in samples)),
        output_tokens=round(statistics.median(s.output_tokens for s in samples)),
        requests=len(samples),
        chunks=sum(s.chunks for s in samples),
        ttft_p95_s=percentile(ttfts, 0.95) if len(ttfts) >= _MIN_FOR_P95 else None,
        itl_p95_s=percentile(gaps, 0.95) if len(gaps) >= _MIN_FOR_P95 else None,
        samples=tuple(samples),
    )


def filler(words: int) -> str:
    """``words`` words of plain text (the same text for the same length)."""
    return " ".join(_WORDS[i % len(_WORDS)] for i in range(max(1, words)))


def _fit_prompt(port: int, load: TokenLoad) -> tuple[int, float]:
    """The filler length whose prompt the server counts as about ``load.prompt_tokens``.

    Returns:
        The length in words, and the tokens one word adds.
    """
    (w0, w1) = _PROBES
    p0 = _stream(port, w0, 1, load.timeout_s, need_text=False)[0].prompt_tokens
    p1 = _stream(port, w1, 1, load.timeout_s, need_text=False)[0].prompt_tokens
    if p1 <= p0:
        raise UsageError(
            f"svai bench: the server counted {p0} and {p1} prompt tokens for {w0} and {w1} "
            "words of text; the prompt cannot be sized"
        )
    per_word = (p1 - p0) / (w1 - w0)
    return max(1, round(w0 + (load.prompt_tokens - p0) / per_word)), per_word


def _stream(
    port: int, words: int, max_tokens: int, timeout_s: float, *, need_text: bool = True
) -> tuple[StreamSample, list[float]]:
    """Send one streaming chat request and time its chunks as they arrive.

    Returns:
        The request's figures, and the times between its chunks.
    """
    body = {
        "messages": [{"role": "user", "content": filler(words)}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        began = time.perf_counter()
        connection.request(
            "POST", _ROUTE, json.dumps(body).encode(), {"content-type": "application/json"}
        )
        reply = connection.getresponse()
        if reply.status != 200:
            quoted = reply.read()[:500].decode("utf-8", "replace")
            raise UsageError(f"svai bench: {_ROUTE} answered {reply.status}: {quoted}")
        if (reply.getheader("x-svai-fallback") or "").lower() == "true":
            raise UsageError(
                "svai bench: the fallback answered, not the model (its first token came after "
                "fallback.after); token timings would be the fallback's"
            )
        return _read_stream(reply, began, need_text)
    except (OSError, http.client.HTTPException) as exc:
        raise UsageError(f"svai bench: no streamed answer from {_ROUTE}: {exc!r}") from None
    finally:
        connection.close()


def _read_stream(
    reply: http.client.HTTPResponse, began: float, need_text: bool
) -> tuple[StreamSample, list[float]]:
    """Read server-sent events line by line until ``data: [DONE]``, noting arrival times."""
    texts: list[float] = []
    ended: float | None = None
    usage: dict[str, Any] = {}
    done = False
    for line in iter(reply.readline, b""):
        now = time.perf_counter()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            done = True
            break
        try:
            event = json.loads(data)
        except ValueError:
            quoted = data[:200].decode("utf-8", "replace")
            raise UsageError(
                f"svai bench: {_ROUTE} sent an event that is not JSON: {quoted}"
            ) from None
        if not isinstance(event, dict):
            raise UsageError(f"svai bench: {_ROUTE} sent an event that is not an object: {event!r}")
        if "error" in event:
            raise UsageError(f"svai bench: the stream ended with an error: {event['error']}")
        usage = event.get("usage") or usage
        for choice in event.get("choices") or ():
            if (choice.get("delta") or {}).get("content"):
                texts.append(now)
            if choice.get("finish_reason") is not None and ended is None:
                ended = now
    prompt, output = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not done or not isinstance(prompt, int) or not isinstance(output, int):
        raise UsageError(
            f"svai bench: {_ROUTE} ended its stream without "
            f"{'data: [DONE]' if not done else 'a usage chunk (prompt and completion tokens)'}"
        )
    if not texts:
        if need_text:
            raise UsageError(f"svai bench: {_ROUTE} streamed no text ({output} tokens)")
        return StreamSample(prompt, output, 0, math.inf, 0.0), []
    last = max(ended or texts[-1], texts[-1])
    marks = [*texts, last] if last > texts[-1] else texts
    gaps = [b - a for a, b in itertools.pairwise(marks)]
    return StreamSample(prompt, output, len(texts), texts[0] - began, last - texts[0]), gaps
