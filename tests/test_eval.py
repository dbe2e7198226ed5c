"""`svai eval` on the fraud example through its built artifact, and promote blocked by a worse model.

The example's model and eval set come from its train.py (400 transactions held out of training);
here the served answers are checked against the model run directly, and a model trained on
shuffled labels is swapped in to show that the release gate computes its metric and refuses it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "fraud-sklearn"


def svai(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "svai.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "fraud"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".svai", "__pycache__"))
    return folder


def features(folder: Path) -> tuple[np.ndarray, list[int]]:
    sys.path.insert(0, str(folder))
    try:
        from src.features import prepare  # the example's own serving hook
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("src.features", None)
        sys.modules.pop("src", None)
    lines = [
        json.loads(line) for line in (folder / "eval" / "holdout.jsonl").read_text().splitlines()
    ]
    rows = np.array([prepare(line["input"])["inputs"][0] for line in lines], dtype=np.float32)
    return rows, [line["expected"] for line in lines]


def test_eval_reports_the_metrics_of_the_model_as_served(project: Path) -> None:
    done = svai("eval", "svai.yaml", "--format", "json", cwd=project)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    rows, expected = features(project)
    session = ort.InferenceSession(str(project / "model" / "model.onnx"))
    probabilities = session.run(None, {session.get_inputs()[0].name: rows})[1][:, 1]
    direct = f1_score(expected, (probabilities >= 0.5).astype(int))
    assert result["samples"] == 400 and result["metric"] == "f1"
    assert result["metrics"]["f1"] == pytest.approx(direct, abs=1e-9)
    assert set(result["metrics"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert result["gate"]["passed"] and result["fallbacks"] == 0
    saved = json.loads((project / ".svai" / "eval.json").read_text())
    assert saved["model_version"] == result["model_version"] and saved["samples"] == 400


def test_promote_computes_the_metric_and_blocks_a_worse_model(project: Path) -> None:
    # Release the example's model (the first deployment takes all traffic)...
    first = svai("promote", "svai.yaml", "--state-only", cwd=project)
    assert first.returncode == 0, first.stdout + first.stderr
    # ...then train a model on shuffled labels: same features, no signal.
    rows, expected = features(project)
    shuffled = np.random.default_rng(0).permutation(expected)
    worse = GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0).fit(
        rows, shuffled
    )
    onnx = to_onnx(worse, rows[:1], options={id(worse): {"zipmap": False}})
    (project / "model" / "model.onnx").write_bytes(onnx.SerializeToString())
    # No evidence file names the new version: promote runs the eval set itself.
    done = svai("promote", "svai.yaml", "--state-only", cwd=project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "is not released" in done.stdout
    line = next(line for line in done.stdout.splitlines() if "gate f1" in line)
    observed = float(line.rsplit("observed ", 1)[1])
    assert observed < 0.7 and "✗" in line
    state = json.loads(next((project / ".svai" / "releases").glob("*.json")).read_text())
    assert state["status"] == "complete"  # the good version still serves everything


def test_too_few_eval_lines_hold_the_release(project: Path) -> None:
    holdout = project / "eval" / "holdout.jsonl"
    holdout.write_text("".join(holdout.read_text().splitlines(keepends=True)[:50]))
    done = svai("eval", "svai.yaml", cwd=project)
    assert done.returncode == 1
    assert "gate samples 50 (needs >= 200): holds" in done.stdout


def test_eval_without_gates_or_answers_is_a_usage_error(project: Path) -> None:
    spec = project / "svai.yaml"
    spec.write_text(
        spec.read_text().replace(
            "    eval_set: eval/holdout.jsonl", "    eval_set: eval/none.jsonl"
        )
    )
    (project / "eval" / "none.jsonl").write_text('{"input": {"transaction": {}}}\n')
    done = svai("eval", "svai.yaml", cwd=project)
    assert done.returncode == 2 and "line 1 has no `expected` answer" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_llm_example_is_refused_with_its_reason_before_anything_is_built(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "llm"
    shutil.copytree(ROOT / "examples" / "llm-gpu", folder)
    done = svai("eval", "svai.yaml", cwd=folder)  # vLLM serves on a CUDA GPU, in its image
    assert done.returncode == 2, done.stdout + done.stderr
    assert "its engine is vLLM" in done.stderr and "--endpoint" in done.stderr
    assert "model.engine: transformers" in done.stderr
    assert not (folder / ".svai").exists()  # nothing fetched, nothing built, no evidence
    spec = folder / "svai.yaml"
    text = spec.read_text()
    spec.write_text(text[: text.index("  gates:")] + text[text.index("\nsecurity:") :])
    done = svai("eval", "svai.yaml", cwd=folder)
    assert done.returncode == 2 and "svai eval needs rollout.gates" in done.stderr
