"""Measurements keyed by hardware: token timings replace the card figures only on the same GPUs,
other hardware is flagged, the TTFT p95 mixes waits over the request groups, and the 40 GB A100
gets its own engine settings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from svai import api
from svai.build.gpu import profile
from svai.compiler.catalog import Size, load_catalog
from svai.compiler.hardware import MeasuredHardware, mismatch, same_gpus
from svai.compiler.measurements import load_measurements
from svai.compiler.needs import MeasuredTokens, Measurements
from svai.compiler.perf.latency import Component, fixed_time_quantile
from svai.compiler.perf.tokens import measured_timing
from svai.compiler.recommend import recommend
from svai.compiler.version import measurement_key
from svai.errors import SpecError
from svai.spec import load_spec_text, resolve
from tests.compiler.test_generation_tokens import CPU_SPEC, llm_spec

L4 = Size(memory_mb=16384, vcpu=4.0, gpu="L4", gpu_count=1)
CPU2 = Size(memory_mb=4096, vcpu=2.0)
AWS = "  - {cloud: aws, region: us-east-1, runtime: endpoint}"
T4_1 = MeasuredHardware("x86_64", 4, "T4", 16.0, 1)


def test_a_measurement_on_other_hardware_is_named_and_a_match_is_not() -> None:
    laptop = MeasuredHardware("x86_64", 16)
    assert mismatch(laptop, CPU2, None) == "measured on 16 CPUs; the size has 2 vCPU"
    assert mismatch(MeasuredHardware("x86_64", 2), CPU2, None) is None
    assert mismatch(MeasuredHardware("x86_64", 1), CPU2, None) is None  # fewer: conservative
    assert mismatch(MeasuredHardware("arm64", 2), CPU2, None) == (
        "measured on arm64; the target runs x86_64"
    )
    assert mismatch(None, CPU2, None) is not None
    assert mismatch(laptop, L4, 24.0) == "measured without a GPU; the size has 1× L4 24 GB"
    assert mismatch(MeasuredHardware("x86_64", 4, "L4", 24.0, 1), L4, 24.0) is None
    assert mismatch(MeasuredHardware("x86_64", 4, "L4", 24.0, 2), L4, 24.0) == (
        "measured on 2× L4 24 GB; the size has 1× L4 24 GB"
    )
    a100 = Size(memory_mb=1, vcpu=1, gpu="A100", gpu_count=1)
    assert not same_gpus(MeasuredHardware("x86_64", 1, "A100", 80.0, 1), a100, 40.0)
    assert same_gpus(MeasuredHardware("x86_64", 1, "a100", 40.0, 1), a100, 40.0)


def test_measured_token_timings_replace_the_card_figures_only_on_the_same_gpus() -> None:
    spec = resolve(load_spec_text(llm_spec("2.2GB", AWS, ttft="2s")))
    catalogued = recommend(spec).targets[0]
    assert catalogued.choice.gpu == "T4"
    g0 = catalogued.generation
    assert g0 is not None and g0.basis.startswith("catalogued GPU figures, unverified")
    tokens = MeasuredTokens(ttft_s=0.150, tpot_s=0.020, prompt_tokens=512, hardware=T4_1)
    measured = Measurements(hardware=T4_1, tokens=tokens)
    g = recommend(spec, measured).targets[0].generation
    assert g is not None and g.basis == "measured by svai bench on 1× T4 16 GB"
    assert g.tpot_ms == pytest.approx(20.0)
    # Prefill scales with the prompt: (150 - 20) ms at 512 tokens -> 260 ms at the spec's 1024.
    assert g.ttft_warm_ms == pytest.approx(260.0 + 20.0)
    elsewhere = MeasuredHardware("x86_64", 8, "H100", 80.0, 1)
    other = MeasuredTokens(0.150, 0.020, 512, elsewhere)
    target = recommend(spec, Measurements(hardware=elsewhere, tokens=other)).targets[0]
    assert target.generation is not None and target.generation.basis == g0.basis
    assert any("measured by svai bench on x86_64, 8 CPUs, 1× H100 80 GB do not apply" in n
               for n in target.notes)  # fmt: skip


def test_an_inference_time_measured_on_a_bigger_machine_is_flagged() -> None:
    spec = resolve(load_spec_text(CPU_SPEC))
    laptop = Measurements(inference_time_s=0.002, hardware=MeasuredHardware("x86_64", 64))
    [target] = recommend(spec, laptop).targets
    [note] = [n for n in target.notes if "other hardware" in n]
    assert "inference time measured by svai bench" in note and "measured on 64 CPUs" in note
    matching = Measurements(inference_time_s=0.002, hardware=MeasuredHardware("x86_64", 1))
    assert not [n for n in recommend(spec, matching).targets[0].notes if "other hardware" in n]


def _file(tmp_path: Path, **fields: object) -> Path:
    data = {
        "schema_version": 2, "measurement_key": "m-1", "load_time_s": 1.0, "mean_s": 0.1,
        "memory_bytes": 1, "artifact_bytes": 1,
        "hardware": {"machine": "x86_64", "cpu_count": 8,
                     "gpu": {"name": "L4", "vram_gb": 24, "count": 1}},
        **fields,
    }  # fmt: skip
    path = tmp_path / "measurements.json"
    path.write_text(json.dumps(data, indent=1))
    return path


def test_the_file_carries_token_timings_and_gpus_and_refuses_bad_ones(tmp_path: Path) -> None:
    good = load_measurements(_file(tmp_path, ttft_s=0.2, tpot_s=0.01, prompt_tokens=128), "m-1", "")
    assert good is not None and good.tokens is not None
    assert good.tokens.hardware == MeasuredHardware("x86_64", 8, "L4", 24.0, 1)
    for bad, where in (
        ({"ttft_s": 0.2}, "ttft_s"),
        ({"ttft_s": 0.2, "tpot_s": 0, "prompt_tokens": 1}, "tpot_s"),
        ({"hardware": {"machine": "x86_64", "gpu": {"name": "L4", "vram_gb": -1, "count": 1}}},
         "vram_gb"),
        ({"hardware": {"machine": "x86_64", "gpu": {"name": "L4", "vram_gb": 24, "count": 0}}},
         "count"),
        ({"hardware": "laptop"}, "hardware"),
    ):  # fmt: skip
        with pytest.raises(SpecError) as caught:
            load_measurements(_file(tmp_path, **bad), "m-1", "")
        [diag] = caught.value.diagnostics
        assert diag.path == where and diag.line > 0, (bad, diag)


def test_ttft_p95_is_the_mixture_quantile_of_the_waits() -> None:
    # 70% of requests never wait, 30% wait Exp(rate 2/s): P(TTFT - 0.1 > x) = 0.3 e^{-2x}.
    comps = [Component(1.0, 0.0, wait_prob=0.3, wait_rate=2.0)]
    expected = 0.1 + math.log(0.3 / 0.05) / 2.0
    assert fixed_time_quantile(comps, 0.1, 0.95) == pytest.approx(expected, rel=1e-6)
    # Below 5% waiting the p95 does not wait at all (the old ln(20) x mean wait said it did).
    assert fixed_time_quantile([Component(1.0, 0.0, 0.04, 2.0)], 0.1, 0.95) == pytest.approx(0.1)
    # A cold group of 10% with a 30 s shift is in the p95; one of 4% is not.
    cold = [Component(0.9, 0.0), Component(0.1, 30.0)]
    assert fixed_time_quantile(cold, 0.1, 0.95) == pytest.approx(30.1)
    assert fixed_time_quantile([Component(0.96, 0.0), Component(0.04, 30.0)], 0.1, 0.95) == (
        pytest.approx(0.1)
    )
    # Against samples of the same mixture.
    rng = np.random.default_rng(0)
    waits = np.where(rng.random(200_000) < 0.3, rng.exponential(0.5, 200_000), 0.0)
    assert fixed_time_quantile(comps, 0.1, 0.95) == pytest.approx(
        0.1 + float(np.quantile(waits, 0.95)), rel=0.02
    )


def test_measured_timing_scales_only_the_prefill() -> None:
    t = measured_timing(0.11, 0.01, 100, 300, "L4", "1× L4 24 GB")
    assert (t.ttft_s, t.tpot_s, t.measured_on) == (pytest.approx(0.31), 0.01, "1× L4 24 GB")


def test_the_40_gb_a100_gets_a_40_gb_profile() -> None:
    assert profile("A100", 40).vram_gb == 40
    assert profile("A100", 40).max_model_len == 4096
    assert profile("A100", 80).vram_gb == 80 and profile("A100", 80).max_model_len == 8192
    assert profile("A100").vram_gb == 80  # unknown memory: the flavour's first listed size
    card = load_catalog().gpu_throughput.card("A100", 40)
    assert card is not None and profile("A100", 40).gpu_memory_utilization == card.memory_fraction


def test_a_measured_gpu_file_reaches_the_recommendation(tmp_path: Path) -> None:
    spec_path = tmp_path / "svai.yaml"
    spec_path.write_text(llm_spec("2.2GB", AWS, ttft="2s"))
    loaded = api.validate(spec_path)
    assert api.measurements(loaded).tokens is None  # no file: nothing measured
    key = measurement_key(loaded.resolved, loaded.base_dir)
    saved = tmp_path / ".svai" / "measurements.json"
    saved.parent.mkdir()
    saved.write_text(_file(tmp_path, measurement_key=key, ttft_s=0.15, tpot_s=0.02,
                           prompt_tokens=512, hardware={"machine": "x86_64", "cpu_count": 4,
                           "gpu": {"name": "T4", "vram_gb": 16, "count": 1}}).read_text())  # fmt: skip
    _, rec = api.recommend(spec_path)
    g = rec.targets[0].generation
    assert g is not None and g.basis == "measured by svai bench on 1× T4 16 GB"


def test_the_unverified_catalog_figures_behind_a_prediction_are_listed() -> None:
    spec = resolve(load_spec_text(llm_spec("2.2GB", AWS, ttft="2s")))
    [target] = recommend(spec).targets
    marks = {m.path for m in load_catalog().get(target.choice.offering).unverified}
    assert any(p.startswith("cold_start.node_start_s") for p in marks)
    assert "node start" in target.assumptions.unverified
    assert "GPU datasheet figures" in target.assumptions.unverified
    tokens = MeasuredTokens(0.150, 0.020, 512, T4_1)
    [measured] = recommend(spec, Measurements(hardware=T4_1, tokens=tokens)).targets
    assert "GPU datasheet figures" not in measured.assumptions.unverified
    assert "node start" in measured.assumptions.unverified
