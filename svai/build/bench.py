"""Run a built artifact locally: ``svai serve`` (its HTTP server) and ``svai bench`` (measurements).

Both start a fresh Python process with ``PYTHONPATH=<build dir>`` and the build dir as working
directory, so the runtime code COPIED into the artifact runs, not the installed svai.

``bench`` measures, in that process: load time (process start until the service is ready: the
interpreter, imports, the model load and warm-up), the cold-start components the runtime logs
while it loads (an engine's ``import_torch_s``, ``device_s``, ``weights_s``, ``warmup_s``:
:mod:`svai.build.start_log`), peak RSS, the latency of N warm requests
through the whole serving pipeline (JSON, schema, hooks, model; the result cache and the rate
limits are switched off so every request reaches the model) and the artifact size. A
``task: text-generation`` model is then served by the runtime's own HTTP server in the same
process, and streamed chat completions from it give its warm time to first token and time per
output token (:mod:`svai.build.token_bench`). The figures land in
``.svai/measurements.json`` beside the spec, keyed by the artifact's content (not the whole
version: a ``model.memory`` change keeps them) and the hardware, where the recommender picks them
up (``read_measurements``) while the key still matches.

This file doubles as the measuring child (``python bench.py --child ...``): it then imports only
the standard library and the copied ``svai.runtime.core``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from svai.build.token_bench import TokenLoad, TokenTimings
    from svai.compiler.recommend import Measurements

__all__ = [
    "MEASUREMENTS_FILE",
    "BenchResult",
    "bench",
    "read_measurements",
    "serve",
    "serve_command",
    "write_measurements",
]

MEASUREMENTS_FILE = ".svai/measurements.json"
_CONFIG_NAME = "svai_runtime.json"
_READY_TIMEOUT_S = 120.0
_NOT_IN_FILE = ("requests", "chunks", "samples")
"""Token figures the result shows but the measurements file does not keep."""


@dataclass(frozen=True, slots=True)
class BenchResult:
    """What ``bench`` measured on one built artifact."""

    model_version: str
    target: str
    requests: int
    payloads: int
    load_time_s: float
    p50_s: float
    p95_s: float
    p99_s: float
    mean_s: float
    memory_bytes: int
    artifact_bytes: int
    package_bytes: int
    cold_start: dict[str, float] = field(default_factory=dict)
    """The load components the runtime logged (empty for a model without an engine)."""
    gpu: dict[str, Any] | None = None
    """The GPU the engine loaded onto, as the catalog names it: ``{name, vram_gb, count}``."""
    tokens: TokenTimings | None = None
    """Warm token timings of a text-generation model, streamed from its server."""
    tokens_note: str | None = None
    """Where the token timings apply, or why none were measured (text generation only)."""


def _child_env(build_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    # Only the artifact on the path: what runs is the copied runtime, as in the deployment.
    env["PYTHONPATH"] = str(build_dir)
    env.pop("PYTHONHOME", None)
    return env


def serve_command(
    build_dir: Path, host: str, port: int, python: Path | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run the artifact's HTTP server exactly as deployed.

    ``python`` is the artifact's own environment (:func:`svai.build.environment.runtime_python`);
    without it, this interpreter.
    """
    config = build_dir / _CONFIG_NAME
    command = [
        str(python or sys.executable), "-m", "svai.runtime.server",
        "--config", str(config), "--host", host, "--port", str(port),
    ]  # fmt: skip
    return command, _child_env(build_dir)


def serve(
    build_dir: Path, host: str = "127.0.0.1", port: int = 8080, python: Path | None = None
) -> int:
    """Run the artifact's server in the foreground until it exits; return its exit code.

    SIGTERM and SIGINT are passed on to the server, which drains in-flight requests and exits.
    """
    command, env = serve_command(build_dir, host, port, python)
    child = subprocess.Popen(command, env=env, cwd=build_dir)

    def forward(signum: int, _frame: Any) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # pragma: no cover - the handler above normally runs
                forward(signal.SIGINT, None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def bench(
    build_dir: Path,
    payloads: list[Any],
    requests: int,
    tokens: TokenLoad | None = None,
    progress: Callable[[str], None] | None = None,
) -> BenchResult:
    """Measure the artifact in ``build_dir`` on ``payloads`` (cycled) over ``requests`` requests.

    ``tokens``: for a text-generation model, what to stream from its server to time tokens
    (``None``: no token timings). ``progress`` hears a line per step of a long run.

    Raises:
        svai.errors.UsageError: no payloads, a remote model not in the artifact, a request
            that the runtime did not answer with 200 (its answer is quoted), or a stream that
            gave no token timings.
    """
    from svai.build.placement import weights_in_cache
    from svai.build.start_log import cold_start_components, logged_gpu
    from svai.build.token_bench import measure_tokens, percentile
    from svai.errors import UsageError

    if not payloads:
        raise UsageError("svai bench needs at least one payload")
    if requests < 1:
        raise UsageError("--requests must be at least 1")
    say = progress or (lambda _line: None)
    manifest = json.loads((build_dir / "manifest.json").read_text(encoding="utf-8"))
    config = json.loads((build_dir / _CONFIG_NAME).read_text(encoding="utf-8"))
    # A file (model.onnx) or an engine's save_pretrained folder, as the runtime reads it; or,
    # for a ``fetch: start`` package, the weights the build left beside it for the bucket.
    model = build_dir / config["model"]["path"]
    source = config["model"].get("source")
    if source is None and not model.exists():
        remote = ", ".join(r["artifact"] for r in manifest.get("remote", [])) or "?"
        raise UsageError(
            f"the model is remote ({remote}) and not in the artifact; svai bench measures a local "
            f"model: download it, point model.artifact at the file and build again"
        )
    timings = None
    with tempfile.TemporaryDirectory(prefix="svai-bench-") as scratch:
        env = _child_env(build_dir)
        if source is not None:  # the runtime's own fetch reads them, verified, from its cache
            env.update(weights_in_cache(build_dir, source, Path(scratch) / "models"))
        payload_file = Path(scratch) / "payloads.json"
        payload_file.write_text(json.dumps(payloads), encoding="utf-8")
        stderr_file = Path(scratch) / "stderr.log"
        command = [
            sys.executable, str(Path(__file__).resolve()), "--child",
            str(build_dir / _CONFIG_NAME), str(payload_file), str(requests),
            "serve" if tokens is not None else "-",
        ]  # fmt: skip
        with stderr_file.open("wb") as stderr:
            say("bench: loading the model in a fresh process")
            started = time.perf_counter()
            child = subprocess.Popen(
                command, env=env, cwd=build_dir,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            )  # fmt: skip
            try:
                ready = _read_line(child.stdout)
                ready_at = time.perf_counter()
                if ready.get("event") == "ready":
                    say(f"bench: ready in {ready_at - started:,.1f} s; {requests} requests")
                final = _read_line(child.stdout) if ready.get("event") == "ready" else ready
                if final.get("event") == "serving" and tokens is not None:
                    try:
                        timings = measure_tokens(int(final["port"]), tokens, progress)
                    finally:
                        assert child.stdin is not None
                        child.stdin.close()  # the child stops its server and reports
                    final = _read_line(child.stdout)
                child.wait(timeout=_READY_TIMEOUT_S)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        if ready.get("event") != "ready" or final.get("event") != "done":
            problem = final.get("error") or ready.get("error") or "the process ended early"
            tail = stderr_file.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise UsageError(f"svai bench: the artifact did not serve: {problem}\n{tail}".rstrip())
        # What the runtime logged while it loaded: its cold-start components and its GPU.
        log = stderr_file.read_text(encoding="utf-8", errors="replace")
    latencies = sorted(float(x) for x in final["latencies_s"])
    files = [f for f in build_dir.rglob("*") if f.is_file() and f.name != "function.zip"]
    gpu = _gpu(logged_gpu(log))
    return BenchResult(
        model_version=str(manifest["model_version"]),
        target=str(manifest["target"]),
        requests=len(latencies),
        payloads=len(payloads),
        load_time_s=ready_at - started,
        p50_s=percentile(latencies, 0.50),
        p95_s=percentile(latencies, 0.95),
        p99_s=percentile(latencies, 0.99),
        mean_s=sum(latencies) / len(latencies),
        memory_bytes=int(final["max_rss_bytes"]),
        artifact_bytes=_size(model) if source is None else int(source["bytes"]),
        package_bytes=sum(f.stat().st_size for f in files),
        cold_start=cold_start_components(log),
        gpu=gpu,
        tokens=timings,
        tokens_note=_tokens_note(tokens is not None, gpu),
    )


def _tokens_note(generation: bool, gpu: dict[str, Any] | None) -> str | None:
    """Where the token timings apply, said plainly (``None``: the model generates no text)."""
    if not generation:
        return None
    if gpu is None:
        return (
            "token timings measured without a GPU: svai recommend keeps the catalogued GPU "
            "figures on every GPU size and says so; run svai bench on the target's GPU to use them"
        )
    from svai.compiler.hardware import describe_gpus

    gpus = describe_gpus(gpu["name"], gpu["count"], gpu["vram_gb"])
    return (
        f"token timings measured on {gpus}: svai recommend uses them on sizes with {gpus} and "
        "keeps the catalogued figures on other GPUs"
    )


def _gpu(logged: tuple[str, int, int] | None) -> dict[str, Any] | None:
    """The engine's GPU in the measurements' terms, so a size's GPUs can be compared with it."""
    if logged is None:
        return None
    from svai.compiler.catalog import load_catalog
    from svai.compiler.hardware import catalog_gpu

    name, vram_gb = catalog_gpu(logged[0], logged[1], load_catalog().gpu_throughput.cards)
    return {"name": name, "vram_gb": vram_gb, "count": logged[2]}


def _size(model: Path) -> int:
    if model.is_file():
        return model.stat().st_size
    return sum(f.stat().st_size for f in model.rglob("*") if f.is_file())


def _read_line(stream: IO[bytes] | None) -> dict[str, Any]:
    assert stream is not None
    line = stream.readline()
    if not line:
        return {}
    try:
        data = json.loads(line)
    except ValueError:
        return {"error": f"unexpected output {line[:200]!r}"}
    return data if isinstance(data, dict) else {}


def write_measurements(path: Path, result: BenchResult, key: str) -> None:
    """Write ``result`` to ``path`` (``.svai/measurements.json``) as stable JSON.

    ``key`` is the spec's :func:`svai.compiler.version.measurement_key`: the figures apply to
    every version with the same artifact and serving code (format:
    :mod:`svai.compiler.measurements`).
    """
    from svai.compiler.measurements import hardware, measurements_document

    figures = asdict(result)
    if not figures["cold_start"]:  # nothing logged: the file stays as it was before the field
        del figures["cold_start"]
    del figures["tokens_note"]  # said to people, not a figure
    tokens = figures.pop("tokens")
    if tokens is not None:  # the file's names; a p95 only where it was measured
        figures.update(
            {k: v for k, v in tokens.items() if k not in _NOT_IN_FILE and v is not None},
            token_requests=tokens["requests"],
        )
    machine = hardware()
    gpu = figures.pop("gpu")
    if gpu is not None:  # what the components and token timings were measured on
        machine["gpu"] = gpu
    data = measurements_document(figures, key, machine)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_measurements(path: Path, key: str, version: str) -> Measurements | None:
    """Return the measurements in ``path`` when they apply to ``key`` (schema 1: ``version``).

    Raises:
        svai.errors.SpecError: the file is not valid (located, like the spec's problems).
    """
    from svai.compiler.measurements import load_measurements

    return load_measurements(path, key, version)


# ---- the measuring child (standard library + the copied runtime core only) -------------------


def _child(config_path: str, payload_path: str, requests: int, serve_http: bool) -> int:
    import dataclasses
    import resource

    # The protocol goes to the real stdout; everything the runtime logs goes to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def emit(**fields: Any) -> None:
        out.write(json.dumps(fields) + "\n")
        out.flush()

    try:
        from svai.runtime.cloud.model_fetch import read_config
        from svai.runtime.core import Service
        from svai.runtime.core.config import RateLimitConfig

        cfg, fetch = read_config(config_path)
        if fetch is not None:  # weights left out of the package: found verified in the cache
            fetch()
        # Every request must reach the model: no result cache, no rate limit (the deployment's
        # is for its clients, not for a measurement), no per-request log lines. Streams are
        # on even where the target's path buffers them: token timings are the model's on this
        # hardware, which the recommender applies per GPU, not per path.
        cfg = dataclasses.replace(
            cfg,
            cache=dataclasses.replace(cfg.cache, ttl_s=0.0, store=None),
            rate_limit=RateLimitConfig(),
            observability=dataclasses.replace(cfg.observability, log_requests=False),
            generation=dataclasses.replace(cfg.generation, streaming=True),
        )
        loader = None
        if cfg.model.framework == "transformers":  # the engine, as the server loads it
            from svai.runtime.server.main import model_loader

            loader = model_loader(cfg)
        service = Service.from_config(cfg, loader=loader)
        server = _serving(service) if serve_http else None
        if server is None:
            service.load()
    except Exception as exc:
        emit(event="error", error=f"loading failed: {exc!r}")
        return 3
    emit(event="ready")
    bodies = [json.dumps(p).encode() for p in json.loads(Path(payload_path).read_text("utf-8"))]
    latencies: list[float] = []
    try:
        port = None if server is None else server.port
        for body in bodies:  # one warm-up pass, not counted
            _answer(service, body, port)
        for i in range(requests):
            body = bodies[i % len(bodies)]
            began = time.perf_counter()
            _answer(service, body, port)
            latencies.append(time.perf_counter() - began)
        if server is not None:
            # The parent streams from the server now; it closes our stdin when it is done.
            emit(event="serving", port=server.port)
            sys.stdin.readline()
    except RuntimeError as exc:
        emit(event="error", error=str(exc))
        return 1
    finally:
        if server is not None:
            server.stop()
        service.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    emit(
        event="done",
        latencies_s=latencies,
        max_rss_bytes=rss if sys.platform == "darwin" else rss * 1024,
    )
    return 0


def _serving(service: Any) -> Any:
    """Serve ``service`` with the runtime's HTTP server on 127.0.0.1; return once it is ready.

    The server loads the model on its own thread, as in a deployment (the same log lines).

    Raises:
        RuntimeError: the model failed to load (the log says why).
    """
    from svai.runtime.server.main import BackgroundServer

    server = BackgroundServer(service).start()
    while not service.ready:
        if server.exit_code is not None:
            raise RuntimeError(f"the server exited ({server.exit_code}); see its log")
        time.sleep(0.01)
    return server


def _answer(service: Any, body: bytes, port: int | None) -> None:
    """Answer one payload; with the server up, an OpenAI-shaped one through its OpenAI route.

    A text-generation spec's eval set holds chat completions (``messages``), which the runtime
    answers on ``/v1/chat/completions``, not on the prediction route.
    """
    from svai.runtime.core import Request
    from svai.runtime.server.platform import openai_path

    path = None if port is None else openai_path(body)
    if path is None:
        response = service.handle(Request(body))
        status, text = response.status, response.body
    else:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        try:
            conn.request("POST", path, body, {"content-type": "application/json"})
            reply = conn.getresponse()
            status, text = reply.status, reply.read()
        finally:
            conn.close()
    if status != 200:
        raise RuntimeError(
            f"a request was answered {status}: {text.decode('utf-8', 'replace')[:500]}"
        )


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "--child":
    sys.exit(_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "serve"))
