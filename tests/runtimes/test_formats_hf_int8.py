"""int8 for Hugging Face folders (#15): checked against the fp32 export, reproducible, served.

Tiny random-weight models from ``hf_models``; the real all-MiniLM-L6-v2 ships int8 in
``tests/sources/test_eval_examples.py`` (3.96x smaller, its cosine gate passes on 100 texts).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import hf_models
import pytest
from formats_helpers import built_dir, serve_once, write_spec

from svai import api

INT8 = "  task: {task}\n  optimize: {{quantize: int8, max_accuracy_drop: 0.02}}\n"


def _build(maker: Any, task: str, root: Path, out: str) -> api._package.BuildResult:
    project = root / "project"
    if not project.exists():
        maker(root / "folder")
        project.mkdir()
        shutil.copytree(root / "folder", project / "model")
    spec = write_spec(project, "model", "transformers", model_extra=INT8.format(task=task))
    return api.build(spec, out_dir=root / out)


@pytest.mark.parametrize(
    ("maker", "task", "metric"),
    [
        (hf_models.text_classifier, "classification", "argmax agreement"),
        (hf_models.sentence_encoder, "embedding", "mean cosine"),
    ],
)
def test_int8_of_a_text_folder_is_scored_against_fp32_and_reproducible(
    maker: Any, task: str, metric: str, tmp_path: Path
) -> None:
    first = _build(maker, task, tmp_path, "a")
    quantization = first.optimisation["quantization"]
    assert quantization["requested"] == "int8" and quantization["metric"] == metric
    assert quantization["fp32_score"] == pytest.approx(1.0)  # fp32 against itself
    assert quantization["int8_score"] is not None and quantization["int8_bytes"] > 0
    folder = built_dir(first)
    shipped = (folder / "model.onnx").read_bytes()
    assert json.loads((folder / "svai_runtime.json").read_text())["model"]["sha256"] == (
        hashlib.sha256(shipped).hexdigest()
    )
    if quantization["chosen"] == "int8":
        assert len(shipped) == quantization["int8_bytes"]
    else:
        assert len(shipped) == quantization["fp32_bytes"]
        assert quantization["verdict"] in ("accuracy_drop", "no_gain")
    second = _build(maker, task, tmp_path, "b")
    again = built_dir(second)
    for name in ("model.onnx", "manifest.json"):
        assert (folder / name).read_bytes() == (again / name).read_bytes()
    served = serve_once(folder, {"inputs": ["a quick check"]})  # the shipped variant serves
    assert served["status"] == 200 and len(served["body"]["outputs"]) == 1


def test_int8_of_a_token_classifier_keeps_fp32_and_says_why(tmp_path: Path) -> None:
    result = _build(hf_models.token_classifier, "other", tmp_path, "a")
    quantization = result.optimisation["quantization"]
    assert quantization["chosen"] == "fp32"
    assert "token-classification folders is not checked" in quantization["message"]
