"""The OpenAI-compatible routes in front of an engine: chat, completions, embeddings, models.

``POST /v1/chat/completions`` and ``POST /v1/completions`` (``stream: true`` answers as
server-sent events: ``data: {...}`` chunks, ``data: [DONE]`` last), ``POST /v1/embeddings``,
``GET /v1/models``. The routes run on the connection's thread and write to its socket
themselves, so each token reaches the client as soon as the engine yields it.

What the front does around any engine, in order:

1. content type and size (``Service.check_headers``), JSON, and the OpenAI checks of
   :func:`svai.runtime.core.generation.parse_request` -- a 400 naming unsupported parameters
   (``n > 1``, ``logprobs``, ``tools``, ...), a ``max_tokens`` over ``generation.max_tokens``,
   or ``stream: true`` where ``generation.streaming`` is false (a path that buffers); then the
   ``model`` field: absent, or the id ``GET /v1/models`` lists, else 404 ``model_not_found``;
2. admission through ``Service.admit``: the same bound (``max_concurrency`` + ``queue_size``),
   rate limits and drain as ``/predict``; past it a 429 with ``Retry-After``;
3. the exact-match cache (``cache.ttl_s`` > 0) for deterministic requests only (temperature 0,
   or a seed), and idempotency keys (a repeat gets the first answer, a pending one waits);
4. on a generation thread, once one of ``max_concurrency`` engine slots is free (the wait is
   the metrics' ``queue_ms``): the pre-processing hook (it may rewrite the request body; a
   refusal is a 422), the prompt (the ``generation.chat_template`` file, else the tokenizer's
   chat template, else the ``generation.prompt_templates``), its length against
   ``generation.max_prompt_tokens`` and the context (400 ``prompt_too_long``), then the engine;
5. fallback, only before the first token: when no token came within ``fallback.after_s`` (a
   fallback configured; else ``api.timeout_s``) or the engine failed first, generation is
   cancelled and the fallback answers -- the ``fallback.rules`` hook (its return value is the
   text), else the ``fallback.model`` folder on its own in-process engine, which generates
   (and streams) within what is left of ``api.timeout_s`` without the pre-processing hook;
   ``x-svai-fallback: true`` marks it, and it is neither cached nor kept for idempotency.
   Without a fallback, a late first token is a 504;
6. the deadline: the whole generation ends by ``api.timeout_s`` after the request arrived.
   Past it, generation is cancelled (its slot freed at the engine's next step); a stream gets
   a last chunk with ``finish_reason: length``, an error event (code ``timeout``) and
   ``[DONE]``; a whole answer, of which nothing was sent, is a 504. No fallback then;
7. between tokens, a client that went away (a read of 0 bytes, a failed write) cancels the
   generation: the engine stops at its next step and both slots are freed;
8. one ``generation`` metrics line per request (``Telemetry.generation``): TTFT, TPOT, queue
   time, tokens in and out, finish reason (``timeout`` past the deadline), the fallback and
   cold-start flags.
"""

from __future__ import annotations

import hashlib
import json
import queue
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from svai.runtime.core import Response, Service
from svai.runtime.core.cache import cache_key
from svai.runtime.core.errors import (
    DeadlineError,
    InvalidInputError,
    ModelError,
    NotReadyError,
    OverloadedError,
    RateLimitedError,
    RequestError,
    RuntimeCoreError,
)
from svai.runtime.core.generation import (
    SSE_DONE,
    GenerationRequest,
    check_model,
    chunk_body,
    completion_body,
    is_deterministic,
    openai_error,
    parse_request,
    sse,
)
from svai.runtime.core.hooks import load_hook
from svai.runtime.core.idempotency import State
from svai.runtime.core.messages import Prediction, canonical_json, parse_json
from svai.runtime.engines.base import Engine, Piece, SamplingParams
from svai.runtime.server.wire import encode_response

__all__ = ["OpenAIFront", "PromptTooLongError", "StreamHandler"]

StreamHandler = Callable[[str, Mapping[str, str], bytes, socket.socket, bool], bool]
"""A route that writes its own answer: (method, headers, body, socket, keep-alive) -> keep-alive."""

_POLL_S = 0.05  # how often a waiting connection thread looks for a client that went away


class PromptTooLongError(RequestError):
    """The prompt is over ``generation.max_prompt_tokens`` or leaves no room in the context."""

    code = "prompt_too_long"


class _Run:
    """One generation: the events its thread posts, and how to stop it."""

    def __init__(self) -> None:
        self.events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.cancel = threading.Event()
        self.queue_ms = 0.0
        self.tokens_in = 0


class OpenAIFront:
    """The OpenAI routes of one service whose model is an engine (see the module docstring).

    Args:
        service: the service; its model (once loaded) is an ``EngineModel``.
    """

    def __init__(self, service: Service) -> None:
        self.service = service
        cfg = service.cfg
        self.cfg = cfg
        self.model_id = cfg.observability.service
        self._slots = threading.Semaphore(cfg.workers)
        self._fallback_slots = threading.Semaphore(cfg.workers)
        self._budget_s = cfg.fallback.after_s or cfg.api.timeout_s
        self._hooks: dict[str, Callable[[Any], Any] | None] | None = None
        self._templates: tuple[str | None, tuple[str, ...]] | None = None
        self._headers = {"x-svai-model-version": service.version}

    def routes(self) -> dict[str, StreamHandler]:
        """The routes this front answers, for ``Routes.streams``."""
        return {
            "/v1/chat/completions": self._chat,
            "/v1/completions": self._completion,
            "/v1/embeddings": self._embeddings,
            "/v1/models": self._models,
        }

    @property
    def engine(self) -> Engine:
        """The loaded engine (``NotReadyError`` while it loads)."""
        model = self.service.model
        engine = getattr(model, "engine", None)
        if engine is None or not self.service.ready:
            raise NotReadyError("model is not ready")
        return engine  # type: ignore[no-any-return]

    # -- routes ----------------------------------------------------------------------------

    def _chat(
        self, method: str, headers: Mapping[str, str], body: bytes, sock: Any, ka: bool
    ) -> bool:
        return self._generate("chat", method, headers, body, sock, ka)

    def _completion(
        self, method: str, headers: Mapping[str, str], body: bytes, sock: Any, ka: bool
    ) -> bool:
        return self._generate("completion", method, headers, body, sock, ka)

    def _models(
        self, method: str, headers: Mapping[str, str], body: bytes, sock: Any, ka: bool
    ) -> bool:
        if method != "GET":
            return _send(
                sock, self._error(405, "method_not_allowed", "use GET", {"allow": "GET"}), ka
            )
        data = {"id": self.model_id, "object": "model", "created": 0, "owned_by": "svai"}
        return _send(sock, self._json(200, {"object": "list", "data": [data]}), ka)

    def _embeddings(
        self, method: str, headers: Mapping[str, str], body: bytes, sock: Any, ka: bool
    ) -> bool:
        service = self.service
        rid = service.request_id(headers)
        try:
            if method != "POST":
                raise _MethodError("use POST")
            service.check_headers(headers.get("content-type"), len(body))
            payload = parse_json(body)
            texts = payload.get("input") if type(payload) is dict else None
            if type(texts) is str:
                texts = [texts]
            if type(texts) is not list or not texts or not all(type(t) is str for t in texts):
                raise RequestError(
                    "$.input: expected a string or a list of strings", path="$.input"
                )
            unknown = sorted(set(payload) - {"input", "model", "encoding_format", "user"})
            if unknown or payload.get("encoding_format", "float") != "float":
                raise RequestError(
                    f"unsupported parameter(s): {', '.join(unknown) or 'encoding_format'}", path="$"
                )
            check_model(payload, self.model_id)
            engine = self.engine
            if self.cfg.model.task != "feature-extraction":
                raise RequestError(f"this model serves {self.cfg.model.task}, not embeddings")
            pred = service.predict(
                {"inputs": texts},
                request_id=rid,
                tenant=headers.get(self.cfg.api.tenant_header, "")[:128],
                idempotency_key=headers.get(self.cfg.idempotency.header),
            )
            tokens = sum(len(engine.encode(t, special=True)) for t in texts)
            data = [
                {"object": "embedding", "index": i, "embedding": item["embedding"]}
                for i, item in enumerate(pred.outputs)
            ]
            answer = {
                "object": "list",
                "data": data,
                "model": self.model_id,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
            return _send(sock, self._json(200, answer, rid), ka)
        except RuntimeCoreError as exc:
            return _send(sock, self._failure(exc, rid), ka)

    # -- generation ------------------------------------------------------------------------

    def _generate(
        self,
        kind: str,
        method: str,
        headers: Mapping[str, str],
        body: bytes,
        sock: socket.socket,
        keep_alive: bool,
    ) -> bool:
        service = self.service
        rid = service.request_id(headers)
        received = time.monotonic()
        try:
            if method != "POST":
                raise _MethodError("use POST")
            service.check_headers(headers.get("content-type"), len(body))
            raw = parse_json(body)
            req = parse_request(raw, kind, self.cfg.generation)
            check_model(raw, self.model_id)
            _ = self.engine  # a 503 while the model loads, before taking a slot
            service.admit(headers)
        except RuntimeCoreError as exc:
            return _send(sock, self._failure(exc, rid), keep_alive)
        stats: dict[str, Any] = {"status": 200, "stream": req.stream, "cache": "off"}
        try:
            return self._admitted(req, raw, headers, rid, received, sock, keep_alive, stats)
        finally:
            cold = service.release()
            self._metrics(rid, received, cold, stats)

    def _admitted(
        self,
        req: GenerationRequest,
        raw: dict[str, Any],
        headers: Mapping[str, str],
        rid: str,
        received: float,
        sock: socket.socket,
        keep_alive: bool,
        stats: dict[str, Any],
    ) -> bool:
        cfg = self.cfg
        service = self.service
        tenant = headers.get(cfg.api.tenant_header, "")[:128]
        canonical = canonical_json(req.cache_form())
        input_hash = hashlib.sha256(canonical).hexdigest()
        cache = service.cache if is_deterministic(req) else None
        ckey = cache_key(tenant, service.version, canonical) if cache is not None else ""
        stats["cache"] = "miss" if cache is not None else "off"
        hit = cache.get(ckey) if cache is not None else None
        if hit is not None:
            stats["cache"] = "hit"
            return self._replay(
                req, json.loads(hit), rid, sock, keep_alive, {"x-svai-cache": "hit"}
            )
        table = service.idempotency
        key = headers.get(cfg.idempotency.header) if table is not None else None

        def keep(result: dict[str, Any]) -> None:  # before the answer's last bytes go out
            if cache is not None:
                cache.put(ckey, json.dumps(result).encode())
            if table is not None and key is not None:
                blob = json.dumps(result).encode()
                table.complete(scoped, entry, Prediction(blob, service.version, input_hash))

        if table is None or key is None:
            self._run(req, raw, rid, received, sock, keep_alive, stats, keep)
            return bool(stats.get("keep_alive", keep_alive))
        scoped = table.scoped(tenant, key)
        try:
            state, entry = table.begin(scoped, input_hash)
        except RuntimeCoreError as exc:
            stats["status"] = exc.status
            return _send(sock, self._failure(exc, rid), keep_alive)
        if state is not State.NEW:
            try:
                prior: Prediction = entry.future.result(timeout=cfg.api.timeout_s)
            except Exception as exc:  # the first attempt failed: so does its repeat
                error = exc if isinstance(exc, RuntimeCoreError) else ModelError(repr(exc))
                stats["status"] = error.status
                return _send(sock, self._failure(error, rid), keep_alive)
            extra = {"idempotent-replayed": "true"}
            return self._replay(req, prior.outputs, rid, sock, keep_alive, extra)
        done = False
        try:
            done = self._run(req, raw, rid, received, sock, keep_alive, stats, keep)
        finally:
            if not done:
                table.abandon(scoped, entry, ModelError("the first attempt did not complete"))
        return bool(stats.get("keep_alive", keep_alive))

    def _run(
        self,
        req: GenerationRequest,
        raw: dict[str, Any],
        rid: str,
        received: float,
        sock: socket.socket,
        keep_alive: bool,
        stats: dict[str, Any],
        keep: Callable[[dict[str, Any]], None],
    ) -> bool:
        """Generate and answer; return whether the model answered.

        ``keep`` gets the model's whole answer (for the cache and idempotency) before its last
        bytes are sent, so a client that repeats at once finds it. A fallback's answer is not
        kept: a repeat should try the model again.
        """
        writer = _Answer(self, req, rid, sock, keep_alive)
        deadline = received + self.cfg.api.timeout_s
        first_by = min(received + self._budget_s, deadline) if self._has_fallback() else deadline
        try:
            outcome = self._drive(
                self.engine,
                self._slots,
                req,
                raw,
                writer,
                stats,
                (received, first_by, deadline),
                keep,
            )
            if outcome != "fallback":
                return outcome == "done"
            stats["fallback"] = True
            self._fallback(req, raw, writer, stats, (received, deadline, deadline))
            return False
        finally:
            stats.setdefault("keep_alive", writer.keep_alive)

    def _drive(
        self,
        engine: Engine,
        slots: threading.Semaphore,
        req: GenerationRequest,
        raw: Any,
        writer: _Answer,
        stats: dict[str, Any],
        times: tuple[float, float, float],
        keep: Callable[[dict[str, Any]], None] | None,
    ) -> str:
        """Run one generation on ``engine`` and answer it through ``writer``.

        ``times`` is (received, first token by, whole answer by). ``keep`` is ``None`` for the
        fallback model: it runs without the pre-processing hook (which may be what is slow)
        and cannot fall back again.

        Returns:
            ``done`` (answered), ``failed`` (an error was answered, or the client went away),
            or ``fallback``: no token yet and the first-token budget passed or the engine
            failed, the generation cancelled and nothing sent; the caller answers.
        """
        received, first_by, deadline = times
        run = _Run()
        threading.Thread(
            target=self._produce,
            args=(engine, slots, req, raw if keep is not None else None, run),
            name="svai-generate",
            daemon=True,
        ).start()
        try:
            while True:
                kind, value = self._next(
                    run, writer.sock, first_by if writer.pieces == 0 else deadline
                )
                if kind == "gone":
                    run.cancel.set()
                    stats.update(status=499, finish_reason="disconnected", keep_alive=False)
                    _fill(stats, writer, run)
                    return "failed"
                failed = kind == "error" and writer.pieces == 0 and value.status >= 500
                if kind == "late" or failed:
                    run.cancel.set()  # frees the engine slot at its next step
                    _fill(stats, writer, run)
                    if writer.pieces == 0 and keep is not None and self._has_fallback():
                        return "fallback"  # only before the first token: nothing was sent
                if kind == "late":
                    return self._late(writer, stats)
                if kind == "error":
                    _fill(stats, writer, run)
                    stats.update(status=value.status, finish_reason="error")
                    if writer.started:  # the head is out: say it in the stream, then end it
                        writer.stream_error(value)
                    else:
                        writer.fail(value)
                    return "failed"
                piece: Piece = value
                if writer.pieces == 0:
                    stats["ttft_ms"] = (time.monotonic() - received) * 1000
                writer.piece(piece, run.tokens_in)
                if piece.finish_reason is not None:
                    stats["finish_reason"] = piece.finish_reason
                    _fill(stats, writer, run)
                    if writer.gone:
                        run.cancel.set()
                        stats.update(status=499, keep_alive=False)
                        return "failed"
                    if keep is not None:
                        keep(
                            {
                                "text": writer.text,
                                "finish_reason": piece.finish_reason,
                                "usage": [run.tokens_in, piece.tokens],
                            }
                        )
                    writer.finish(piece.finish_reason, run.tokens_in)
                    return "done"
                if writer.gone:
                    run.cancel.set()
                    stats.update(status=499, finish_reason="disconnected", keep_alive=False)
                    _fill(stats, writer, run)
                    return "failed"
        finally:
            stats["queue_ms"] = stats.get("queue_ms", 0.0) + run.queue_ms

    def _late(self, writer: _Answer, stats: dict[str, Any]) -> str:
        """Answer a generation past its deadline (already cancelled): 504, or end the stream.

        A started stream gets a last chunk with ``finish_reason: length`` (the output was cut,
        as by ``max_tokens``), then an error event ``timeout`` and ``[DONE]``; a whole answer,
        of which nothing was sent yet, is a 504.
        """
        timeout = self.cfg.api.timeout_s
        stats.update(status=504, finish_reason="timeout")
        if writer.started:
            writer.cut(DeadlineError(f"generation stopped at the {timeout} s deadline"))
        else:
            writer.fail(DeadlineError(f"generation did not finish within {timeout} s"))
        return "failed"

    def _next(self, run: _Run, sock: socket.socket, deadline: float) -> tuple[str, Any]:
        """The run's next event, ``("gone", None)`` or ``("late", None)`` past ``deadline``."""
        while True:
            wait = min(_POLL_S, deadline - time.monotonic())
            if wait <= 0:
                return "late", None
            try:
                return run.events.get(timeout=wait)
            except queue.Empty:
                if _client_gone(sock):
                    return "gone", None

    def _produce(
        self,
        engine: Engine,
        slots: threading.Semaphore,
        req: GenerationRequest,
        raw: Any,
        run: _Run,
    ) -> None:
        """The generation thread: an engine slot, then the hook (given ``raw``), prompt, engine."""
        t0 = time.monotonic()
        with slots:
            run.queue_ms = (time.monotonic() - t0) * 1000
            if run.cancel.is_set():
                return
            try:
                if raw is not None:
                    req = self._prepared(req, raw)
                ids = self._prompt_ids(engine, req)
                run.tokens_in = len(ids)
                params = _params(req)
                for piece in engine.stream(ids, params, run.cancel):
                    run.events.put(("piece", piece))
            except RuntimeCoreError as exc:
                run.events.put(("error", exc))
            except Exception as exc:  # an engine failure before any token may fall back
                run.events.put(("error", ModelError(f"model failed: {exc!r}")))

    def _prepared(self, req: GenerationRequest, raw: Any) -> GenerationRequest:
        """Run the pre-processing hook over the body; what it refuses is a 422."""
        pre = self._hook("pre")
        if pre is None:
            return req
        try:
            body = pre(raw)
        except (ValueError, TypeError, OverflowError) as exc:
            raise InvalidInputError(
                f"$: the pre-processing hook refused the input: {exc}", path="$"
            ) from None
        return parse_request(body, req.kind, self.cfg.generation)

    def _prompt_ids(self, engine: Engine, req: GenerationRequest) -> list[int]:
        limits = self.cfg.generation
        if req.kind == "chat":
            chat_template, wrappers = self._prompt_templates()
            text = engine.render_chat(req.messages, chat_template)
            special = text is None
            if text is None:
                text = _plain_chat(req.messages, wrappers)
        else:
            text, special = req.prompt, True
        ids = engine.encode(text, special=special)
        if limits.max_prompt_tokens is not None and len(ids) > limits.max_prompt_tokens:
            raise PromptTooLongError(
                f"prompt has {len(ids)} tokens; the limit is {limits.max_prompt_tokens}",
                path="$.messages" if req.kind == "chat" else "$.prompt",
            )
        if len(ids) + req.max_tokens > engine.max_model_len:
            raise PromptTooLongError(
                f"prompt ({len(ids)} tokens) + max_tokens ({req.max_tokens}) exceeds the "
                f"context of {engine.max_model_len} tokens",
                path="$.max_tokens",
            )
        return ids

    def _prompt_templates(self) -> tuple[str | None, tuple[str, ...]]:
        if self._templates is None:
            g = self.cfg.generation
            chat = self.cfg.resolve(g.chat_template).read_text() if g.chat_template else None
            wrappers = tuple(self.cfg.resolve(p).read_text() for p in g.prompt_templates)
            self._templates = (chat, wrappers)
        return self._templates

    def _hook(self, which: str) -> Callable[[Any], Any] | None:
        if self._hooks is None:
            cfg, base = self.cfg, self.cfg.base_dir
            pre, rules = cfg.hooks.preprocess, cfg.fallback.rules
            self._hooks = {
                "pre": load_hook(pre, base) if pre else None,
                "rules": load_hook(rules, base) if rules else None,
            }
        return self._hooks[which]

    def _has_fallback(self) -> bool:
        return self._hook("rules") is not None or self._fallback_engine() is not None

    def _fallback_engine(self) -> Engine | None:
        """The fallback model's engine (``fallback.model``, a smaller folder), if one loaded."""
        return getattr(self.service.fallback_model, "engine", None)

    def _fallback(
        self,
        req: GenerationRequest,
        raw: Any,
        writer: _Answer,
        stats: dict[str, Any],
        times: tuple[float, float, float],
    ) -> None:
        """Answer by the fallback, nothing having been sent: the rules hook, else the model.

        The rules hook's return value is the whole text; the fallback model generates (and
        streams) within what is left of ``api.timeout_s``, or the answer is a 504.
        """
        self.service.telemetry.event(
            "fallback used", level="WARNING", reason="no first token in time, or the model failed"
        )
        writer.extra["x-svai-fallback"] = "true"
        rules = self._hook("rules")
        if rules is None:
            engine = self._fallback_engine()
            assert engine is not None  # _has_fallback() said one of the two is there
            self._drive(engine, self._fallback_slots, req, raw, writer, stats, times, None)
            return
        try:
            text = str(rules(raw))
        except Exception as exc:  # the fallback failing too is a 504
            stats["status"] = 504
            writer.fail(DeadlineError(f"the model failed or was late; fallback failed: {exc!r}"))
            return
        stats.update(status=200, finish_reason="stop")
        writer.piece(_piece(text, "stop"), 0)
        writer.finish("stop", 0)

    # -- answers ---------------------------------------------------------------------------

    def _replay(
        self,
        req: GenerationRequest,
        result: dict[str, Any],
        rid: str,
        sock: socket.socket,
        keep_alive: bool,
        extra: dict[str, str],
    ) -> bool:
        writer = _Answer(self, req, rid, sock, keep_alive)
        writer.extra.update(extra)
        prompt, completion = result["usage"]
        writer.piece(_piece(result["text"], result["finish_reason"], completion), prompt)
        writer.finish(result["finish_reason"], prompt)
        return writer.keep_alive

    def _metrics(self, rid: str, received: float, cold: bool, stats: dict[str, Any]) -> None:
        latency_ms = (time.monotonic() - received) * 1000
        out = stats.get("tokens_out", 0)
        ttft = stats.get("ttft_ms")
        decode_ms = latency_ms - ttft if ttft is not None else 0.0
        self.service.telemetry.generation(
            request_id=rid,
            status=stats["status"],
            latency_ms=round(latency_ms, 3),
            ttft_ms=round(ttft, 3) if ttft is not None else None,
            tpot_ms=round(decode_ms / (out - 1), 3) if out > 1 else None,
            queue_ms=round(stats.get("queue_ms", 0.0), 3),
            tokens_in=stats.get("tokens_in", 0),
            tokens_out=out,
            finish_reason=stats.get("finish_reason"),
            stream=stats["stream"],
            cache=stats["cache"],
            fallback=stats.get("fallback", False),
            cold_start=cold,
        )

    def _failure(self, exc: RuntimeCoreError, rid: str) -> Response:
        status = exc.status
        headers = {**self._headers, "x-request-id": rid}
        if isinstance(exc, OverloadedError):  # OpenAI clients back off and retry on 429
            status = 429
            headers["retry-after"] = str(self.cfg.concurrency.retry_after_s)
        elif isinstance(exc, RateLimitedError):
            headers["retry-after"] = str(exc.retry_after_s)
        elif status == 503:
            headers["retry-after"] = "1"
        if isinstance(exc, _MethodError):
            headers["allow"] = exc.allow
        return Response(status, json.dumps(openai_error(exc)).encode(), headers)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str]) -> Response:
        body = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        }
        return Response(status, json.dumps(body).encode(), {**self._headers, **headers})

    def _json(
        self, status: int, body: Any, rid: str | None = None, extra: Mapping[str, str] = {}
    ) -> Response:
        headers = {**self._headers, **extra}
        if rid is not None:
            headers["x-request-id"] = rid
        return Response(status, json.dumps(body).encode(), headers)


class _MethodError(RequestError):
    status = 405
    code = "method_not_allowed"
    allow = "POST"


class _Answer:
    """Writes one generation's answer: SSE chunks as they come, or the whole JSON at the end."""

    def __init__(
        self, front: OpenAIFront, req: GenerationRequest, rid: str, sock: socket.socket, ka: bool
    ) -> None:
        self.front = front
        self.req = req
        self.rid = rid
        self.sock = sock
        self.keep_alive = ka
        self.extra: dict[str, str] = {}
        self.pieces = 0
        self.tokens = 0
        self.parts: list[str] = []
        self.gone = False
        self._started = False

    @property
    def text(self) -> str:
        """Everything generated so far."""
        return "".join(self.parts)

    def piece(self, piece: Piece, tokens_in: int) -> None:
        """Take one piece; a stream sends it at once (the head and role first)."""
        self.pieces += 1
        self.tokens = piece.tokens
        self.parts.append(piece.text)
        if not self.req.stream:
            return
        front, req, rid = self.front, self.req, self.rid
        events = []
        if not self._started:
            self._start()
            if req.kind == "chat":
                events.append(sse(chunk_body(req, rid, front.model_id, "")))
        if piece.text:
            events.append(sse(chunk_body(req, rid, front.model_id, piece.text)))
        if events:
            self._write(b"".join(events))

    def finish(self, finish_reason: str, tokens_in: int) -> None:
        """End the answer: the last chunk, usage and ``[DONE]``; or the whole JSON body."""
        front, req, rid = self.front, self.req, self.rid
        usage = (tokens_in, self.tokens)
        if not req.stream:
            body = completion_body(req, rid, front.model_id, self.text, finish_reason, usage)
            response = front._json(200, body, rid, self.extra)
            self.keep_alive = _send(self.sock, response, self.keep_alive)
            return
        events = [sse(chunk_body(req, rid, front.model_id, None, finish_reason))]
        if req.include_usage:
            events.append(sse(chunk_body(req, rid, front.model_id, None, usage=usage)))
        events.append(SSE_DONE)
        self._write(b"".join(events), last=True)

    @property
    def started(self) -> bool:
        """Whether the stream's head was sent (an error can no longer be a status)."""
        return self._started

    def cut(self, exc: RuntimeCoreError) -> None:
        """End a started stream early: ``finish_reason: length``, an error event, ``[DONE]``."""
        last = chunk_body(self.req, self.rid, self.front.model_id, None, "length")
        self._write(sse(last) + sse(openai_error(exc)) + SSE_DONE, last=True)

    def stream_error(self, exc: RuntimeCoreError) -> None:
        """End a started stream with an error event (OpenAI's shape), then ``[DONE]``."""
        self._write(sse(openai_error(exc)) + SSE_DONE, last=True)

    def fail(self, exc: RuntimeCoreError) -> None:
        """Answer an error (only possible before the first piece was sent)."""
        self.keep_alive = _send(self.sock, self.front._failure(exc, self.rid), self.keep_alive)

    def _start(self) -> None:
        self._started = True
        head = [
            "HTTP/1.1 200 OK",
            "content-type: text/event-stream",
            "cache-control: no-cache",
            "transfer-encoding: chunked",
            f"x-request-id: {self.rid}",
            *(f"{k}: {v}" for k, v in {**self.front._headers, **self.extra}.items()),
        ]
        if not self.keep_alive:
            head.append("connection: close")
        self._raw(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))

    def _write(self, data: bytes, *, last: bool = False) -> None:
        frame = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        self._raw(frame + b"0\r\n\r\n" if last else frame)

    def _raw(self, data: bytes) -> None:
        if self.gone:
            return
        try:
            self.sock.sendall(data)
        except OSError:  # the client went away: the caller cancels the generation
            self.gone = True
            self.keep_alive = False


def _fill(stats: dict[str, Any], writer: _Answer, run: _Run) -> None:
    stats["tokens_out"] = writer.tokens
    stats["tokens_in"] = run.tokens_in


def _piece(text: str, finish_reason: str | None, tokens: int = 0) -> Piece:
    return Piece(text, finish_reason, tokens)


def _params(req: GenerationRequest) -> SamplingParams:
    return SamplingParams(req.max_tokens, req.temperature, req.top_p, req.seed, req.stop)


def _plain_chat(messages: Sequence[dict[str, str]], wrappers: Sequence[str]) -> str:
    """A prompt without a chat template: ``role: content`` lines, wrapped by each template."""
    text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
    for wrapper in wrappers:
        text = wrapper.replace("{prompt}", text)
    return text


def _client_gone(sock: socket.socket) -> bool:
    """Whether the client closed its side (readable, and a peek reads 0 bytes)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except (OSError, ValueError):
        return True


def _send(sock: socket.socket, response: Response, keep_alive: bool) -> bool:
    sock.sendall(encode_response(response, keep_alive))
    return keep_alive
