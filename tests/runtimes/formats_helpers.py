"""Build a project with ``svai build`` and serve the artifact as deployed: a real process, HTTP.

Shared by the model-format tests (boosters, Hugging Face folders, OpenAPI).
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from svai import api
from svai.build.bench import serve_command

TARGETS = "  - {cloud: gcp, region: europe-west1, runtime: container}\n"

SPEC = """\
version: 1
name: {name}
model:
  artifact: {artifact}
  framework: {framework}
{extra}traffic: {{pattern: steady, baseline_rps: 2}}
targets:
{targets}"""


def write_spec(
    root: Path,
    artifact: str,
    framework: str,
    *,
    name: str = "formats",
    model_extra: str = "",
    extra: str = "",
    targets: str = TARGETS,
) -> Path:
    """Write ``svai.yaml`` naming ``artifact``; ``model_extra`` adds lines under ``model:``."""
    spec = root / "svai.yaml"
    spec.write_text(
        SPEC.format(
            name=name,
            artifact=artifact,
            framework=framework,
            extra=model_extra + extra,
            targets=targets,
        )
    )
    return spec


def built_dir(result: api._package.BuildResult) -> Path:
    """The folder of the (only) target of a build."""
    (target,) = result.targets
    return target.directory


class Served:
    """A built artifact's HTTP server, running as a real process on 127.0.0.1."""

    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc = proc
        self.port = port

    def request(
        self, method: str, path: str, body: Any = None, timeout: float = 30.0
    ) -> tuple[int, Any]:
        """Send one request; return the status and the decoded JSON body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = {"content-type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()

    def predict(self, body: Any) -> Any:
        """POST ``body`` to /predict and return the decoded answer (asserting a 200)."""
        status, answer = self.request("POST", "/predict", body)
        assert status == 200, answer
        return answer


@contextmanager
def serving(build_dir: Path, timeout_s: float = 120.0) -> Iterator[Served]:
    """Run the artifact's server exactly as ``svai serve`` does, until it is ready."""
    command, env = serve_command(build_dir, "127.0.0.1", 0)
    proc = subprocess.Popen(
        command, env=env, cwd=build_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    port: list[int] = []
    seen = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("message") == "listening" or record.get("event") == "listening":
                port.append(int(record["port"]))
                seen.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        if not seen.wait(timeout_s):
            raise AssertionError(
                f"server did not listen: {proc.stderr.read() if proc.stderr else ''}"
            )
        served = Served(proc, port[0])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"server exited {proc.returncode}: {proc.stderr.read()}")  # type: ignore[union-attr]
            try:
                if served.request("GET", "/readyz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise AssertionError("server never became ready")
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


IMPORTS_PROBE = """
import dataclasses, json, sys
from svai.runtime.core import Request, Service, load_config
cfg = load_config(sys.argv[1])
cfg = dataclasses.replace(cfg, cache=dataclasses.replace(cfg.cache, ttl_s=0.0, store=None))
service = Service.from_config(cfg)
service.load()
response = service.handle(Request(sys.argv[2].encode()))
service.close()
with open(sys.argv[3], "w") as out:  # not stdout: the runtime's log threads write there
    json.dump({"status": response.status, "body": json.loads(response.body),
               "modules": sorted({m.split(".")[0] for m in sys.modules})}, out)
"""


def serve_once(build_dir: Path, body: Any) -> dict[str, Any]:
    """Answer one request in a fresh process of the artifact; report the modules it imported."""
    _, env = serve_command(build_dir, "127.0.0.1", 0)
    report = build_dir.parent / f".probe-{build_dir.name}.json"
    config = str(build_dir / "svai_runtime.json")
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS_PROBE, config, json.dumps(body), str(report)],
        env=env,
        cwd=build_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    try:
        return dict(json.loads(report.read_text()))
    finally:
        report.unlink()


def check_openapi(build_dir: Path, served: Served, body: Any) -> dict[str, Any]:
    """The build's OpenAPI document is valid, served as written, and describes ``body``'s answer.

    Returns:
        The answer to ``body``.
    """
    import jsonschema
    from openapi_spec_validator import validate

    document = json.loads((build_dir / "openapi.json").read_text())
    validate(document)  # raises on an invalid OpenAPI 3.1 document
    status, fetched = served.request("GET", "/openapi.json")
    assert status == 200 and fetched == document
    for name, instance in (("Request", body), ("Response", answer := served.predict(body))):
        schema = {**document, "$ref": f"#/components/schemas/{name}"}
        jsonschema.Draft202012Validator(schema).validate(instance)
    return dict(answer)
