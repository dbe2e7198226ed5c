"""GPU packages: a GPU target gets a CUDA image with its engine, never a CPU-only package.

No Docker engine and no GPU here: these check the files ``svai build`` writes (Dockerfile,
requirements, ``svai_runtime.json``'s engine and generation sections, the manifest) and the
refusals, for a tiny random-weight Llama folder saved by ``save_pretrained``
(``tests/fixtures/sources/support-llm``).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from svai import api
from svai.build.gpu import CUDA_BASE_IMAGE, profile
from svai.errors import UsageError

REPO = Path(__file__).resolve().parents[2]
LLAMA = REPO / "tests" / "fixtures" / "sources" / "support-llm"

SPEC = """\
version: 1
name: gpu-chat
model:
  artifact: model/
  framework: transformers
  task: {task}
{extra}
latency: {{p95: 5s}}
api: {{timeout: 60s}}
traffic: {{pattern: steady, baseline_rps: 1}}
gpu: {{required: true, memory: 16GB}}
targets:
{targets}
"""

GCP = "  - {cloud: gcp, region: us-central1, runtime: container}"
ALL = "\n".join(
    [
        GCP,
        "  - {cloud: azure, region: swedencentral, runtime: container}",
        "  - {cloud: aws, region: us-east-1, runtime: endpoint}",
    ]
)


def _project(
    tmp_path: Path, task: str = "text-generation", extra: str = "", targets: str = GCP
) -> Path:
    shutil.copytree(LLAMA, tmp_path / "model")
    spec = tmp_path / "svai.yaml"
    spec.write_text(SPEC.format(task=task, extra=extra, targets=targets))
    return spec


def _built(spec: Path) -> dict[str, Path]:
    result = api.build(spec)
    return {t.target: t.directory for t in result.targets}


def test_a_gpu_target_gets_a_cuda_image_with_vllm_and_settings_for_its_gpu(tmp_path: Path) -> None:
    folders = _built(_project(tmp_path, targets=ALL))
    assert set(folders) == {"gcp-us-central1", "azure-swedencentral", "aws-us-east-1"}
    for key, folder in folders.items():
        dockerfile = (folder / "Dockerfile").read_text()
        assert f"FROM {CUDA_BASE_IMAGE}" in dockerfile
        assert "python:3.11" not in dockerfile and "slim" not in dockerfile
        assert re.search(r"^USER 10001:10001$", dockerfile, re.M)
        assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
        requirements = (folder / "requirements.txt").read_text().splitlines()
        assert "vllm==0.34.0" in requirements and "torch==2.14.0" in requirements
        assert "onnxruntime" not in " ".join(requirements)  # no CPU serving stack
        config = json.loads((folder / "svai_runtime.json").read_text())
        manifest = json.loads((folder / "manifest.json").read_text())
        gpu = manifest["offering"] and _gpu_of(manifest)
        card = profile(gpu)
        assert config["model"] == {
            "path": "model",
            "version": config["model"]["version"],
            "framework": "transformers",
            "task": "text-generation",
            "warmup": True,
        }, key
        assert config["engine"] == {
            "name": "vllm",
            "device": "cuda",
            "dtype": card.dtype,
            "max_model_len": card.max_model_len,
            "gpu_memory_utilization": card.gpu_memory_utilization,
            "tensor_parallel_size": 1,
            "vllm_args": [],
        }, key
        assert config["generation"]["max_tokens"] <= card.max_model_len // 2
        assert manifest["image"]["estimate"] is True
        assert manifest["image"]["total_mb"] > 5_000
        # 68 KB of weights: under every threshold, so baked into the image.
        assert (folder / "model" / "model.safetensors").read_bytes() == (
            LLAMA / "model.safetensors"
        ).read_bytes()
        assert "source" not in config["model"]


def _gpu_of(manifest: dict) -> str:  # type: ignore[type-arg]
    notes = " ".join(manifest["notes"])
    found = re.search(r"GPU image \(vllm on (\w+),", notes)
    assert found, notes
    return found.group(1)


def test_each_gpu_flavour_has_its_own_settings() -> None:
    assert profile("T4").dtype == "float16"  # no bfloat16 before Ampere
    for name in ("L4", "A10G", "A100", "H100"):
        assert profile(name).dtype == "bfloat16"
    assert profile("L4").max_model_len == profile("A10G").max_model_len == 4096
    assert profile("A100").max_model_len == profile("H100").max_model_len == 8192
    assert profile("nvidia-l4").dtype == "auto"  # an unknown name gets the model's own dtype


def test_engine_transformers_overrides_vllm(tmp_path: Path) -> None:
    folder = _built(_project(tmp_path, extra="  engine: transformers"))["gcp-us-central1"]
    config = json.loads((folder / "svai_runtime.json").read_text())
    assert config["engine"]["name"] == "transformers"
    requirements = (folder / "requirements.txt").read_text()
    assert "vllm" not in requirements and re.search(r"^torch==\d", requirements, re.M)
    assert "generation" in config


def test_a_gpu_classifier_gets_the_transformers_engine_without_generation(tmp_path: Path) -> None:
    folder = _built(_project(tmp_path, task="classification"))["gcp-us-central1"]
    config = json.loads((folder / "svai_runtime.json").read_text())
    assert config["engine"]["name"] == "transformers"
    assert config["model"]["task"] == "text-classification"
    assert "generation" not in config


def test_large_gpu_weights_are_fetched_at_start_by_default(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    # Over the offering's 1,000 MB threshold: a sparse file, so the test writes no gigabyte.
    with (tmp_path / "model" / "extra.bin").open("wb") as handle:
        handle.truncate(1_100_000_000)
    folder = _built(spec)["gcp-us-central1"]
    config = json.loads((folder / "svai_runtime.json").read_text())
    assert not (folder / "model").exists()
    paths = {f["path"] for f in config["model"]["source"]["files"]}
    assert "model/extra.bin" in paths and "model/config.json" in paths
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["image"]["parts_mb"]["weights"] == 0
    assert all((folder / o["upload"]).is_file() for o in manifest["start_fetch"]["objects"])


@pytest.mark.parametrize(
    ("changes", "field", "why"),
    [
        ([("framework: transformers", "framework: onnx")], "model.framework", "no GPU engine"),
        ([("task: text-generation", "task: regression")], "model.task", "GPU engines serve"),
        (
            [("task: text-generation", "task: classification\n  engine: vllm")],
            "model.engine",
            "vLLM",
        ),
        (  # a GPU engine named for a CPU package
            [
                ("framework: transformers", "framework: onnx\n  engine: vllm"),
                ("gpu: {required: true, memory: 16GB}", "gpu: {required: false}"),
            ],
            "model.engine",
            "asks for no GPU",
        ),
    ],
)
def test_no_gpu_engine_no_package(
    tmp_path: Path, changes: list[tuple[str, str]], field: str, why: str
) -> None:
    spec = _project(tmp_path)
    text = spec.read_text()
    for old, new in changes:
        text = text.replace(old, new)
    if "framework: onnx" in text:
        text = text.replace("artifact: model/", "artifact: model.onnx")
        (tmp_path / "model.onnx").write_bytes(b"never read: refused before the model")
    spec.write_text(text)
    for step in (api.plan, api.build):
        with pytest.raises(UsageError, match=re.escape(field)) as refused:
            step(spec)
        assert why in str(refused.value)
    assert not (tmp_path / ".svai" / "build").exists()
