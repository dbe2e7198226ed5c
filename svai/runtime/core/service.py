"""The transport-independent serving core: ``Service`` turns a ``Request`` into a ``Response``.

Transports (the HTTP server, the Lambda handler, the queue worker) use it like this::

    service = Service.from_config(load_config("svai_runtime.json"))
    service.load()                       # hooks, model, warm-up; ``service.ready`` turns true
    service.check_headers(content_type, content_length)   # optional: 413/415 before reading
    future = service.submit(Request(body, content_type, headers))  # never blocks, never raises
    response = future.result()           # or ``service.handle(request)`` to block
    service.drain(timeout_s); service.close()

``submit`` admits the request (or answers at once: 429 + ``Retry-After`` over the ``rate_limit``
of the caller's tenant or of the process, 503 + ``Retry-After`` when ``max_concurrency`` workers
and ``queue_size`` waiting requests are taken), runs the whole pipeline on a worker
thread -- content type, size, JSON, schema, idempotency key, cache, pre-processing hook, model
(through the micro-batcher when enabled), post-processing hook -- and resolves the future with a
``Response`` carrying a status, headers and a JSON body. A deadline watcher answers 504 (or the
fallback's answer) when ``api.timeout_s`` passes; the admission slot is freed then and a fresh
worker replaces the one still stuck, so a hung model cannot starve the service.

The fallback answers when the prediction fails -- the model or a hook raises, or the deadline
passes -- never for a bad input: a pre-processing hook that refuses the input (it raises
``ValueError``, ``TypeError``, ``OverflowError`` or ``errors.InvalidInput(path, message)``)
gets the client a 422 naming the path, not a silent switch to the fallback's answer.

``predict(payload, request_id=..., tenant=..., idempotency_key=...)`` is the lower-level call
for callers that already hold a parsed payload (queue workers): it runs in the caller's thread,
returns a ``Prediction`` and raises the ``errors`` module's exceptions.

Payload: ``{"inputs": ...}`` or ``{"instances": [...]}``, shaped by the model's task
(:mod:`svai.runtime.core.tasks`: rows, strings, images, or for a raw ONNX model an array or an
object keyed by input name); the pre-processing hook may turn any other shape into that.
Success body: ``{"outputs": ..., "model_version": ..., "request_id": ..., "fallback": false,
"cached": false}`` (``"predictions"`` instead of ``"outputs"`` when the request said
``instances``). Error body: ``{"error": {"code", "message", "path"}, "model_version",
"request_id"}``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from svai.runtime.core.batching import MicroBatcher
from svai.runtime.core.cache import (
    LOCAL_STORES,
    Cache,
    CacheStore,
    StoreOpener,
    cache_key,
    open_store,
)
from svai.runtime.core.config import RuntimeConfig
from svai.runtime.core.drift import DriftMonitor
from svai.runtime.core.errors import (
    ConfigError,
    DeadlineError,
    InvalidInputError,
    ModelError,
    NotReadyError,
    OverloadedError,
    PayloadTooLargeError,
    RateLimitedError,
    RequestError,
    RuntimeCoreError,
    UnsupportedMediaError,
)
from svai.runtime.core.hooks import load_hook
from svai.runtime.core.idempotency import IdempotencyTable, State
from svai.runtime.core.messages import (
    SAFE_ID,
    Prediction,
    Request,
    Response,
    canonical_json,
    decode_prediction,
    dump_json,
    encode_prediction,
    parse_json,
    resolve_protocol,
    use_orjson,
    vertex_payload,
    vertex_predictions,
)
from svai.runtime.core.ratelimit import limiter_for
from svai.runtime.core.schema import Validator, compile_schema
from svai.runtime.core.telemetry import Telemetry

if TYPE_CHECKING:
    from svai.runtime.core.model import Model

__all__ = ["Prediction", "Request", "Response", "Service"]


def _read_payload(request: Request) -> tuple[Any, str]:
    """Parse the body and resolve its protocol; a Vertex body becomes ``{"inputs": ...}``."""
    payload = parse_json(request.body)
    protocol = resolve_protocol(request.protocol, payload)
    if protocol == "vertex":
        payload = vertex_payload(payload)
    return payload, protocol


class _Job:
    __slots__ = (
        "announced",
        "claimed",
        "deadline",
        "future",
        "input_hash",
        "received",
        "request",
        "request_id",
        "running",
    )

    def __init__(self, request: Request, request_id: str, received: float, deadline: float):
        self.request: Request | None = request
        self.request_id = request_id
        self.received = received
        self.deadline = deadline
        self.future: Future[Response] = Future()
        self.claimed = False
        self.running = False
        self.announced = False
        self.input_hash: str | None = None


class Service:
    """The serving core for one model version (see the module docstring for the API)."""

    def __init__(
        self,
        cfg: RuntimeConfig,
        *,
        telemetry: Telemetry | None = None,
        cache_store: CacheStore | None = None,
        stores: Mapping[str, StoreOpener] = LOCAL_STORES,
        loader: Callable[[RuntimeConfig], Model] | None = None,
    ) -> None:
        self.cfg = cfg
        self._loader = loader
        self.version = cfg.model.version
        self.telemetry = telemetry or Telemetry(
            cfg.observability.namespace,
            cfg.observability.service,
            cfg.model.version,
            cfg.observability.log_requests,
        )
        self._validator: Validator | None = (
            compile_schema(cfg.api.input_schema) if cfg.api.input_schema is not None else None
        )
        self._content_types = frozenset(c.lower() for c in cfg.api.content_types)
        self._store = cache_store
        self._stores = stores
        store_url = cfg.cache.store
        if store_url is not None and store_url.partition("://")[0] not in stores:
            known = ", ".join(f"{name}://" for name in sorted(stores))
            raise ConfigError(f"cache.store {store_url!r}: unknown store; use one of {known}")
        self.cache: Cache | None = None
        self.idempotency: IdempotencyTable | None = None
        self.model: Model | None = None
        self.fallback_model: Model | None = None
        self.batcher: MicroBatcher[Any, Any] | None = None
        self._pre: Callable[[Any], Any] | None = None
        self._post: Callable[[Any], Any] | None = None
        self._rules: Callable[[Any], Any] | None = None
        # The deadline watcher answers at the request timeout, or earlier with the fallback
        # when the spec gives the model a shorter budget (``fallback.after``).
        after = cfg.fallback.after_s
        self._budget_s = min(cfg.api.timeout_s, after) if after else cfg.api.timeout_s
        self._ready = False
        self._draining = False
        self._closed = False
        self._cold = True
        self.load_s: float | None = None
        self._limit = cfg.workers + cfg.queue_size
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._outstanding = 0
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._retire = 0
        self._deadlines: deque[_Job] = deque()
        self._watch = threading.Condition(threading.Lock())
        self._fallback_jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._overload_headers = {"retry-after": str(cfg.concurrency.retry_after_s)}
        self._limiter = limiter_for(cfg.rate_limit)
        self.drift = DriftMonitor(cfg.drift, self.telemetry.metrics) if cfg.drift.enabled else None

    @classmethod
    def from_config(
        cls,
        cfg: RuntimeConfig,
        *,
        telemetry: Telemetry | None = None,
        cache_store: CacheStore | None = None,
        stores: Mapping[str, StoreOpener] = LOCAL_STORES,
        loader: Callable[[RuntimeConfig], Model] | None = None,
    ) -> Service:
        """Create a service (not loaded yet) from a runtime config.

        Args:
            cfg: the runtime config.
            telemetry: where logs and metrics go (default: EMF lines on stdout).
            cache_store: a shared store overriding ``cache.store`` (e.g. a DynamoDB adapter).
            stores: the ``cache.store`` schemes this platform can open (the entry point's
                table, ``svai.runtime.entry.stores.STORES``; the core alone knows local ones).
            loader: loads the model instead of the core's ONNX loader (the server passes
                :func:`svai.runtime.engines.engine_loader` for ``framework: transformers``).

        Raises:
            ConfigError: the input schema uses unsupported keywords.
        """
        return cls(cfg, telemetry=telemetry, cache_store=cache_store, stores=stores, loader=loader)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once the model is loaded and warmed up, until draining starts."""
        return self._ready and not self._draining

    @property
    def outstanding(self) -> int:
        """Requests admitted and not yet answered."""
        return self._outstanding

    def load(self) -> None:
        """Load hooks, the model and the fallback, warm up, and start the workers.

        Raises:
            ConfigError: a hook or file is missing or invalid.
            ModelRefusedError: the model file is refused (e.g. an untrusted pickle).
        """
        t0 = time.perf_counter()
        use_orjson()
        cfg = self.cfg
        base = cfg.base_dir
        hooks = cfg.hooks
        self._pre = load_hook(hooks.preprocess, base) if hooks.preprocess else None
        self._post = load_hook(hooks.postprocess, base) if hooks.postprocess else None
        self._rules = load_hook(cfg.fallback.rules, base) if cfg.fallback.rules else None
        tokenizer = cfg.resolve(cfg.model.tokenizer) if cfg.model.tokenizer else None
        # numpy, onnxruntime and orjson are imported here, not at module import, so a server
        # can open its port while the model loads; an engine (a loader) needs none of them.
        if self._loader is not None:
            self.model = self._loader(cfg)
        else:
            from svai.runtime.core.tasks import load_task_model

            self.model = load_task_model(cfg.model, cfg.resolve(cfg.model.path), tokenizer)
        if cfg.model.warmup:
            self.model.warmup()
        if cfg.fallback.model:
            fb_cfg = replace(cfg.model, path=cfg.fallback.model, sha256=None)
            from svai.runtime.core.tasks import load_task_model

            if self._loader is not None:  # an engine's fallback is a smaller folder it opens
                self.fallback_model = self._loader(replace(cfg, model=fb_cfg))
            else:
                self.fallback_model = load_task_model(
                    fb_cfg, cfg.resolve(cfg.fallback.model), tokenizer
                )
            if cfg.model.warmup:
                self.fallback_model.warmup()
        # SVAI_CACHE_STORE points a built artifact at another shared store (a Redis such as
        # Memorystore or Azure Cache for Redis) without rebuilding it.
        store_url = os.environ.get("SVAI_CACHE_STORE") or cfg.cache.store
        if cfg.cache.ttl_s > 0 or self._store is not None or store_url:
            store = self._store or open_store(store_url, base, self._stores)
            self._store = store
            if cfg.cache.ttl_s > 0:
                self.cache = Cache(
                    cfg.cache.ttl_s, cfg.cache.max_entries, store, on_error=self._store_outage
                )
        if cfg.idempotency.enabled:
            self.idempotency = IdempotencyTable(
                cfg.idempotency.ttl_s,
                cfg.idempotency.max_entries,
                self._store,
                encode=encode_prediction,
                decode=decode_prediction,
            )
        if cfg.batching.enabled:
            runners = max(1, (os.cpu_count() or 1) // max(1, cfg.model.intra_op_threads))
            self.batcher = MicroBatcher(
                self.model.run_batch,
                cfg.batching.max_batch,
                cfg.batching.max_wait_ms / 1000.0,
                runners,
            )
        for _ in range(cfg.workers):
            self._spawn_worker()
        threading.Thread(target=self._watch_deadlines, name="svai-deadlines", daemon=True).start()
        if self._rules is not None or self.fallback_model is not None:
            threading.Thread(target=self._fallback_loop, name="svai-fallback", daemon=True).start()
        self.load_s = time.perf_counter() - t0
        self._ready = True
        self.telemetry.event(
            "model loaded",
            load_ms=round(self.load_s * 1000, 3),
            workers=cfg.workers,
            queue_size=cfg.queue_size,
            batching=cfg.batching.enabled,
        )

    def begin_drain(self) -> None:
        """Report not ready from now on; requests still handed in are served until ``close``.

        The transport decides what still reaches ``submit`` while it drains: the HTTP server
        answers the requests that arrive on connections it already holds (with
        ``Connection: close``), so a drain loses none of them.
        """
        self._draining = True

    def drain(self, timeout_s: float) -> bool:
        """Report not ready and wait for the admitted requests to be answered.

        Returns:
            True when every admitted request was answered within ``timeout_s``.
        """
        self._draining = True
        with self._idle:
            return self._idle.wait_for(lambda: self._outstanding == 0, timeout_s)

    def close(self) -> None:
        """Stop the worker threads, release the model (an engine's child process) and the store."""
        if self._closed:
            return
        self._closed = True
        self._draining = True
        if self.drift is not None:
            self.drift.flush()
        release = getattr(self.model, "close", None)  # engines hold a GPU or a vllm child
        if release is not None:
            with contextlib.suppress(Exception):  # shutdown goes on regardless
                release()
        for _ in self._threads:
            self._jobs.put(None)
        self._fallback_jobs.put(None)
        with self._watch:
            self._watch.notify_all()
        if self.cache is not None:
            self.cache.close()
        elif self._store is not None:
            with contextlib.suppress(Exception):  # a broken store must not fail shutdown
                self._store.close()

    # -- requests --------------------------------------------------------------------------

    def request_id(self, headers: Mapping[str, str]) -> str:
        """Return the client's request id if it is safe to echo, else a fresh one."""
        rid = headers.get(self.cfg.api.request_id_header)
        if rid is not None and SAFE_ID.fullmatch(rid):
            return rid
        return os.urandom(12).hex()

    def check_headers(self, content_type: str | None, content_length: int | None) -> None:
        """Early checks a transport can run before reading the body.

        Raises:
            PayloadTooLargeError: ``content_length`` exceeds ``api.max_payload_bytes``.
            UnsupportedMediaError: the content type is not accepted.
        """
        if content_length is not None and content_length > self.cfg.api.max_payload_bytes:
            raise PayloadTooLargeError(
                f"body of {content_length} bytes exceeds the limit of "
                f"{self.cfg.api.max_payload_bytes}"
            )
        media = (content_type or "").split(";", 1)[0].strip().lower()
        if media not in self._content_types:
            raise UnsupportedMediaError(
                f"content type {content_type!r} is not accepted; use one of "
                f"{sorted(self._content_types)}"
            )

    def submit(self, request: Request) -> Future[Response]:
        """Admit ``request`` and run it on a worker; the future always resolves to a Response."""
        received = time.monotonic()
        rid = self.request_id(request.headers)
        try:
            self.admit(request.headers)
        except RuntimeCoreError as exc:
            return self._answered(exc, rid)
        job = _Job(request, rid, received, received + self._budget_s)
        with self._watch:
            self._deadlines.append(job)
            if len(self._deadlines) == 1:
                self._watch.notify()
        self._jobs.put(job)
        return job.future

    def admit(self, headers: Mapping[str, str]) -> None:
        """Take an admission slot for a request (``release`` gives it back).

        ``submit`` calls it; a transport that runs a request itself (the OpenAI routes'
        streams) calls it and ``release``, so both share one bound, one rate limit and drain.

        Raises:
            NotReadyError: not loaded yet, or closed.
            RateLimitedError: over the process's or the tenant's rate limit.
            OverloadedError: ``max_concurrency`` + ``queue_size`` requests are in flight.
        """
        if not self._ready or self._closed:
            raise NotReadyError("model is not ready")
        if self._limiter is not None:
            try:
                self._limiter.check(headers.get(self.cfg.api.tenant_header, "")[:128])
            except RateLimitedError:
                self.telemetry.count("rate_limited")
                raise
        with self._lock:
            admitted = self._outstanding < self._limit
            if admitted:
                self._outstanding += 1
        if not admitted:
            self.telemetry.count("overloaded")
            raise OverloadedError("server is at capacity")

    def release(self) -> bool:
        """Give back a slot taken by ``admit``.

        Returns:
            Whether it was the first request served since the model loaded (the cold-start
            flag of its metrics line).
        """
        with self._lock:
            self._outstanding -= 1
            cold, self._cold = self._cold, False
            if self._outstanding == 0:
                self._idle.notify_all()
        return cold

    def _answered(self, exc: RuntimeCoreError, rid: str) -> Future[Response]:
        fut: Future[Response] = Future()
        fut.set_result(self.error_response(exc, rid))
        return fut

    def handle(self, request: Request) -> Response:
        """Run ``request`` and wait for its response (deadline included)."""
        return self.submit(request).result()

    def predict(
        self,
        payload: Any,
        *,
        request_id: str | None = None,
        tenant: str = "",
        idempotency_key: str | None = None,
    ) -> Prediction:
        """Validate and predict a parsed payload in the calling thread.

        Args:
            payload: the decoded JSON payload (``{"inputs": ...}`` unless a hook says otherwise).
            request_id: carried in the request's log line; generated when ``None``.
            tenant: scopes the cache and idempotency keys.
            idempotency_key: a client key; a repeat returns the stored prediction.

        Returns:
            The prediction.

        Raises:
            RuntimeCoreError: a subclass naming the problem (``status`` gives the HTTP code).
        """
        if not self._ready:
            raise NotReadyError("model is not ready")
        if resolve_protocol("auto", payload) == "vertex":
            payload = vertex_payload(payload)  # queue jobs take either request form too
        rid = request_id or os.urandom(12).hex()
        t0 = time.monotonic()
        pred: Prediction | None = None
        status, error = 200, None
        try:
            pred = self._predict(payload, tenant, idempotency_key, None)
            return pred
        except RuntimeCoreError as exc:
            status, error = exc.status, exc.code
            raise
        except Exception:
            status, error = 500, ModelError.code
            raise
        finally:
            with self._lock:
                cold, self._cold = self._cold, False
            self.telemetry.request(
                request_id=rid,
                status=status,
                latency_ms=(time.monotonic() - t0) * 1000,
                model_ms=pred.model_ms if pred is not None else 0.0,
                input_hash=pred.input_hash if pred is not None else None,
                cold_start=cold,
                cache=(
                    "off"
                    if self.cache is None
                    else ("hit" if pred is not None and pred.cached else "miss")
                ),
                fallback=pred.fallback if pred is not None else False,
                error=error,
            )

    # -- pipeline --------------------------------------------------------------------------

    def _run_job(self, job: _Job) -> None:
        request = job.request
        if request is None:
            return
        job.running = True
        if self.batcher is not None:
            # Announce only once a worker holds the job: a job still queued for a worker cannot
            # reach the batcher soon, and waiting for it would stall the batch.
            job.announced = True
            self.batcher.announce()
        cache_state = "off"
        pred: Prediction | None = None
        try:
            headers = request.headers
            self.check_headers(request.content_type, len(request.body))
            payload, protocol = _read_payload(request)
            tenant = headers.get(self.cfg.api.tenant_header, "")[:128]
            key = headers.get(self.cfg.idempotency.header) if self.idempotency is not None else None
            pred = self._predict(payload, tenant, key, job)
            cache_state = "hit" if pred.cached else ("miss" if self.cache is not None else "off")
            response = self._ok_response(pred, job.request_id, protocol)
        except RuntimeCoreError as exc:
            response = self.error_response(exc, job.request_id)
        except Exception as exc:  # a bug must still answer 500, not hang
            response = self.error_response(ModelError(f"internal error: {exc!r}"), job.request_id)
        finally:
            self._withdraw(job)
        self._finish(job, response, pred, cache_state)

    def _predict(self, payload: Any, tenant: str, key: str | None, job: _Job | None) -> Prediction:
        if self._validator is not None:
            self._validator(payload)
        canonical = canonical_json(payload)
        input_hash = hashlib.sha256(canonical).hexdigest()
        if job is not None:
            job.input_hash = input_hash
        table = self.idempotency
        if key is None or table is None:
            return self._observed(
                payload, self._cached_compute(payload, tenant, canonical, input_hash, job)
            )
        scoped = table.scoped(tenant, key)
        state, entry = table.begin(scoped, input_hash)
        if state is not State.NEW:
            if job is not None:
                self._withdraw(job)
            timeout = self.cfg.api.timeout_s
            prior: Prediction = entry.future.result(timeout=timeout)
            return replace(prior, replayed=True, model_ms=0.0)
        try:
            pred = self._cached_compute(payload, tenant, canonical, input_hash, job)
        except BaseException as exc:
            table.abandon(scoped, entry, exc)
            raise
        if pred.fallback:
            # A fallback answer is not the model's answer; a retry should try the model again.
            table.abandon(scoped, entry, ModelError("the first attempt used the fallback"))
        else:
            table.complete(scoped, entry, pred)
        return self._observed(payload, pred)

    def _observed(self, payload: Any, pred: Prediction) -> Prediction:
        """Add a request to the drift summaries (when drift is on and it is sampled)."""
        if self.drift is not None:
            self.drift.observe(payload, pred.outputs_json)
        return pred

    def _cached_compute(
        self, payload: Any, tenant: str, canonical: bytes, input_hash: str, job: _Job | None
    ) -> Prediction:
        cache = self.cache
        ckey = ""
        if cache is not None:
            ckey = cache_key(tenant, self.version, canonical)
            hit = cache.get(ckey)
            if hit is not None:
                if job is not None:
                    self._withdraw(job)
                return Prediction(hit, self.version, input_hash, cached=True)
        t0 = time.perf_counter()
        outputs_json, used_fallback = self._compute(payload, job)
        pred = Prediction(
            outputs_json,
            self.version,
            input_hash,
            fallback=used_fallback,
            model_ms=(time.perf_counter() - t0) * 1000,
        )
        if cache is not None and not used_fallback:
            cache.put(ckey, outputs_json)
        return pred

    def _compute(self, payload: Any, job: _Job | None) -> tuple[bytes, bool]:
        model = self.model
        assert model is not None
        try:
            x = self._prepare(payload)
            if type(x) is not dict or "inputs" not in x:
                raise InvalidInputError("$.inputs: required field is missing", path="$.inputs")
            feeds = model.to_feeds(x["inputs"])
            if self.batcher is not None:
                announced = job is not None and self._take_announcement(job)
                outputs = self.batcher.submit(feeds, announced=announced)
            else:
                outputs = model.run_batch([feeds])[0]
            result = self._post(outputs) if self._post is not None else outputs
            return dump_json(result), False
        except RequestError:
            raise
        except Exception as exc:
            if self._rules is None and self.fallback_model is None:
                raise ModelError(f"model failed: {exc!r}") from exc
            self.telemetry.event("fallback used", level="WARNING", reason=repr(exc))
            return self._run_fallback(payload), True

    def _prepare(self, payload: Any) -> Any:
        """Run the pre-processing hook; an input it refuses is the client's error (422).

        ``InvalidInput`` passes through with its path; any other exception (a feature store
        that is down, say) is the prediction failing, which the fallback may answer.
        """
        if self._pre is None:
            return payload
        try:
            return self._pre(payload)
        except (ValueError, TypeError, OverflowError) as exc:
            # float() of a 400-digit integer, int("abc"), None + 1: the input, not the model.
            raise InvalidInputError(
                f"$: the pre-processing hook refused the input: {exc}", path="$"
            ) from None

    def _run_fallback(self, payload: Any) -> bytes:
        if self._rules is not None:
            return dump_json(self._rules(payload))
        assert self.fallback_model is not None
        inputs = payload.get("inputs") if type(payload) is dict else None
        if inputs is None:
            raise InvalidInputError("$.inputs: required field is missing", path="$.inputs")
        feeds = self.fallback_model.to_feeds(inputs)
        return dump_json(self.fallback_model.run_batch([feeds])[0])

    # -- responses -------------------------------------------------------------------------

    def _ok_response(self, pred: Prediction, rid: str, protocol: str) -> Response:
        if protocol == "vertex":
            head = b'{"predictions":' + dump_json(vertex_predictions(pred.outputs))
        else:
            head = b'{"outputs":' + pred.outputs_json
        body = b"".join(
            (
                head,
                b',"model_version":',
                json.dumps(self.version).encode(),
                b',"request_id":"',
                rid.encode(),
                b'","fallback":',
                b"true" if pred.fallback else b"false",
                b',"cached":',
                b"true" if pred.cached else b"false",
                b"}",
            )
        )
        headers = {"x-svai-model-version": self.version, "x-request-id": rid}
        if pred.fallback:
            headers["x-svai-fallback"] = "true"
        if pred.cached:
            headers["x-svai-cache"] = "hit"
        elif self.cache is not None:
            headers["x-svai-cache"] = "miss"
        if pred.replayed:
            headers["idempotent-replayed"] = "true"
        return Response(200, body, headers)

    def error_response(self, exc: RuntimeCoreError, request_id: str) -> Response:
        """Build the JSON error response for ``exc`` (with ``Retry-After`` on 429 and 503)."""
        error: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.path is not None:
            error["path"] = exc.path
        body = json.dumps(
            {"error": error, "model_version": self.version, "request_id": request_id}
        ).encode()
        headers = {"x-svai-model-version": self.version, "x-request-id": request_id}
        if exc.status == 503:
            headers.update(self._overload_headers)
        elif isinstance(exc, RateLimitedError):
            headers["retry-after"] = str(exc.retry_after_s)
        return Response(exc.status, body, headers)

    # -- workers, deadlines, fallback thread --------------------------------------------------

    def _spawn_worker(self) -> None:
        t = threading.Thread(target=self._work, name="svai-worker", daemon=True)
        self._threads.append(t)
        t.start()

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            job = jobs.get()
            if job is None:
                return
            if job.claimed:
                self._withdraw(job)
                continue
            self._run_job(job)
            if self._retire:
                with self._lock:
                    if self._retire:
                        self._retire -= 1
                        return

    def _claim(self, job: _Job) -> bool:
        with self._lock:
            if job.claimed:
                return False
            job.claimed = True
            return True

    def _finish(
        self, job: _Job, response: Response, pred: Prediction | None, cache_state: str
    ) -> None:
        if not self._claim(job):
            return
        job.request = None
        self._complete(job, response, pred, cache_state)

    def _complete(
        self, job: _Job, response: Response, pred: Prediction | None, cache_state: str
    ) -> None:
        with self._lock:
            self._outstanding -= 1
            cold = self._cold
            self._cold = False
            if self._outstanding == 0:
                self._idle.notify_all()
        job.future.set_result(response)
        error = None
        if response.status >= 400:
            error = json.loads(response.body).get("error", {}).get("code")
        self.telemetry.request(
            request_id=job.request_id,
            status=response.status,
            latency_ms=(time.monotonic() - job.received) * 1000,
            model_ms=pred.model_ms if pred is not None else 0.0,
            input_hash=job.input_hash,
            cold_start=cold,
            cache=cache_state,
            fallback=pred.fallback if pred is not None else False,
            error=error,
        )

    def _watch_deadlines(self) -> None:
        watch = self._watch
        pending = self._deadlines
        while not self._closed:
            with watch:
                if not pending:
                    watch.wait()
                    continue
                job = pending[0]
                if job.claimed:
                    pending.popleft()
                    continue
                left = job.deadline - time.monotonic()
                if left > 0:
                    watch.wait(left)
                    continue
                pending.popleft()
            self._expire(job)

    def _expire(self, job: _Job) -> None:
        if not self._claim(job):
            return
        if not job.running:
            self._withdraw(job)
        else:
            # The worker is stuck in a hook or the model; add a worker so capacity stays the
            # same, and let the stuck one retire when it finally returns.
            with self._lock:
                self._retire += 1
            self._spawn_worker()
        self.telemetry.count("timeouts")
        if self._rules is not None or self.fallback_model is not None:
            self._fallback_jobs.put(job)
            return
        timeout = self.cfg.api.timeout_s
        job.request = None
        self._complete(
            job,
            self.error_response(DeadlineError(f"exceeded {timeout} s"), job.request_id),
            None,
            "off",
        )

    def _fallback_loop(self) -> None:
        while True:
            job = self._fallback_jobs.get()
            if job is None:
                return
            request = job.request
            job.request = None
            assert request is not None
            try:
                payload, protocol = _read_payload(request)
                pred = Prediction(
                    self._run_fallback(payload), self.version, job.input_hash or "", fallback=True
                )
                response = self._ok_response(pred, job.request_id, protocol)
            except RuntimeCoreError as exc:
                pred = None
                response = self.error_response(exc, job.request_id)
            except Exception as exc:  # the fallback failing too is a 504
                pred = None
                response = self.error_response(
                    DeadlineError(f"timed out; fallback failed: {exc!r}"), job.request_id
                )
            self._complete(job, response, pred, "off")

    # -- helpers ---------------------------------------------------------------------------

    def _take_announcement(self, job: _Job) -> bool:
        """Hand the job's announcement over to ``MicroBatcher.submit`` (at most once)."""
        with self._lock:
            announced = job.announced
            job.announced = False
        return announced

    def _withdraw(self, job: _Job) -> None:
        """Cancel the job's batcher announcement if it still holds one."""
        if self.batcher is not None and self._take_announcement(job):
            self.batcher.withdraw()

    def _store_outage(self, exc: Exception) -> None:
        self.telemetry.count("cache_store_errors")
        self.telemetry.event(
            "cache store unavailable; serving without it", level="WARNING", error=repr(exc)
        )
