"""Run an eval set through the runtime that ships (``svai eval``), or through a deployed URL.

Locally, the built artifact's own HTTP server runs in a fresh process exactly as ``svai serve``
runs it (its own environment, ``PYTHONPATH=<build dir>``: the copied runtime, hooks and model), on a free port of
127.0.0.1; every eval line's ``input`` is POSTed to ``/predict`` as a client would send it, and
each answer's ``outputs`` is kept for scoring. Against ``--endpoint`` the same requests go to the
deployed URL. An answer that is not 200 stops the run with that answer quoted: a gate never
scores a partial eval set. Answers the fallback gave are counted (the model did not answer them).
"""

from __future__ import annotations

import json
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from svai.build.artifact import MANIFEST_NAME
from svai.build.bench import serve_command
from svai.build.environment import runtime_python
from svai.errors import UsageError
from svai.spec.resolve import ResolvedSpec

__all__ = ["Answers", "ask_artifact", "ask_endpoint", "local_refusal"]

_READY_TIMEOUT_S = 120.0
_REQUEST_TIMEOUT_S = 60.0
_THROTTLED_WAIT_S = 60.0  # the most one eval line waits on 429s before the run stops


@dataclass(frozen=True, slots=True)
class Answers:
    """What the model answered, in eval-set order.

    Attributes:
        outputs: each response's ``outputs``.
        model_versions: the version ids that answered (one, unless a deployment was mid-release).
        fallbacks: answers that came from the fallback rather than the model.
        latencies_s: seconds per request, as the client saw them.
    """

    outputs: tuple[Any, ...]
    model_versions: tuple[str, ...]
    fallbacks: int
    latencies_s: tuple[float, ...]


def local_refusal(spec: ResolvedSpec) -> str | None:
    """Why the runtime that ships cannot answer ``spec``'s model here, before anything is built.

    A gate that cannot be computed must say so; building (and fetching gigabytes of weights)
    first would only end in the same refusal.
    """
    if spec.model.task == "text-generation":
        return (
            f"svai eval cannot run {spec.name} locally: the runtime that ships has no engine for "
            "text-generation models yet (a GPU engine is planned), so no build of it answers "
            "here; evaluate a deployment of it with --endpoint URL"
        )
    return None


def ask_endpoint(
    url: str,
    payloads: Sequence[Any],
    headers: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Answers:
    """POST every payload to ``url`` (a deployed prediction route) and collect the answers.

    Raises:
        UsageError: an answer other than 200, or no answer.
    """
    outputs: list[Any] = []
    versions: set[str] = set()
    fallbacks = 0
    latencies: list[float] = []
    say = progress or (lambda _line: None)
    for number, payload in enumerate(payloads, 1):
        body, seconds = _post(url, payload, headers or {}, number)
        latencies.append(seconds)
        if not isinstance(body, dict) or "outputs" not in body:
            raise UsageError(f"eval line {number}: the answer has no outputs: {str(body)[:300]}")
        outputs.append(body["outputs"])
        versions.add(str(body.get("model_version", "")))
        fallbacks += body.get("fallback") is True
        if number % 50 == 0 or number == len(payloads):
            say(f"eval: {number}/{len(payloads)} answered")
    return Answers(tuple(outputs), tuple(sorted(versions)), fallbacks, tuple(latencies))


def ask_artifact(
    build_dir: Path,
    payloads: Sequence[Any],
    progress: Callable[[str], None] | None = None,
) -> Answers:
    """Start the artifact's HTTP server on 127.0.0.1, ask it every payload, stop it.

    Raises:
        UsageError: the server did not become ready, or an answer was not 200.
    """
    manifest = json.loads((build_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    model = manifest.get("model") or {}
    if not model.get("packaged", False):
        raise UsageError(
            f"the build has no model to run: {model.get('source')} is not in the package (the "
            "runtime fetches it at start, which svai eval does not run locally yet); evaluate "
            "a deployment of it with --endpoint URL"
        )
    python = runtime_python(build_dir, progress)
    port = _free_port()
    command, env = serve_command(build_dir, "127.0.0.1", port, python)
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, env=env, cwd=build_dir, stdout=log, stderr=log)
        try:
            _wait_ready(server, port, log)
            return ask_endpoint(f"http://127.0.0.1:{port}/predict", payloads, None, progress)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _post(url: str, payload: Any, headers: Mapping[str, str], number: int) -> tuple[Any, float]:
    """POST one eval line; its answer and the seconds the answered attempt took."""
    data = json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"content-type": "application/json", **headers}
    )
    waited = 0.0
    try:
        while True:
            began = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=_REQUEST_TIMEOUT_S) as reply:
                    text = reply.read()
                seconds = time.perf_counter() - began
                break
            except urllib.error.HTTPError as exc:
                # The service's rate limit is admission, not an answer: an eval set sent faster
                # than the limit waits as any polite client would, within a bound.
                pause = _retry_after(exc) if exc.code == 429 else None
                if pause is None or waited + pause > _THROTTLED_WAIT_S:
                    quoted = exc.read()[:500].decode("utf-8", "replace")
                    raise UsageError(f"eval line {number}: answered {exc.code}: {quoted}") from None
                exc.close()
                time.sleep(pause)
                waited += pause
    except (urllib.error.URLError, OSError) as exc:
        raise UsageError(f"eval line {number}: no answer from {url}: {exc}") from None
    try:
        return json.loads(text), seconds
    except ValueError:
        raise UsageError(f"eval line {number}: the answer is not JSON: {text[:300]!r}") from None


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    """The seconds a 429's ``Retry-After`` asks for (at least 50 ms), or ``None`` without one."""
    try:
        return max(0.05, float(exc.headers.get("retry-after", "")))
    except ValueError:
        return None


def _wait_ready(server: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            tail = log.read()[-2000:].decode("utf-8", "replace").strip()
            raise UsageError(f"the artifact's server exited ({server.returncode}): {tail}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise UsageError(f"the artifact's server was not ready within {_READY_TIMEOUT_S:.0f} s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
