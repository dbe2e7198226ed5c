"""Recommendations in tokens: spec targets, GPU memory fit, multi-GPU sizes, TTFT and cold starts."""

from __future__ import annotations

import pytest

from svai.compiler.catalog import load_catalog
from svai.compiler.perf.tokens import SHAPES, memory_fit, shape_for, token_timing
from svai.compiler.recommend import recommend
from svai.compiler.recommendation import to_dict
from svai.errors import SpecError
from svai.spec import load_spec_text, resolve

CATALOG = load_catalog()
LLAMA2_7B = next(s for s in SHAPES if s.name == "Llama-2-7B")
LLAMA3_70B = next(s for s in SHAPES if s.name == "Llama-3-70B")

LLM = """
version: 1
name: chat
model:
  artifact: gs://acme/chat/
  sha256: d866bb035b7c03f94f90a374c44f2a1cd7bf75ad4ca89714ede8915d0d13cade
  framework: transformers
  task: text-generation
  size: {size}
latency: {{p95: {p95}{ttft}}}
traffic: {{pattern: {pattern}, baseline_rps: {rps}, peak_rps: {peak}, idle_hours: {idle},
          tokens: {{prompt: 1024, output: 256, context: {context}}}}}
api: {{timeout: {timeout}}}
gpu: {{required: true}}
targets:
{targets}
"""
EVERY_CLOUD = """  - {cloud: aws, region: us-east-1, runtime: endpoint}
  - {cloud: gcp, region: us-central1, runtime: endpoint}
  - {cloud: azure, region: eastus, runtime: endpoint}"""


def llm_spec(
    size: str,
    targets: str = EVERY_CLOUD,
    ttft: str = "",
    pattern: str = "steady",
    rps: float = 1.0,
    peak: float = 1.0,
    idle: float = 0.0,
    context: int = 4096,
    p95: str = "60s",
    timeout: str = "60s",
) -> str:
    return LLM.format(
        size=size, ttft=f", ttft: {ttft}" if ttft else "", pattern=pattern, rps=rps, peak=peak,
        idle=idle, targets=targets, context=context, p95=p95,
        timeout=timeout,
    )  # fmt: skip


def diagnostics(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec_text(text)
    return [d.render() for d in caught.value.diagnostics]


# ---- memory fit, by hand ---------------------------------------------------------------------
# Llama-2-7B's KV cache: 2 (K, V) × 32 layers × 32 KV heads × 128 dims = 262,144 elements per
# token; 4,096 tokens × 2 requests = 8,192 tokens.
KV_ELEMENTS = 2 * 32 * 32 * 128 * 4096 * 2  # 2,147,483,648


@pytest.mark.parametrize(
    ("dtype", "weights_gb", "kv_gb"),
    [
        ("bf16", 14.0, 4.294967296),  # 2 bytes a weight, 2 a cache element
        ("fp16", 14.0, 4.294967296),
        ("int8", 7.0, 4.294967296),  # weight-only int8 keeps a 16-bit cache
        ("fp8", 7.0, 2.147483648),  # FP8 weights and an FP8 cache
    ],
)
def test_memory_fit_matches_the_hand_computed_sum_per_dtype(
    dtype: str, weights_gb: float, kv_gb: float
) -> None:
    fit = memory_fit(
        params_b=7.0, dtype=dtype, context=4096, concurrency=2, vram_per_gpu_gb=24,
        gpus=1, memory_fraction=0.9, shape=LLAMA2_7B,
    )  # fmt: skip
    assert KV_ELEMENTS * (2 if dtype != "fp8" else 1) / 1e9 == pytest.approx(kv_gb)
    assert fit.weights_gb == pytest.approx(weights_gb)
    assert fit.kv_cache_gb == pytest.approx(kv_gb)
    assert fit.overhead_gb == pytest.approx(1.5)
    assert fit.usable_gb == pytest.approx(21.6)  # 24 GB × 0.9
    assert fit.needed_gb == pytest.approx(weights_gb + kv_gb + 1.5)
    assert fit.fits  # 19.79 GB (16-bit), 12.79 GB (int8), 10.65 GB (fp8) ≤ 21.6 GB


def test_a_16_bit_7b_model_does_not_fit_a_t4_but_int8_does() -> None:
    def on_t4(dtype: str) -> bool:
        return memory_fit(
            params_b=7.0, dtype=dtype, context=4096, concurrency=2, vram_per_gpu_gb=16,
            gpus=1, memory_fraction=0.9, shape=LLAMA2_7B,
        ).fits  # fmt: skip

    assert not on_t4("fp16")  # 19.79 GB > 14.4 GB
    assert on_t4("int8")  # 12.79 GB ≤ 14.4 GB


def test_70b_bf16_needs_four_large_gpus() -> None:
    def fit(vram: float, gpus: int, fraction: float) -> float:
        f = memory_fit(
            params_b=70.6, dtype="bf16", context=4096, concurrency=4, vram_per_gpu_gb=vram,
            gpus=gpus, memory_fraction=fraction, shape=LLAMA3_70B,
        )  # fmt: skip
        return f.needed_gb if f.fits else -f.needed_gb

    # 141.2 GB weights + 2 × 80 × 8 × 128 × 2 B × 16,384 tokens (5.37 GB) + 4 × 1.5 GB.
    assert fit(48, 4, 0.90) == pytest.approx(141.2 + 5.36870912 + 6.0)  # 4× L40S: 172.8 GB
    assert fit(24, 4, 0.90) < 0  # 4× A10G: 86.4 GB
    assert fit(80, 1, 0.92) < 0  # one H100: 73.6 GB


def test_the_kv_shape_is_the_catalogued_one_nearest_in_parameters() -> None:
    assert shape_for(1.1).name == "TinyLlama-1.1B"
    assert shape_for(6.7).name == "Llama-2-7B"
    assert shape_for(8.0).name == "Llama-3-8B"
    assert shape_for(65.0).name == "Llama-3-70B"


def test_token_timing_from_the_card_figures_by_hand() -> None:
    l4 = CATALOG.gpu_throughput.card("L4", 24)
    assert l4 is not None
    fit = memory_fit(
        params_b=1.1, dtype="bf16", context=4096, concurrency=4, vram_per_gpu_gb=24, gpus=1,
        memory_fraction=0.9,
    )  # fmt: skip
    timing = token_timing(fit, l4, CATALOG.gpu_throughput, prompt_tokens=1024)
    # decode: 2.2 GB of weights ÷ (300 GB/s × 0.6); prefill: 2 × 1.1e9 × 1,024 ÷ (121 TF × 0.4).
    tpot = 2.2e9 / (300e9 * 0.6)
    prefill = 2 * 1.1e9 * 1024 / (121e12 * 0.4)
    assert timing.tpot_s == pytest.approx(tpot)
    assert timing.ttft_s == pytest.approx(prefill + tpot)
    assert timing.tokens_per_s == pytest.approx(1 / tpot)
    # Twice the GPUs (tensor parallel) halve both.
    two = memory_fit(
        params_b=1.1, dtype="bf16", context=4096, concurrency=4, vram_per_gpu_gb=24, gpus=2,
        memory_fraction=0.9,
    )  # fmt: skip
    assert token_timing(two, l4, CATALOG.gpu_throughput, 1024).tpot_s == pytest.approx(tpot / 2)


# ---- spec --------------------------------------------------------------------------------------


def test_token_targets_resolve_in_seconds_and_tokens() -> None:
    spec = resolve(load_spec_text(llm_spec("14GB", ttft="800ms")))
    assert spec.latency.ttft_s == pytest.approx(0.8)
    tokens = spec.traffic.tokens
    assert tokens is not None and (tokens.prompt, tokens.output, tokens.context) == (
        1024,
        256,
        4096,
    )


def test_token_targets_outside_text_generation_are_located_errors() -> None:
    text = llm_spec("14GB", ttft="1s").replace("task: text-generation", "task: classification")
    [error] = diagnostics(text)
    assert ":10:" in error and "latency.ttft" in error and "text-generation" in error


def test_a_context_shorter_than_prompt_and_output_is_a_located_error() -> None:
    text = llm_spec("14GB").replace("context: 4096", "context: 1000")
    [error] = diagnostics(text)
    assert ":12:" in error and "traffic.tokens.context" in error and "1024 + 256" in error


def test_a_bare_number_ttft_is_refused_like_other_durations() -> None:
    [error] = diagnostics(llm_spec("14GB", ttft="2"))
    assert "bad-unit" in error and "latency.ttft" in error


# ---- recommendations ---------------------------------------------------------------------------


def test_a_model_that_only_fits_four_gpus_gets_a_multi_gpu_endpoint_on_every_cloud() -> None:
    rec = recommend(resolve(load_spec_text(llm_spec("141.2GB"))))
    assert rec.infeasible == ()
    assert [t.cloud for t in rec.targets] == ["aws", "gcp", "azure"]
    for target in rec.targets:
        assert target.choice.gpu_count >= 4, target.cloud
        g = target.generation
        assert g is not None and g.dtype == "bf16" and g.shape == "Llama-3-70B"
        assert g.weights_gb + g.kv_cache_gb + g.overhead_gb <= g.usable_gb
        for alt in target.alternatives:
            assert "exceeds the 30,720 MB limit" not in (alt.rejected_because or "")
    chosen = {t.cloud: t.choice.instance_type for t in rec.targets}
    # The cheapest size that holds it: 4× L40S, 8× A100 40 GB (4× falls 11 GB short), 4× A100 80 GB.
    assert chosen == {
        "aws": "ml.g6e.12xlarge",
        "gcp": "a2-highgpu-8g",
        "azure": "Standard_NC96ads_A100_v4",
    }


def test_a_model_no_gpu_size_holds_is_refused_with_the_memory_sum() -> None:
    rec = recommend(resolve(load_spec_text(llm_spec("800GB"))))
    assert rec.targets == ()
    for refused in rec.infeasible:
        assert any("no GPU size holds the model" in r and "KV cache" in r for r in refused.reasons)


COLD_GCP = "  - {cloud: gcp, region: us-central1, runtime: container}"
# A 7B model (Llama-2-7B shape) with a 2,048-token context × 4 requests fits one 24 GB L4:
# 13.4 GB + 4.3 GB + 1.5 GB = 19.2 GB of 21.6 GB.
# Rare requests: most start cold (a 163 s start), which a 10-minute p95 allows.
SPIKY_7B = {
    "pattern": "diurnal",
    "rps": 0.0005,
    "peak": 0.002,
    "idle": 8.0,
    "context": 2048,
    "p95": "10min",
    "timeout": "15min",
}


def test_a_7b_model_with_a_ttft_target_gets_a_warm_gpu_and_says_why() -> None:
    without = recommend(resolve(load_spec_text(llm_spec("13.4GB", COLD_GCP, **SPIKY_7B))))
    assert without.targets[0].choice.offering == "gcp.cloudrun.service"
    assert without.targets[0].choice.warm_instances == 0  # cold starts meet the p95 target
    rec = recommend(resolve(load_spec_text(llm_spec("13.4GB", COLD_GCP, ttft="2s", **SPIKY_7B))))
    [target] = rec.targets
    assert target.meets_target
    assert target.choice.warm_instances >= 1
    g = target.generation
    assert g is not None and g.ttft_ms <= 2000
    [note] = [n for n in target.notes if "TTFT target" in n]
    assert "GPU cold start takes" in note and "image_pull_s" in note and "warm instance" in note


def test_the_cold_start_components_carry_the_engine_log_names_in_json() -> None:
    rec = recommend(resolve(load_spec_text(llm_spec("13.4GB", COLD_GCP, ttft="2s", context=2048))))
    data = to_dict(rec.targets[0])
    components = data["assumptions"]["cold_start_components"]
    for name in ("node_start_s", "image_pull_s", "import_torch_s", "device_s", "weights_s"):
        assert name in components
    assert components["weights_s"] == pytest.approx(
        13.4 / CATALOG.gpu_runtime.safetensors_gb_per_s, abs=1e-3
    )
    assert data["generation"]["tokens_per_s"] > 0 and data["generation"]["ttft_ms"] > 0
    cpu = recommend(resolve(load_spec_text(CPU_SPEC)))
    assert "generation" not in to_dict(cpu.targets[0])


CPU_SPEC = """
version: 1
name: tabular
model: {artifact: model.onnx, framework: onnx}
traffic: {pattern: steady, baseline_rps: 1}
targets: [{cloud: aws, region: us-east-1}]
"""


def test_where_l40s_and_h100_are_not_offered_70b_takes_eight_a10g() -> None:
    """regional.yaml: no ml.g6e (L40S) or ml.p5 (H100) in eu-west-1, so 8× A10G (172.8 GB)."""
    target = "  - {cloud: aws, region: eu-west-1, runtime: endpoint}"
    [chosen] = recommend(resolve(load_spec_text(llm_spec("141.2GB", target)))).targets
    assert chosen.choice.instance_type == "ml.g5.48xlarge"
    assert chosen.generation is not None and chosen.generation.gpus == "8× A10G 24 GB"


def test_a_size_that_holds_one_request_but_not_four_is_skipped_with_the_reason() -> None:
    """7B at 4,096 tokens on one L4: 17.0 GB for one request fits 21.6 GB, 23.5 GB for four not."""
    [chosen] = recommend(resolve(load_spec_text(llm_spec("13.4GB", COLD_GCP)))).targets
    assert chosen.choice.offering == "gcp.vertex.endpoint"  # the override cannot hold it
    [cloud_run] = [a for a in chosen.alternatives if a.offering == "gcp.cloudrun.service"]
    assert "4,096-token KV cache per request in flight" in (cloud_run.rejected_because or "")
