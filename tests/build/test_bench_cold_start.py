"""``svai bench`` on a tiny engine artifact records the cold-start components the runtime logged.

The tiny random-weight Llama folder (``tests/fixtures/sources/support-llm``) built for a GPU
target with ``model.engine: transformers``, benched on this machine's CPU
(``SVAI_ENGINE_DEVICE=cpu``): the measurements file carries the engine's logged ``import_torch_s``,
``device_s``, ``weights_s`` and ``warmup_s`` with the hardware; ``svai recommend`` keeps the
catalogued components on the GPU size and says why (measured without a GPU); the same file, as
a bench on that GPU would write it, puts the measured figures in, marked.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.build.test_gpu_packages import GCP, LLAMA, SPEC
from tests.test_cli_runtime import run_cli

pytest.importorskip("transformers")

ENGINE = ["import_torch_s", "device_s", "weights_s", "warmup_s"]


def _recommend(spec: Path) -> Any:
    """The first target of ``svai recommend --format json``."""
    code, output = run_cli("recommend", str(spec), "--format", "json")
    assert code == 0, output
    return json.loads(output)["targets"][0]


def test_bench_records_the_logged_components_and_recommend_uses_them_on_the_same_gpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(LLAMA, tmp_path / "model")
    spec = tmp_path / "svai.yaml"
    spec.write_text(
        SPEC.format(task="text-generation", extra="  engine: transformers", targets=GCP)
    )
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"inputs": "hello world"}))
    monkeypatch.setenv("SVAI_ENGINE_DEVICE", "cpu")  # the package asks for CUDA; none here
    code, output = run_cli(
        "bench", str(spec), "--payload", str(payload), "--requests", "2", "--token-requests", "1"
    )
    assert code == 0, output
    assert "cold start import_torch_s" in output, output
    path = tmp_path / ".svai" / "measurements.json"
    saved = json.loads(path.read_text())
    logged = saved["cold_start"]
    assert sorted(logged) == sorted(ENGINE)  # loaded from the artifact: no fetch_s
    assert all(seconds >= 0 for seconds in logged.values())
    assert "gpu" not in saved["hardware"]

    target = _recommend(spec)
    choice = target["choice"]
    assert not [n for n in target["assumptions"]["cold_start_components"] if "(measured)" in n]
    [note] = [n for n in target["notes"] if n.startswith("cold-start components measured")]
    gpus = f"1× {choice['gpu']}"
    assert "on x86_64" in note and f"do not apply to {gpus}" in note

    # As a bench on the chosen size's GPU records it: the same figures now apply, marked.
    vram = float(note.split(gpus, 1)[1].split(" GB")[0])
    saved["hardware"]["gpu"] = {"name": choice["gpu"], "vram_gb": vram, "count": 1}
    path.write_text(json.dumps(saved, indent=2))
    target = _recommend(spec)
    components = target["assumptions"]["cold_start_components"]
    for name in ENGINE:
        assert components[f"{name} (measured)"] == pytest.approx(logged[name], abs=1e-3)
    assert "node_start_s (catalog)" in components and "image_pull_s (catalog)" in components
    assert not [n for n in target["notes"] if n.startswith("cold-start components")]
