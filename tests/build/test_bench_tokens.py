"""``svai bench`` on a text-generation package streams chat completions and records token timings.

The tiny random-weight Llama folder (``tests/fixtures/sources/support-llm``) built for a GPU
target (a SageMaker endpoint) with ``model.engine: transformers``, benched on this machine's CPU
(``SVAI_ENGINE_DEVICE=cpu``): the package's own server streams ``POST /v1/chat/completions``
to the bench's HTTP client, which records warm TTFT, time per output token and the prompt
tokens the server counted. ``svai recommend`` keeps the catalogued GPU figures and says why
(measured without a GPU); the same file, as a bench on that GPU would write it, puts the
measured timings in, marked. No timing is asserted beyond sanity: > 0, finite, and the
arithmetic that ties the figures to the requests' chunks and tokens.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
from pathlib import Path
from typing import Any

import pytest

from svai.compiler.measurements import load_measurements, measurements_document
from svai.compiler.perf.tokens import measured_timing
from svai.errors import SpecError
from tests.build.test_gpu_packages import LLAMA
from tests.test_cli_runtime import run_cli

pytest.importorskip("transformers")

PROMPT, OUTPUT = 64, 16
SPEC = f"""\
version: 1
name: gpu-chat
model:
  artifact: model/
  framework: transformers
  task: text-generation
  engine: transformers
latency: {{p95: 5s, ttft: 2s, tpot: 50ms}}
api: {{timeout: 60s}}
traffic:
  pattern: steady
  baseline_rps: 1
  tokens: {{prompt: {PROMPT}, output: {OUTPUT}, context: 256}}
gpu: {{required: true, memory: 16GB}}
targets:
  - {{cloud: aws, region: us-east-1, runtime: endpoint}}
"""


def _recommend(spec: Path) -> Any:
    """The first target of ``svai recommend --format json``."""
    code, output = run_cli("recommend", str(spec), "--format", "json")
    assert code == 0, output
    return json.loads(output)["targets"][0]


def _finite_positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def test_bench_streams_token_timings_that_recommend_uses_only_on_the_same_gpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(LLAMA, tmp_path / "model")
    spec = tmp_path / "svai.yaml"
    spec.write_text(SPEC)
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"inputs": "hello world"}))
    monkeypatch.setenv("SVAI_ENGINE_DEVICE", "cpu")  # the package asks for CUDA; none here
    code, output = run_cli("build", str(spec))
    assert code == 0, output
    # A path that buffers answers builds its package with streams refused to its callers; the
    # bench streams anyway: the timings are the model's on this hardware.
    [config] = (tmp_path / ".svai" / "build").glob("gpu-chat/*/aws-us-east-1/svai_runtime.json")
    built = json.loads(config.read_text())
    config.write_text(
        json.dumps({**built, "generation": {**built["generation"], "streaming": False}})
    )
    code, output = run_cli(
        "bench", str(spec), "--payload", str(payload), "--requests", "1",
        "--token-requests", "3", "--format", "json",
    )  # fmt: skip
    assert code == 0, output
    result = json.loads(output)
    assert json.loads(config.read_text())["generation"]["streaming"] is False
    tokens = result["tokens"]
    samples = tokens["samples"]
    assert len(samples) == tokens["requests"] == 3
    for sample in samples:
        assert _finite_positive(sample["ttft_s"]) and sample["decode_s"] >= 0
        # A chunk carries one token or more (or a partial character): never more chunks.
        assert 2 <= sample["chunks"] <= sample["output_tokens"] <= OUTPUT
        assert sample["prompt_tokens"] > 0
    assert sum(s["chunks"] for s in samples) == tokens["chunks"]
    # TPOT is each request's decode time over its tokens after the first, the median taken.
    per_token = [s["decode_s"] / (s["output_tokens"] - 1) for s in samples]
    assert tokens["tpot_s"] == pytest.approx(statistics.median(per_token))
    assert tokens["ttft_s"] == pytest.approx(statistics.median(s["ttft_s"] for s in samples))
    assert _finite_positive(tokens["ttft_s"]) and _finite_positive(tokens["tpot_s"])
    # The prompt was sized to the spec's tokens; the figure kept is what the server counted.
    assert tokens["prompt_tokens"] == statistics.median(s["prompt_tokens"] for s in samples)
    assert abs(tokens["prompt_tokens"] - PROMPT) <= 4
    assert tokens["ttft_p95_s"] is None  # 3 requests give no p95 worth stating
    assert "measured without a GPU" in result["tokens_note"]

    # The file holds the figures with the hardware, and its own validator reads them back.
    path = tmp_path / ".svai" / "measurements.json"
    saved = json.loads(path.read_text())
    assert "gpu" not in saved["hardware"]
    for name in ("ttft_s", "tpot_s", "prompt_tokens", "output_tokens", "token_requests"):
        assert saved[name] == tokens[name if name != "token_requests" else "requests"], name
    assert "samples" not in saved and "tokens" not in saved
    read = load_measurements(path, saved["measurement_key"], saved["model_version"])
    assert read is not None and read.tokens is not None
    assert read.tokens.hardware is not None and read.tokens.hardware.gpu is None

    # Measured on CPU: the GPU size keeps the catalogued figures, and says why.
    target = _recommend(spec)
    generation, choice = target["generation"], target["choice"]
    assert generation["basis"].startswith("catalogued GPU figures")
    gpus = f"1× {choice['gpu']}"
    [note] = [n for n in target["notes"] if n.startswith("token timings measured by svai bench")]
    assert f"do not apply to {gpus}" in note and "(measured without a GPU" in note, note

    # As a bench on the chosen size's GPU records it: the measured timings replace the card's.
    vram = float(note.split(f"do not apply to {gpus} ", 1)[1].split(" GB")[0])
    saved["hardware"]["gpu"] = {"name": choice["gpu"], "vram_gb": vram, "count": 1}
    path.write_text(json.dumps(saved, indent=2))
    target = _recommend(spec)
    generation = target["generation"]
    assert generation["basis"] == f"measured by svai bench on {gpus} {vram:g} GB"
    expected = measured_timing(
        saved["ttft_s"], saved["tpot_s"], saved["prompt_tokens"], PROMPT, choice["gpu"], ""
    )
    assert generation["tpot_ms"] == pytest.approx(saved["tpot_s"] * 1000)
    assert generation["ttft_warm_ms"] == pytest.approx(expected.ttft_s * 1000)
    assert not [n for n in target["notes"] if n.startswith("token timings measured")]


@pytest.mark.parametrize(
    ("fields", "where", "says"),
    [
        ({"ttft_s": math.nan}, "ttft_s", "not a number svai accepts"),
        ({"ttft_s": -0.1}, "ttft_s", "finite and >= 0"),
        ({"ttft_s": 0}, "ttft_s", "> 0"),
        ({"prompt_tokens": 0}, "prompt_tokens", "> 0"),
        ({"prompt_tokens": 63.5}, "prompt_tokens", "whole number"),
        ({"tpot_s": "fast"}, "tpot_s", "must be a number"),
        ({"output_tokens": -3}, "output_tokens", "finite and >= 0"),
        ({"token_requests": 2.5}, "token_requests", "whole number"),
        ({"ttft_p95_s": math.inf}, "ttft_p95_s", "not a number svai accepts"),
        ({"tpot_s": None}, "ttft_s", "token timings need tpot_s too"),
    ],
)
def test_bad_or_missing_token_figures_are_refused_where_they_are(
    tmp_path: Path, fields: dict[str, Any], where: str, says: str
) -> None:
    figures = {
        "load_time_s": 1.0, "mean_s": 0.1, "memory_bytes": 1, "artifact_bytes": 1,
        "ttft_s": 0.05, "tpot_s": 0.002, "prompt_tokens": 64, "output_tokens": 16,
        "token_requests": 20, "ttft_p95_s": 0.07,
    }  # fmt: skip
    figures.update(fields)
    figures = {k: v for k, v in figures.items() if v is not None}
    document = measurements_document(figures, "m-1", {"machine": "x86_64", "cpu_count": 2})
    path = tmp_path / "measurements.json"
    path.write_text(json.dumps(document, indent=2))  # NaN and Infinity as JSON's extensions
    with pytest.raises(SpecError) as caught:
        load_measurements(path, "m-1", "")
    [diag] = caught.value.diagnostics
    assert says in diag.message, diag
    assert diag.line > 0 and diag.col > 0, diag
    line = path.read_text().splitlines()[diag.line - 1]
    assert (where in line) if diag.path else ("NaN" in line or "Infinity" in line), (diag, line)
