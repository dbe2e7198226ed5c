"""Measured cold-start components: the runtime's logged figures replace the catalogued ones on the
same GPUs, each marked; on other hardware the catalog stays and a note says so; the file refuses
bad components with their location; the runtime's log lines are read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from svai.build.start_log import cold_start_components
from svai.compiler.hardware import MeasuredHardware
from svai.compiler.measured_start import CATALOGUED, MEASURED
from svai.compiler.measurements import load_measurements
from svai.compiler.needs import MeasuredColdStart, Measurements
from svai.compiler.recommend import recommend
from svai.errors import SpecError
from svai.spec import load_spec_text, resolve
from svai.spec.resolve import ResolvedSpec
from tests.compiler.test_generation_tokens import llm_spec

AWS = "  - {cloud: aws, region: us-east-1, runtime: endpoint}"
T4_1 = MeasuredHardware("x86_64", 4, "T4", 16.0, 1)
LOGGED = (("import_torch_s", 1.5), ("device_s", 0.25), ("weights_s", 0.75), ("warmup_s", 0.5))
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
    data = {
        "schema_version": 2, "measurement_key": "m-1", "load_time_s": 1.0, "mean_s": 0.1,
        "memory_bytes": 1, "artifact_bytes": 1, "cold_start": cold_start,
        "hardware": {"machine": "x86_64", "cpu_count": 4,
                     "gpu": {"name": "T4", "vram_gb": 16, "count": 1}},
    }  # fmt: skip
    path = tmp_path / "measurements.json"
    path.write_text(json.dumps(data, indent=1))
    return path


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
