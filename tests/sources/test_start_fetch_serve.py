"""``model.fetch: start`` end to end: build -> upload by digest -> serve fetches -> prediction.

The build leaves the model out of the package and records ``model.source``; the test uploads
the weights to the deployment's bucket on a loopback store exactly as the backend would
(``models/sha256/<sha256>``), then runs the package's own server, which fetches and verifies
the weights before it turns ready. Tampered bytes under that key never become ready.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from stores import Seeded
from test_cli_runtime import SPEC, _free_port, _request, iris, run_cli  # noqa: F401

# One target per store: the cloud whose bucket the runtime reads.
TARGETS = {
    "s3": "{cloud: aws, region: us-east-1, runtime: endpoint}",
    "gs": "{cloud: gcp, region: europe-west1, runtime: container}",
    "azure": "{cloud: azure, region: westeurope, runtime: container}",
}


def _build(tmp_path: Path, onnx_bytes: bytes, scheme: str) -> Path:
    (tmp_path / "model").mkdir(parents=True)
    (tmp_path / "model/iris.onnx").write_bytes(onnx_bytes)
    (tmp_path / "src").mkdir()
    (tmp_path / "src/post.py").write_text(
        "def to_response(outputs):\n    return {'species': outputs['label']}\n"
    )
    spec = SPEC.replace("  task: classification\n", "  task: classification\n  fetch: start\n")
    spec = spec.replace("{cloud: gcp, region: europe-west1, runtime: container}", TARGETS[scheme])
    (tmp_path / "svai.yaml").write_text(spec)
    code, output = run_cli("build", str(tmp_path / "svai.yaml"))
    assert code == 0, output
    (folder,) = (p.parent for p in (tmp_path / ".svai/build").rglob("manifest.json"))
    return folder


def _bucket(store: Seeded) -> tuple[str, object]:
    """The deployment's bucket on the loopback store, and a function that puts one object."""
    if store.scheme == "s3":
        return "models", lambda key, data: store.client.put_object(
            Bucket="models", Key=key, Body=data
        )
    if store.scheme == "gs":
        bucket = store.client.bucket("models")
        return "models", lambda key, data: bucket.blob(key).upload_from_string(data)
    # The runtime reads blobs with the managed identity's token; Azurite checks no token, so
    # the deployment's container here is readable without one.
    from azure.storage.blob import BlobServiceClient
    from servers import azurite_connection

    service = BlobServiceClient.from_connection_string(azurite_connection(store.endpoint))
    container = service.get_container_client("deployment")
    if not container.exists():
        container.create_container(public_access="blob")
    return f"{store.endpoint}/deployment", lambda key, data: container.upload_blob(
        key, data, overwrite=True
    )


def _serve(folder: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    config = str(folder / "svai_runtime.json")
    process = subprocess.Popen(
        [sys.executable, "-m", "svai.runtime.server", "--port", str(port), "--config", config],
        env={**env, "PYTHONPATH": str(folder)},
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return process, port


def _ready(process: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if _request(port, "GET", "/readyz")[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("scheme", ["s3", "gs", "azure"])
def test_a_start_fetch_build_serves_after_fetching_and_refuses_tampered_weights(
    scheme: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    iris: tuple[np.ndarray, np.ndarray, bytes],  # noqa: F811
) -> None:
    store: Seeded = request.getfixturevalue(f"{scheme}_store")
    x, expected, onnx_bytes = iris
    folder = _build(tmp_path / "project", onnx_bytes, scheme)
    manifest = json.loads((folder / "manifest.json").read_text())
    config = json.loads((folder / "svai_runtime.json").read_text())
    assert not (folder / "model.onnx").exists(), "the weights are not in the package"
    assert manifest["model"]["packaged"] is False
    (entry,) = manifest["start_fetch"]["objects"]
    assert config["model"]["source"]["store"] == scheme
    assert config["model"]["source"]["files"] == [
        {"path": "model.onnx", "sha256": entry["sha256"], "bytes": len(onnx_bytes)}
    ]
    weights = (folder / entry["upload"]).read_bytes()
    assert entry["key"] == f"models/sha256/{entry['sha256']}"

    bucket, put = _bucket(store)
    put(entry["key"], weights)  # what the backend's model object does at apply
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SVAI_"))},
        **store.env,
        "SVAI_MODEL_BUCKET": bucket,
        "SVAI_MODEL_CACHE": str(tmp_path / "cache"),
    }
    process, port = _serve(folder, env)
    try:
        assert _ready(process, port), process.stdout.read().decode() if process.stdout else ""
        rows = x[[0, 75, 149]].tolist()
        status, body = _request(port, "POST", "/predict", json.dumps({"inputs": rows}).encode())
        assert status == 200, body
        assert json.loads(body)["outputs"] == {"species": expected[[0, 75, 149]].tolist()}
    finally:
        process.terminate()
        log = process.communicate(timeout=30)[0].decode()
    assert '"model fetched"' in log or "model fetched" in log
    cached = tmp_path / "cache" / entry["sha256"] / "model.onnx"
    assert cached.read_bytes() == weights

    # Another instance of a deployment whose object was replaced: fetched, refused, never ready.
    put(entry["key"], weights[:-1] + bytes([weights[-1] ^ 1]))
    process, port = _serve(folder, {**env, "SVAI_MODEL_CACHE": str(tmp_path / "cache2")})
    try:
        assert not _ready(process, port)
        assert process.wait(timeout=30) == 3
    finally:
        if process.poll() is None:
            process.kill()
        log = process.communicate(timeout=30)[0].decode()
    assert "sha256" in log and entry["sha256"] in log, log
    assert not (tmp_path / "cache2" / entry["sha256"] / "model.onnx").exists()


def test_without_the_bucket_variable_the_server_refuses_to_start(
    tmp_path: Path,
    iris: tuple[np.ndarray, np.ndarray, bytes],  # noqa: F811
) -> None:
    folder = _build(tmp_path / "project", iris[2], "gs")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SVAI_")}
    process, _port = _serve(folder, env)
    output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 2
    assert "SVAI_MODEL_BUCKET" in output
