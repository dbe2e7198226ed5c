"""Run an eval set through the runtime that ships (``svai eval``), or through a deployed URL.

Locally, the built artifact's own HTTP server runs in a fresh process exactly as ``svai serve``
runs it (its own environment, ``PYTHONPATH=<build dir>``: the copied runtime, hooks and model),
on a free port of 127.0.0.1; every eval line's ``input`` is POSTed to ``/predict`` as a client
would send it, and each answer's ``outputs`` is kept for scoring. A text-generation model's
lines are OpenAI requests, POSTed to ``/v1/chat/completions`` or ``/v1/completions``, and the
generated text is kept. Against ``--endpoint`` the same requests go to the deployed URL. An
answer that is not 200 stops the run with that answer quoted (a 429 is waited out first): a
gate never scores a partial eval set. Answers the fallback gave are counted (the model did not
answer them).
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
from svai.build.placement import weights_in_cache
from svai.errors import UsageError
from svai.runtime.core.config import CONFIG_FILE_NAME
from svai.runtime.engines.hf import DEVICE_ENV
from svai.spec.resolve import ResolvedSpec

__all__ = ["Answers", "ask_artifact", "ask_endpoint", "local_refusal"]

_READY_TIMEOUT_S = 120.0
_REQUEST_TIMEOUT_S = 60.0
_GENERATION_ROUTES = ("/v1/chat/completions", "/v1/completions")
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
    if spec.model.task == "text-generation" and spec.model.engine == "vllm":
        return _vllm_refusal(spec.name)
    return None


def _vllm_refusal(name: str) -> str:
    return (
        f"svai eval cannot run {name} here: its engine is vLLM, which serves on a CUDA GPU in "
        "the package's image; evaluate a deployment of it with --endpoint URL, or set "
        "model.engine: transformers to run the eval set through the transformers engine on "
        "this machine"
    )


def ask_endpoint(
    url: str,
    payloads: Sequence[Any],
    headers: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    *,
    generation: bool = False,
) -> Answers:
    """POST every payload to ``url`` (a deployed prediction route) and collect the answers.

    With ``generation``, each payload is an OpenAI request sent whole (``stream`` off) to
    ``/v1/chat/completions`` (it has ``messages``) or ``/v1/completions`` under ``url``, unless
    ``url`` already names one of those routes; the answer is the generated text.

    Raises:
        UsageError: an answer other than 200, or no answer.
    """
    outputs: list[Any] = []
    versions: set[str] = set()
    fallbacks = 0
    latencies: list[float] = []
    say = progress or (lambda _line: None)
    for number, payload in enumerate(payloads, 1):
        if generation:
            route = generation_route(url, payload, number)
            body, seconds, heard = _post(route, {**payload, "stream": False}, headers or {}, number)
            outputs.append(generated_text(body, number))
            versions.add(heard.get("x-svai-model-version", ""))
            fallbacks += heard.get("x-svai-fallback") == "true"
        else:
            body, seconds, _ = _post(url, payload, headers or {}, number)
            if not isinstance(body, dict) or "outputs" not in body:
                raise UsageError(
                    f"eval line {number}: the answer has no outputs: {str(body)[:300]}"
                )
            outputs.append(body["outputs"])
            versions.add(str(body.get("model_version", "")))
            fallbacks += body.get("fallback") is True
        latencies.append(seconds)
        if number % 50 == 0 or number == len(payloads):
            say(f"eval: {number}/{len(payloads)} answered")
    return Answers(tuple(outputs), tuple(sorted(versions)), fallbacks, tuple(latencies))


def generation_route(url: str, payload: Any, number: int) -> str:
    """The OpenAI route under ``url`` that answers ``payload`` (or ``url``, if it is one).

    Raises:
        UsageError: the payload is neither a chat (``messages``) nor a completion (``prompt``).
    """
    if url.rstrip("/").endswith(_GENERATION_ROUTES):
        return url
    if isinstance(payload, dict) and "messages" in payload:
        return url.rstrip("/") + _GENERATION_ROUTES[0]
    if isinstance(payload, dict) and "prompt" in payload:
        return url.rstrip("/") + _GENERATION_ROUTES[1]
    raise UsageError(
        f"eval line {number}: a text-generation input is an OpenAI request: "
        '{"messages": [...]} (chat) or {"prompt": "..."} (completion)'
    )


def generated_text(body: Any, number: int) -> str:
    """The text of an OpenAI chat or completion answer's first choice.

    Raises:
        UsageError: the answer is not an OpenAI completion.
    """
    try:
        choice = body["choices"][0]
        text = choice["message"]["content"] if "message" in choice else choice["text"]
    except (KeyError, IndexError, TypeError):
        text = None
    if not isinstance(text, str):
        raise UsageError(f"eval line {number}: not an OpenAI completion: {str(body)[:300]}")
    return text


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
    config = json.loads((build_dir / CONFIG_FILE_NAME).read_text(encoding="utf-8"))
    model = manifest.get("model") or {}
    source = (config.get("model") or {}).get("source")
    if not model.get("packaged", False) and source is None:
        raise UsageError(
            f"the build has no model to run: {model.get('source')} is not in the package; "
            "evaluate a deployment of it with --endpoint URL"
        )
    engine = (config.get("engine") or {}).get("name")
    generation = (config.get("model") or {}).get("task") == "text-generation"
    if engine == "vllm":
        raise UsageError(_vllm_refusal(build_dir.parent.parent.name))
    if engine is None:
        python: Path | None = runtime_python(build_dir, progress)
    else:
        # A GPU image's stack (CUDA torch, gigabytes) is not rebuilt as a local virtualenv: the
        # transformers engine's pins are the versions installed here, so this interpreter runs
        # the copied runtime, on the GPU torch sees or else on CPU.
        python = None
        (progress or (lambda _line: None))(
            f"environment: the {engine} engine runs in this interpreter (the image pins the "
            "torch and transformers installed here)"
        )
    port = _free_port()
    command, env = serve_command(build_dir, "127.0.0.1", port, python)
    if engine is not None:
        env.setdefault(DEVICE_ENV, "auto")
    with tempfile.TemporaryDirectory(prefix="svai-eval-") as scratch, \
            tempfile.TemporaryFile() as log:  # fmt: skip
        if source is not None:
            env.update(weights_in_cache(build_dir, source, Path(scratch)))
        server = subprocess.Popen(command, env=env, cwd=build_dir, stdout=log, stderr=log)
        try:
            _wait_ready(server, port, log)
            url = f"http://127.0.0.1:{port}" + ("" if generation else "/predict")
            return ask_endpoint(url, payloads, None, progress, generation=generation)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _post(
    url: str, payload: Any, headers: Mapping[str, str], number: int
) -> tuple[Any, float, dict[str, str]]:
    """POST one eval line: its answer, the seconds the answered attempt took, its headers."""
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
                    heard = {k.lower(): v for k, v in reply.headers.items()}
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
        return json.loads(text), seconds, heard
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
