"""Start the container HTTP server: ``python -m svai.runtime.server --config svai_runtime.json``.

Start-up order is chosen for cold start: the model loads on a background thread while the main
thread opens the port and starts accepting, so liveness (``/healthz``) answers at once and
readiness (``/readyz``, ``/ping``, ``/health``) turns 200 when the model is warm. SIGTERM (and
SIGINT) drain: the listening socket closes, readiness turns 503, idle keep-alive connections
close, in-flight requests finish (up to ``server.drain_timeout_s``), then the process exits 0.

``GET /openapi.json`` serves the deployment's OpenAPI document (``openapi.json`` in the artifact).

Port: ``--port``, else ``AIP_HTTP_PORT`` (Vertex AI), else ``PORT`` (Cloud Run, Container Apps),
else ``server.port`` from the config, else 8080. Host: ``--host``, else ``SVAI_HOST``, else
``server.host``. Vertex routes come from ``AIP_HEALTH_ROUTE`` / ``AIP_PREDICT_ROUTE``.
Exit codes: 0 after a drain, 2 bad arguments or config or a port that cannot be bound (in use,
say: one line on stderr, no traceback), 3 the model failed to load.

``SVAI_QUEUE_KIND`` turns the server into an async worker (Pub/Sub push on GCP, a Service Bus
receive loop on Azure): see :mod:`svai.runtime.server.attach`.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from svai.runtime.cloud.model_fetch import Fetch, read_config
from svai.runtime.cloud.secrets import AwsSecrets
from svai.runtime.core import Response, RuntimeConfig, Service
from svai.runtime.core.errors import RuntimeCoreError
from svai.runtime.core.otel import attach_otel_in_background
from svai.runtime.entry.openapi import OPENAPI_FILE, openapi_response
from svai.runtime.entry.stores import STORES

if TYPE_CHECKING:
    from svai.runtime.server.http import HttpServer

__all__ = [
    "OPENAPI_FILE",
    "BackgroundServer",
    "main",
    "model_loader",
    "openapi_route",
    "resolve_port",
    "serve",
]

"""The deployment's OpenAPI document beside ``svai_runtime.json`` (``svai build`` writes it)."""

_USAGE = "usage: python -m svai.runtime.server --config PATH [--host HOST] [--port PORT]"


def resolve_port(cli_port: int | None, env: Mapping[str, str], config_port: int) -> int:
    """Pick the port: CLI, then ``AIP_HTTP_PORT``, then ``PORT``, then the config, then 8080."""
    if cli_port is not None:
        return cli_port
    for name in ("AIP_HTTP_PORT", "PORT"):
        value = env.get(name)
        if value:
            return int(value)
    return config_port or 8080


def _usage_error(message: str) -> NoReturn:
    print(f"{_USAGE}\n{message}", file=sys.stderr)
    raise SystemExit(2)


def _parse_args(argv: Sequence[str]) -> dict[str, str]:
    # argparse is not needed for three flags and would only add to the cold start.
    args: dict[str, str] = {}
    items = list(argv)
    while items:
        flag = items.pop(0)
        if flag in ("-h", "--help"):
            print(_USAGE)
            raise SystemExit(0)
        key, eq, value = flag.partition("=")
        if key not in ("--config", "--host", "--port"):
            _usage_error(f"unknown argument: {flag}")
        if not eq:
            if not items:
                _usage_error(f"{flag} needs a value")
            value = items.pop(0)
        args[key[2:]] = value
    if "config" not in args:
        _usage_error("--config is required")
    return args


def serve(
    service: Service,
    host: str,
    port: int,
    env: Mapping[str, str] | None = None,
    *,
    install_signals: bool = True,
    on_listening: Callable[[int, Callable[[], None]], None] | None = None,
    fetch: Fetch | None = None,
) -> int:
    """Load ``service`` in the background and serve HTTP until SIGTERM/SIGINT; return exit code.

    Args:
        service: a service built from the runtime config (not loaded yet).
        host: address to bind.
        port: port to bind (0 picks a free one; the ``listening`` log line says which).
        env: environment for the Vertex routes (default ``os.environ``).
        install_signals: drain on SIGTERM/SIGINT (only possible on the main thread).
        on_listening: called with the bound port and a thread-safe "start draining" function.
        fetch: the model's start-time fetch (``model.source``), run on the load thread first.
    """
    env = os.environ if env is None else env
    stop = threading.Event()
    outcome: dict[str, int] = {}

    def load() -> None:
        try:
            if fetch is not None:  # weights left out of the package: fetched and verified first
                seconds = fetch()
                service.telemetry.event("model fetched", bytes=fetch.bytes, seconds=seconds)
            service.load()
        except Exception as exc:  # any load failure ends the process
            service.telemetry.event("model failed to load", level="ERROR", error=repr(exc))
            outcome["code"] = 3
            stop.set()

    # The model loads while the port opens: liveness answers at once, readiness when warm.
    threading.Thread(target=load, name="svai-load", daemon=True).start()

    from svai.runtime.server.attach import worker_attachment
    from svai.runtime.server.http import HttpServer, Routes

    routes = Routes(
        env.get("AIP_HEALTH_ROUTE", "/health"), env.get("AIP_PREDICT_ROUTE", "/predict")
    )
    try:
        attachment = worker_attachment(service, env)
    except RuntimeCoreError as exc:
        service.telemetry.event("bad queue settings", level="ERROR", error=str(exc))
        return 2
    if attachment is not None:
        routes.handlers.update(attachment.routes)
    routes.handlers["/openapi.json"] = openapi_route(service)
    if service.cfg.model.framework == "transformers":
        from svai.runtime.server.openai import OpenAIFront
        from svai.runtime.server.platform import openai_path

        routes.streams.update(OpenAIFront(service).routes())
        routes.by_body = openai_path  # OpenAI bodies through /invocations, /score, Vertex's route
    try:
        server = HttpServer(service, routes, host, port)
    except OSError as exc:  # the address is in use, not ours, or the port is privileged
        reason = exc.strerror or str(exc)
        print(f"svai server: cannot listen on {host}:{port}: {reason}", file=sys.stderr)
        service.telemetry.event("cannot listen", level="ERROR", host=host, port=port, error=reason)
        return 2
    service.telemetry.event("listening", host=host, port=server.port, pid=os.getpid())
    threading.Thread(
        target=_accept, args=(server, service), name="svai-accept", daemon=True
    ).start()
    # The OTel SDK imports once the port is bound, never before (observability.tracing: otel).
    otel_shutdown = None
    if service.cfg.observability.tracing == "otel":
        otel_shutdown = attach_otel_in_background(service.telemetry)
    if install_signals:
        import signal

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    if on_listening is not None:
        on_listening(server.port, stop.set)
    # A queue attachment starts taking work once the model is ready (polled until then).
    started = attachment is None
    while not stop.wait(0.5 if started else 0.05):
        if attachment is not None and not started and service.ready:
            attachment.start()
            started = True
    server.begin_drain()
    drain_s = service.cfg.server.drain_timeout_s
    drained = server.wait_drained(drain_s)
    if attachment is not None and started:
        drained = attachment.stop(drain_s) and drained
    service.telemetry.event("drained", complete=drained, outstanding=service.outstanding)
    service.close()
    if otel_shutdown is not None:
        otel_shutdown()  # flushes the last spans and this interval's metrics
    return outcome.get("code", 0)


def openapi_route(
    service: Service,
) -> Callable[[str, Mapping[str, str], bytes], Response]:
    """``GET /openapi.json``: the deployment's OpenAPI document, written by ``svai build``."""

    def handle(method: str, _headers: Mapping[str, str], _body: bytes) -> Response:
        if method != "GET":
            body = b'{"error": {"code": "method_not_allowed"}}'
            headers = {"x-svai-model-version": service.version, "allow": "GET"}
            return Response(405, body, headers)
        return openapi_response(service)

    return handle


def model_loader(cfg: RuntimeConfig) -> Callable[[RuntimeConfig], Any] | None:
    """The engine loader for ``framework: transformers`` (``None``: the core's ONNX loader).

    The engine reports its load timings through the service's telemetry, built from ``cfg``
    the same way ``Service`` builds it.
    """
    if cfg.model.framework != "transformers":
        return None
    from svai.runtime.core.telemetry import Telemetry
    from svai.runtime.engines import engine_loader

    o = cfg.observability
    return engine_loader(Telemetry(o.namespace, o.service, cfg.model.version, o.log_requests).event)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    try:
        # SageMaker on AWS: SVAI_SECRET_<NAME> references become <NAME> before the hooks load.
        AwsSecrets(os.environ).export()
        cfg, fetch = read_config(args["config"])
        service = Service.from_config(cfg, stores=STORES, loader=model_loader(cfg))
        port = resolve_port(
            int(args["port"]) if "port" in args else None, os.environ, cfg.server.port
        )
    except (RuntimeCoreError, ValueError) as exc:
        print(f"svai server: {exc}", file=sys.stderr)
        return 2
    host = args.get("host") or os.environ.get("SVAI_HOST") or cfg.server.host
    return serve(service, host, port, fetch=fetch)


class BackgroundServer:
    """Run ``serve`` on a thread: for ``svai serve`` in-process use and for tests.

    Args:
        service: a service built from the runtime config (not loaded yet).
        host: address to bind.
        port: port to bind (0: a free one; read ``port`` after ``start``).
        env: environment for the Vertex routes.
    """

    def __init__(
        self,
        service: Service,
        host: str = "127.0.0.1",
        port: int = 0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.service = service
        self.host = host
        self.port = port
        self.exit_code: int | None = None
        self._env = dict(env or {})
        self._listening = threading.Event()
        self._drain: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._run, name="svai-server", daemon=True)

    def _run(self) -> None:
        try:
            self.exit_code = serve(
                self.service,
                self.host,
                self.port,
                self._env,
                install_signals=False,
                on_listening=self._on_listening,
            )
        finally:
            self._listening.set()

    def _on_listening(self, port: int, drain: Callable[[], None]) -> None:
        self.port = port
        self._drain = drain
        self._listening.set()

    def start(self, timeout_s: float = 10.0) -> BackgroundServer:
        """Start serving and wait until the port is open (the model may still be loading)."""
        self._thread.start()
        if not self._listening.wait(timeout_s) or self._drain is None:
            raise RuntimeError(f"server did not start listening (exit code {self.exit_code})")
        return self

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """Drain and stop; return the exit code (``None`` if it did not stop in time)."""
        if self._drain is not None and self._thread.is_alive():
            self._drain()
        self._thread.join(timeout_s)
        return self.exit_code


def _accept(server: HttpServer, service: Service) -> None:
    """Run the accept loop; a parser that cannot be imported ends the process, never hangs it."""
    try:
        server.serve_forever()
    except ImportError as exc:  # httptools missing from this environment: nothing can be served
        print(f"svai server: cannot parse HTTP: {exc}", file=sys.stderr)
        service.telemetry.event("cannot parse HTTP", level="ERROR", error=str(exc))
        os._exit(2)
