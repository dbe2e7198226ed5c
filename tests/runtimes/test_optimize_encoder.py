"""Real all-MiniLM-L6-v2 -> ONNX (+ int8): same embeddings as sentence-transformers, byte-stable."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from optimize_conftest import (  # noqa: F401  (fixtures)
    PARAPHRASES,
    SENTENCES,
    minilm_dir,
    minilm_export,
)

from svai.build.optimize import (
    OnnxSentenceEncoder,
    UnsupportedModelError,
    export_sentence_encoder,
    quantize_encoder,
)


@pytest.fixture(scope="module")
def reference(minilm_dir: Path) -> np.ndarray:  # noqa: F811
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_dir), device="cpu")
    return np.asarray(model.encode(list(SENTENCES), normalize_embeddings=False))


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_onnx_matches_sentence_transformers(minilm_export, reference: np.ndarray) -> None:  # noqa: F811
    encoder = OnnxSentenceEncoder(minilm_export.directory)
    batch = encoder.encode(SENTENCES)  # padded batch of mixed lengths
    assert batch.shape == (len(SENTENCES), 384)
    assert _cosines(batch, reference).min() >= 0.999
    # Normalisation is in the graph (modules.json has Normalize) ...
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    # ... and padding does not leak into mean pooling: one sentence alone gives the same vector.
    alone = encoder.encode([SENTENCES[6]])
    assert float(_cosines(alone, batch[6:7])[0]) >= 0.99999
    assert minilm_export.min_cosine is not None and minilm_export.min_cosine >= 0.999


def test_export_folder_contents(minilm_export) -> None:  # noqa: F811
    folder = minilm_export.directory
    assert sorted(p.name for p in folder.iterdir()) == [
        "encoder.json",
        "model.onnx",
        "tokenizer.json",
    ]
    model = onnx.load(str(minilm_export.model_path))
    assert [i.name for i in model.graph.input] == ["input_ids", "attention_mask"]
    assert [o.name for o in model.graph.output] == ["embedding"]
    kinds = {node.op_type for node in model.graph.node}
    assert "Attention" in kinds  # fused by onnxruntime's transformer optimizer
    # Long inputs are truncated at max_seq_length (256) rather than failing.
    encoder = OnnxSentenceEncoder(folder)
    feeds = encoder.tokenize(["word " * 600])
    assert feeds["input_ids"].shape == (1, 256)


def test_export_is_byte_identical(minilm_dir: Path, minilm_export, tmp_path: Path) -> None:  # noqa: F811
    again = export_sentence_encoder(minilm_dir, tmp_path / "again")
    for name in ("model.onnx", "tokenizer.json", "encoder.json"):
        assert (tmp_path / "again" / name).read_bytes() == (
            minilm_export.directory / name
        ).read_bytes(), name
    assert again.sha256 == minilm_export.sha256


def test_int8_keeps_quality_and_shrinks(minilm_export, tmp_path: Path) -> None:  # noqa: F811
    result = quantize_encoder(minilm_export, SENTENCES, tolerance=0.01, repeats=3)
    assert result.verdict == "quantized", result.message
    assert result.size_ratio is not None and result.size_ratio >= 3.9
    assert result.quality_drop is not None and result.quality_drop <= 0.01
    fp32 = OnnxSentenceEncoder(minilm_export.directory).encode(SENTENCES)
    int8 = OnnxSentenceEncoder(minilm_export.directory, result.path.name).encode(SENTENCES)
    assert _cosines(fp32, int8).min() >= 0.98
    # STS-style sanity: every query still finds its paraphrase first, as fp32 does.
    for embeddings in (fp32, int8):
        similarity = embeddings @ embeddings.T
        np.fill_diagonal(similarity, -1.0)
        for query, paraphrase in PARAPHRASES:
            assert int(np.argmax(similarity[query])) == paraphrase
    # ... and the pairwise similarity ranking is preserved (Spearman on the upper triangle).
    upper = np.triu_indices(len(SENTENCES), k=1)
    ranks = [np.argsort(np.argsort((e @ e.T)[upper])) for e in (fp32, int8)]
    spearman = np.corrcoef(ranks[0], ranks[1])[0, 1]
    assert spearman >= 0.97
    result.path.unlink()


def test_serving_path_needs_no_torch(minilm_export) -> None:  # noqa: F811
    script = textwrap.dedent(
        f"""
        import sys
        from svai.build.optimize.encoder import OnnxSentenceEncoder
        vector = OnnxSentenceEncoder({str(minilm_export.directory)!r}).encode(["hello world"])
        assert vector.shape == (1, 384)
        print(sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    )
    assert done.stdout.strip() == "[]"


def test_non_mean_pooling_is_refused(minilm_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    import shutil

    copy = tmp_path / "cls"
    shutil.copytree(minilm_dir, copy, ignore=shutil.ignore_patterns("model.safetensors"))
    pooling = copy / "1_Pooling" / "config.json"
    pooling.write_text(
        pooling.read_text().replace(
            '"pooling_mode_cls_token": false', '"pooling_mode_cls_token": true'
        )
    )
    with pytest.raises(UnsupportedModelError, match="mean pooling"):
        export_sentence_encoder(copy, tmp_path / "out")
