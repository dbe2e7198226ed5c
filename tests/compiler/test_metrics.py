"""Eval metrics against scikit-learn's, on answers shaped like the runtime's responses."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from svai.compiler.metrics import compute_metric, pick, roc_auc, score_answers
from svai.errors import UsageError
from svai.spec import load_spec_text, resolve
from svai.spec.resolve import ResolvedGates

RNG = np.random.default_rng(3)
LABELS = ["allow", "review", "block"]
EXPECTED = [LABELS[i] for i in RNG.integers(0, 3, 300)]
PREDICTED = [e if RNG.random() < 0.7 else LABELS[RNG.integers(0, 3)] for e in EXPECTED]


def gates(extra: str) -> ResolvedGates:
    text = f"""\
version: 1
name: metrics
model: {{artifact: model.onnx, framework: onnx}}
traffic: {{pattern: steady, baseline_rps: 5}}
rollout: {{gates: {{eval_set: eval.jsonl, {extra}}}}}
targets: [{{cloud: aws, region: us-east-1}}]
"""
    resolved = resolve(load_spec_text(text)).rollout.gates
    assert resolved is not None
    return resolved


@pytest.mark.parametrize(
    ("metric", "reference"),
    [("precision", precision_score), ("recall", recall_score), ("f1", f1_score)],
)
def test_macro_and_positive_class_figures_match_sklearn(metric: str, reference: object) -> None:
    macro = reference(EXPECTED, PREDICTED, average="macro")  # type: ignore[operator]
    assert compute_metric(metric, PREDICTED, EXPECTED) == pytest.approx(macro)
    binary_e = [e == "block" for e in EXPECTED]
    binary_p = [p == "block" for p in PREDICTED]
    block = reference(binary_e, binary_p)  # type: ignore[operator]
    assert compute_metric(metric, PREDICTED, EXPECTED, positive="block") == pytest.approx(block)


def test_roc_auc_matches_sklearn_with_ties() -> None:
    expected = RNG.integers(0, 2, 400)
    scores = np.round(expected * 0.3 + RNG.random(400), 1)  # rounded: many tied scores
    assert roc_auc(scores.tolist(), expected.tolist()) == pytest.approx(
        roc_auc_score(expected, scores)
    )
    named = ["fraud" if e else "ok" for e in expected]
    assert roc_auc(scores.tolist(), named, "fraud") == pytest.approx(
        roc_auc_score(expected, scores)
    )
    with pytest.raises(UsageError, match="both positive and negative"):
        roc_auc([0.1, 0.2], [1, 1])


def test_a_threshold_turns_scores_into_labels_and_reports_the_family() -> None:
    expected = RNG.integers(0, 2, 250).tolist()
    scores = [min(1.0, max(0.0, e * 0.4 + RNG.random() * 0.6)) for e in expected]
    outputs = [{"fraud_probability": s, "decision": "x"} for s in scores]
    g = gates("metric: f1, score: fraud_probability, threshold: 0.5, positive: 1, min: 0.5")
    scored = score_answers(g, outputs, expected)
    labels = [int(s >= 0.5) for s in scores]
    assert scored.samples == 250
    assert set(scored.metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert scored.metrics["f1"] == pytest.approx(f1_score(expected, labels))
    assert scored.metrics["roc_auc"] == pytest.approx(roc_auc_score(expected, scores))


def test_regression_vectors_text_and_scorer() -> None:
    assert score_answers(
        gates("metric: mae, prediction: y, max: 1"), [{"y": 1.5}, {"y": 3}], [1, 2]
    ).metrics == {
        "mae": pytest.approx(0.75),
        "rmse": pytest.approx((0.25 / 2 + 1 / 2) ** 0.5),
    }
    cosine = score_answers(gates("metric: cosine, prediction: embedding, min: 0.9"),
                           [{"embedding": [1, 0]}, {"embedding": [1, 1]}], [[2, 0], [0, 1]])  # fmt: skip
    assert cosine.metrics["cosine"] == pytest.approx((1 + 2**-0.5) / 2)
    text = score_answers(gates("metric: exact_match, prediction: text, min: 0.5"),
                         [{"text": " Paris "}, {"text": "Lyon"}], ["Paris", "Nice"])  # fmt: skip
    assert text.metrics == {"exact_match": 0.5}
    scorer = gates("metric: scorer, scorer: s.py:score, prediction: text, min: 0.5")
    half = score_answers(scorer, [{"text": "ab"}], ["a"], lambda p, e: 0.5)
    assert half.metrics == {"scorer": 0.5}
    with pytest.raises(UsageError, match=r"number in \[0, 1\]"):
        score_answers(scorer, [{"text": "ab"}], ["a"], lambda p, e: 2.0)


def test_paths_into_the_answer_and_their_errors() -> None:
    body = {"labels": [{"name": "cat"}], "score": 0.2}
    assert pick(body, "labels.0.name") == "cat" and pick(body, None) is body
    with pytest.raises(UsageError, match=r"no 'labels\.1\.name'"):
        pick(body, "labels.1.name")
    with pytest.raises(UsageError, match="expected a finite number"):
        score_answers(gates("metric: roc_auc, score: score, min: 0.5"), [{"score": "high"}], [1])


def test_gate_fields_are_checked_with_their_location() -> None:
    from svai.errors import SpecError

    with pytest.raises(SpecError, match="roc_auc ranks a score"):
        gates("metric: roc_auc, min: 0.5")
    with pytest.raises(SpecError, match="threshold"):
        gates("metric: f1, threshold: 0.5, min: 0.5")
    with pytest.raises(SpecError, match="scorer needs"):
        gates("metric: scorer, min: 0.5")
