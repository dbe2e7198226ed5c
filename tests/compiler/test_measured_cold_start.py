"""Measured cold-start components: the runtime's logged figures replace the catalogued ones on the
same GPUs, each marked; on other hardware the catalog stays and a note says so; the file refuses
bad components with their location; the runtime's log lines are read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from svai.build.bench import BenchResult, write_measurements
from svai.build.start_log import cold_start_components, logged_gpu
from svai.compiler.catalog import load_catalog
from svai.compiler.hardware import MeasuredHardware, catalog_gpu
from svai.compiler.measured_start import CATALOGUED, MEASURED
from svai.compiler.measurements import load_measurements
from svai.compiler.needs import MeasuredColdStart, Measurements
from svai.compiler.recommend import recommend
from svai.errors import SpecError
from svai.spec import load_spec_text, resolve
from svai.spec.resolve import ResolvedSpec
from tests.compiler.test_generation_tokens import llm_spec
from tests.compiler.test_measured_hardware import _file as measurements_file

AWS = "  - {cloud: aws, region: us-east-1, runtime: endpoint}"
T4_1 = MeasuredHardware("x86_64", 4, "T4", 16.0, 1)
LOGGED = (("import_torch_s", 1.5), ("device_s", 0.25), ("weights_s", 0.75), ("warmup_s", 0.5))
T4_FILE = {"machine": "x86_64", "cpu_count": 4, "gpu": {"name": "T4", "vram_gb": 16, "count": 1}}
ENGINE = ("import_torch_s", "device_s", "weights_s", "warmup_s")


def _spec() -> ResolvedSpec:
    return resolve(load_spec_text(llm_spec("2.2GB", AWS, ttft="2s")))


def test_measured_components_replace_the_catalogued_ones_on_the_same_gpus() -> None:
    spec = _spec()
    [catalogued] = recommend(spec).targets
    assert catalogued.choice.gpu == "T4"
    before = dict(catalogued.assumptions.cold_start_components)
    assert not any(MEASURED in n or CATALOGUED in n for n in before)  # no bench: names as before
    measured = Measurements(hardware=T4_1, cold_start=MeasuredColdStart(LOGGED, T4_1))
    [target] = recommend(spec, measured).targets
    assert target.choice.gpu == "T4" and target.choice.gpu_count == 1
    after = dict(target.assumptions.cold_start_components)
    for name, seconds in LOGGED:
        assert after.pop(name + MEASURED) == seconds
    # Node start and image pull stay platform figures from the catalog; the fetch too (the
    # bench loaded the weights from the artifact); the declared load time stays on top.
    for name in ("node_start_s", "image_pull_s", "fetch_s"):
        assert after.pop(name + CATALOGUED) == before[name]
    assert after == {"model load": before["model load"]}
    expected = sum(s for _, s in target.assumptions.cold_start_components)
    assert target.assumptions.cold_start_s == pytest.approx(expected, abs=0.01)
    catalog_engine = sum(before[n] for n in ENGINE)
    assert catalogued.assumptions.cold_start_s - target.assumptions.cold_start_s == (
        pytest.approx(catalog_engine - sum(s for _, s in LOGGED), abs=0.01)
    )
    assert not [n for n in target.notes if "cold-start components" in n]


def test_components_measured_on_other_gpus_keep_the_catalog_and_say_so() -> None:
    spec = _spec()
    [catalogued] = recommend(spec).targets
    h100 = MeasuredHardware("x86_64", 8, "H100", 80.0, 1)
    laptop = MeasuredHardware("x86_64", 2)
    for where, said in ((h100, "x86_64, 8 CPUs, 1× H100 80 GB"), (laptop, "x86_64, 2 CPUs")):
        measured = Measurements(cold_start=MeasuredColdStart(LOGGED, where))
        [target] = recommend(spec, measured).targets
        assert target.assumptions.cold_start_components == (
            catalogued.assumptions.cold_start_components
        )
        [note] = [n for n in target.notes if "cold-start components" in n]
        assert note == (
            f"cold-start components measured by svai bench on {said} (import_torch_s, "
            "device_s, weights_s, warmup_s) do not apply to 1× T4 16 GB; the catalogued "
            "components are used there"
        )


def _file(tmp_path: Path, cold_start: object) -> Path:
    return measurements_file(tmp_path, cold_start=cold_start, hardware=T4_FILE)


def test_the_file_carries_the_components_with_the_hardware_and_refuses_bad_ones(
    tmp_path: Path,
) -> None:
    # Read back in the recommender's order whatever the file's order.
    good = load_measurements(_file(tmp_path, {"warmup_s": 0.5, "fetch_s": 2.0}), "m-1", "")
    assert good is not None and good.cold_start == MeasuredColdStart(
        (("warmup_s", 0.5), ("fetch_s", 2.0)), T4_1
    )
    nothing = load_measurements(_file(tmp_path, {}), "m-1", "")
    assert nothing is not None and nothing.cold_start is None
    for bad, where in (
        ("fast", "cold_start"),
        ({"weights_s": -1}, "weights_s"),
        ({"weights_s": "1s"}, "weights_s"),
        ({"load_everything_s": 1.0}, "load_everything_s"),
    ):
        with pytest.raises(SpecError) as caught:
            load_measurements(_file(tmp_path, bad), "m-1", "")
        [diag] = caught.value.diagnostics
        assert diag.path == where and diag.line > 0 and diag.col > 0, (bad, diag)


# Lines as the transformers engine and the server write them (a served tiny Llama on CPU), with
# library noise between them.
SERVED_LOG = """\
{"timestamp": 1765000000000, "severity": "INFO", "message": "model fetched", "service": "gpu-chat", "model_version": "v-1", "bytes": 67903, "seconds": 0.0412}
Some weights of LlamaForCausalLM were not initialized from the model checkpoint
{"timestamp": 1765000000100, "severity": "INFO", "message": "engine loaded", "service": "gpu-chat", "model_version": "v-1", "engine": "transformers", "device": "cpu", "import_torch_s": 2.6733, "device_s": 0.0, "weights_s": 0.0207, "assign_s": 0.01, "load_s": 3.1}
{"timestamp": 1765000000200, "severity": "INFO", "message": "engine warm", "service": "gpu-chat", "model_version": "v-1", "warmup_s": 0.1193}
{"timestamp": 1765000009000, "severity": "INFO", "message": "engine warm", "service": "gpu-chat", "model_version": "v-1", "warmup_s": 0.001}
"""


def test_the_runtime_log_gives_the_components_of_the_first_load() -> None:
    assert cold_start_components(SERVED_LOG) == {
        "import_torch_s": 2.6733,
        "device_s": 0.0,
        "weights_s": 0.0207,
        "warmup_s": 0.1193,
        "fetch_s": 0.0412,
    }
    assert cold_start_components('{"message": "model loaded"}\nnot json {\n[1, 2]\n') == {}


def test_the_engines_gpu_is_read_from_its_log_in_the_catalogs_names() -> None:
    line = (
        '{"message": "engine loaded", "device": "cuda", "gpu": "NVIDIA H100 80GB HBM3", '
        '"gpu_memory_bytes": 85520809984, "gpu_count": 1, "import_torch_s": 1.9}'
    )
    assert logged_gpu(f"noise\n{line}\n") == ("NVIDIA H100 80GB HBM3", 85520809984, 1)
    assert logged_gpu(SERVED_LOG) is None  # loaded on the CPU: no GPU to record
    cards = load_catalog().gpu_throughput.cards
    for torch_says, memory, expected in (
        ("NVIDIA H100 80GB HBM3", 85520809984, ("H100", 80.0)),
        ("NVIDIA A100-SXM4-40GB", 42505273344, ("A100", 40.0)),
        ("NVIDIA A100-SXM4-80GB", 85899345920, ("A100", 80.0)),
        ("NVIDIA L4", 24152899584, ("L4", 24.0)),
        ("NVIDIA L40S", 48305799168, ("L40S", 48.0)),  # not the L4
        ("Tesla T4", 15843721216, ("T4", 16.0)),
        ("NVIDIA GeForce RTX 4090", 25757220864, ("NVIDIA GeForce RTX 4090", 24.0)),
    ):
        assert catalog_gpu(torch_says, memory, cards) == expected, torch_says


def test_bench_writes_the_engines_gpu_into_the_hardware(tmp_path: Path) -> None:
    result = BenchResult(
        "v-1", "aws-us-east-1", 2, 1, 3.0, 0.1, 0.1, 0.1, 0.1, 1, 1, 1,
        cold_start=dict(LOGGED), gpu={"name": "T4", "vram_gb": 16.0, "count": 1},
    )  # fmt: skip
    path = tmp_path / "measurements.json"
    write_measurements(path, result, "m-1")
    saved = json.loads(path.read_text())
    assert "gpu" not in saved and saved["hardware"]["gpu"] == {
        "name": "T4",
        "vram_gb": 16.0,
        "count": 1,
    }
    loaded = load_measurements(path, "m-1", "")
    assert loaded is not None and loaded.cold_start is not None
    assert loaded.cold_start.components == LOGGED
    assert loaded.cold_start.hardware is not None and loaded.cold_start.hardware.gpu == "T4"
    plain = BenchResult("v-1", "aws-us-east-1", 2, 1, 3.0, 0.1, 0.1, 0.1, 0.1, 1, 1, 1)
    write_measurements(path, plain, "m-1")
    saved = json.loads(path.read_text())
    assert "cold_start" not in saved and "gpu" not in saved["hardware"]  # as before the fields
