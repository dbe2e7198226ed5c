"""``examples/llm-gpu`` end to end on CPU: fetched, built, uploaded by digest, served, streamed.

The example's folder lives in Cloud Storage (a tiny random-weight Llama with a real tokenizer
and chat template here, on the GCS emulator); the build leaves the weights out (``fetch:
start``) and records their digests; the test uploads them to the deployment's bucket as the
backend would; the package's own server fetches and verifies them, loads the transformers
engine on CPU and answers OpenAI chat completions, streamed and not. The example names vLLM,
which needs a GPU; ``model.engine: transformers`` is the override a user without one sets.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from stores import Seeded, apply_env, seed_llm_fallback
from test_cli_runtime import run_cli
from test_start_fetch_serve import _ready, _serve

from svai.compiler.streaming import STREAM_BOOTSTRAP

REPO = Path(__file__).resolve().parents[2]
FOLDER = REPO / "tests" / "fixtures" / "sources" / "support-llm"


def _chat(port: int, body: dict[str, object]) -> tuple[int, list[bytes]]:
    """POST a chat completion; the status and the body's lines as they arrived."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(
            "POST",
            "/v1/chat/completions",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        return response.status, [line for line in response.read().split(b"\n") if line]
    finally:
        conn.close()


def test_the_llm_example_builds_and_answers_chat_completions_with_streaming(
    gs_store: Seeded, hf_store: Seeded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = {**gs_store.env, **hf_store.env, "HF_HOME": str(tmp_path / "hf-home")}
    apply_env(monkeypatch, {**env, "SVAI_CACHE_DIR": str(tmp_path / "cache")})
    client = gs_store.client
    for name in ("acme-models", "models"):
        if client.lookup_bucket(name) is None:
            client.create_bucket(name)
    source = client.bucket("acme-models")
    for path in sorted(p for p in FOLDER.rglob("*") if p.is_file()):
        blob = source.blob(f"support-llm/v3/{path.relative_to(FOLDER).as_posix()}")
        blob.upload_from_string(path.read_bytes())

    project = tmp_path / "llm-gpu"
    shutil.copytree(REPO / "examples" / "llm-gpu", project)
    spec = (project / "svai.yaml").read_text()
    assert "  engine: vllm" in spec
    seed_llm_fallback(hf_store, spec)  # the fallback (hf://, pinned) ships in the package
    (project / "svai.yaml").write_text(spec.replace("  engine: vllm", "  engine: transformers"))
    code, output = run_cli("build", str(project / "svai.yaml"), "--out", str(tmp_path / "out"))
    assert code == 0, output
    (folder,) = (m.parent for m in (tmp_path / "out").rglob("manifest.json") if "gcp" in str(m))
    (aws,) = (m.parent for m in (tmp_path / "out").rglob("manifest.json") if "aws" in str(m))
    with zipfile.ZipFile(aws / "function.zip") as archive:  # the streaming function's start
        start = archive.getinfo(STREAM_BOOTSTRAP)
        assert (start.external_attr >> 16) & 0o777 == 0o755, "Lambda must be able to run it"
        assert b"-m svai.runtime.entry.sagemaker_stream" in archive.read(start)
        assert "svai/runtime/entry/lambda_stream.py" in archive.namelist()
    document = json.loads((aws / "openapi.json").read_text())  # what its HTTP API routes
    assert {"/predict", "/v1/chat/completions", "/v1/completions"} <= set(document["paths"])
    assert "/v1/models" not in document["paths"]
    config = json.loads((folder / "svai_runtime.json").read_text())
    assert config["engine"]["name"] == "transformers"
    assert "FROM nvidia/cuda:" in (folder / "Dockerfile").read_text(), "a GPU target, a GPU image"
    assert not (folder / "model").exists(), "fetch: start: the weights are not packaged"
    assert config["fallback"]["model"] == "fallback" and config["fallback"]["after_s"] == 8.0
    assert (folder / "fallback" / "config.json").read_bytes() == (
        FOLDER / "config.json"
    ).read_bytes()

    # svai bench runs the package as built: the runtime's own fetch finds the weights the build
    # left beside it (verified, from its cache), and the engine streams the timed requests.
    monkeypatch.setenv("SVAI_ENGINE_DEVICE", "cpu")
    code, output = run_cli(
        "bench", str(project / "svai.yaml"), "--target", folder.name, "--requests", "2",
        "--token-requests", "2", "--format", "json",
    )  # fmt: skip
    assert code == 0, output
    measured = json.loads(output)
    assert measured["tokens"]["ttft_s"] > 0 and measured["tokens"]["tpot_s"] > 0, measured
    assert measured["artifact_bytes"] == sum(f["bytes"] for f in config["model"]["source"]["files"])

    deployment = client.bucket("models")
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["start_fetch"]["objects"]:  # what the backend's upload does
        deployment.blob(entry["key"]).upload_from_string((folder / entry["upload"]).read_bytes())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SVAI_"))},
        **gs_store.env,
        "SVAI_MODEL_BUCKET": "models",
        "SVAI_MODEL_CACHE": str(tmp_path / "weights"),
        "SVAI_ENGINE_DEVICE": "cpu",  # the package asks for CUDA; this machine has none
    }
    process, port = _serve(folder, env)
    try:
        assert _ready(process, port), process.stdout.read().decode() if process.stdout else ""
        ask = {"messages": [{"role": "user", "content": "Where is my order?"}], "max_tokens": 8}

        status, lines = _chat(port, {**ask, "temperature": 0})
        assert status == 200, lines
        answer = json.loads(b"".join(lines))
        assert answer["object"] == "chat.completion"
        assert answer["choices"][0]["message"]["role"] == "assistant"
        assert 0 < answer["usage"]["completion_tokens"] <= 8

        status, lines = _chat(port, {**ask, "temperature": 0, "stream": True})
        assert status == 200, lines
        assert lines[-1] == b"data: [DONE]"
        chunks = [json.loads(line.removeprefix(b"data: ")) for line in lines[:-1]]
        assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
        streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        assert streamed == answer["choices"][0]["message"]["content"]
    finally:
        process.terminate()
        log = process.communicate(timeout=60)[0].decode()
    assert "model fetched" in log, log
