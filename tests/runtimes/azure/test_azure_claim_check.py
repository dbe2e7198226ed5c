"""A 20 MB async job end to end on Azure: Blob claim check, Service Bus, Cosmos DB.

Service Bus Standard takes 256 KB per message (the loopback fake refuses more, 413); the
generated function app's submit role stores the body in the deployment's container (Azurite,
over HTTPS with Entra ID bearer tokens from the fake's managed identity endpoint, as in Azure),
queues a reference, the container worker (``SVAI_QUEUE_KIND=servicebus``) fetches it, and the
status role returns the result. The limit comes from svai's catalog, as the backend sets it.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_azure import FakeAzure
from job_artifacts import build_job_artifact
from test_azure_async import _call, _function_app, _functions, _wait, _worker_env

from svai.compiler.catalog import load_catalog
from svai.runtime.cloud.objects import Bucket
from svai.runtime.core.jobs import MESSAGE_BYTES_ENV
from svai.runtime.entry.claims import PAYLOAD_BUCKET_ENV, PREFIX
from svai.runtime.server.main import BackgroundServer

BIG = 20 * 1024 * 1024
ACCOUNT = "devstoreaccount1"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fake() -> Iterator[FakeAzure]:
    azure = FakeAzure(seed=7).start()
    azure.add_container("svai", "results", "/request_id")
    azure.add_queue("jobs")
    yield azure
    azure.stop()


@pytest.fixture
def container(fake: FakeAzure, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An Azurite blob container over HTTPS that takes Entra ID bearer tokens (``--oauth``)."""
    import shutil

    command = shutil.which("azurite-blob")
    if command is None:
        pytest.skip("Azurite (npm azurite) is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the runtime trusts Azurite's certificate
    port = _free_port()
    process = subprocess.Popen(
        [
            *(command, "--blobHost", "127.0.0.1", "--blobPort", str(port)),
            *("--location", str(tmp_path / "azurite"), "--silent", "--skipApiVersionCheck"),
            *("--oauth", "basic", "--cert", str(cert), "--key", str(key)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"https://127.0.0.1:{port}/{ACCOUNT}/artifacts"
    try:
        _create_container(url, fake.env())
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _create_container(url: str, env: dict[str, str]) -> None:
    sign = Bucket("azure", url, env).signer()
    deadline = time.monotonic() + 30
    while True:
        request = urllib.request.Request(
            f"{url}?restype=container", b"", dict(sign("PUT", url, {})), method="PUT"
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                assert reply.status == 201
                return
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _environment(fake: FakeAzure, container: str | None) -> dict[str, str]:
    limit, _ = load_catalog().queue_message_limit("azure")
    env = {**fake.env(), MESSAGE_BYTES_ENV: str(limit)}
    return {**env, PAYLOAD_BUCKET_ENV: container} if container else env


def _blobs(container: str, env: dict[str, str]) -> list[str]:
    url = f"{container}?restype=container&comp=list&prefix={PREFIX}"
    headers = dict(Bucket("azure", container, env).signer()("GET", url, {}))
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        listing = r.read().decode()
    return [part.split("</Name>")[0] for part in listing.split("<Name>")[1:]]


def _big_body() -> bytes:
    # A scanned document rides along with the features: 20 MB, far above 256 KB.
    body = json.dumps({"inputs": [[5.1, 3.5, 1.4, 0.2]], "document": "A" * BIG}).encode()
    assert len(body) > BIG
    return body


def test_a_20_mb_job_completes_through_the_container(
    fake: FakeAzure,
    container: str,
    tmp_path: Path,
    new_service: Callable[..., Any],
    lines: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    artifact = build_job_artifact(tmp_path / "artifact", api={"max_payload_bytes": 25 * 2**20})
    env = _environment(fake, container)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    submit = _functions(_function_app(tmp_path / "submit", artifact, "submit", monkeypatch))
    status = _functions(_function_app(tmp_path / "status", artifact, "status", monkeypatch))
    body = _big_body()
    first = _call(submit["submit"][0], "POST", "/api/jobs", body, key="doc-20mb")
    assert first[0] == 202, first
    again = _call(submit["submit"][0], "POST", "/api/jobs", body, key="doc-20mb")
    assert again[:2] == first[:2] and fake.pending("jobs") == 1  # the retry queued nothing
    (stored,) = _blobs(container, env)
    (message,) = fake.queues["jobs"].messages
    assert len(message.body) < 1024 and json.loads(message.body)["claim"]["key"] == stored

    service = new_service(artifact / "svai_runtime.json", lines)
    server = BackgroundServer(service, env={**_worker_env(fake), **env}).start()
    try:
        _wait(lambda: len(fake.queues["jobs"].completed) == 1, 30, "the job to complete")
    finally:
        assert server.stop() == 0
    done = _call(status["status"][0], "GET", "/api/jobs/doc-20mb", route={"id": "doc-20mb"})
    assert done[0] == 200 and done[1]["outputs"]["label"] == [0]


def test_without_a_container_a_job_above_the_limit_is_refused_and_nothing_is_queued(
    fake: FakeAzure, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact = build_job_artifact(tmp_path / "artifact", api={"max_payload_bytes": 25 * 2**20})
    for name, value in _environment(fake, None).items():
        monkeypatch.setenv(name, value)
    submit = _functions(_function_app(tmp_path / "submit", artifact, "submit", monkeypatch))
    status = _functions(_function_app(tmp_path / "status", artifact, "status", monkeypatch))
    answer = _call(submit["submit"][0], "POST", "/api/jobs", _big_body(), key="too-big")
    assert answer[0] == 413 and answer[1]["error"]["code"] == "payload_too_large"
    assert fake.pending("jobs") == 0 and fake.live_docs("svai", "results") == []
    assert _call(status["status"][0], "GET", "/api/jobs/too-big", route={"id": "too-big"})[0] == 404
    # 200 KB still goes inline, and Service Bus Standard takes it.
    inline = json.dumps({"inputs": [[5.1, 3.5, 1.4, 0.2]], "document": "A" * 200_000}).encode()
    assert _call(submit["submit"][0], "POST", "/api/jobs", inline, key="inline")[0] == 202
    assert fake.pending("jobs") == 1
