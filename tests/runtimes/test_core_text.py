"""The ONNX text-encoder loader: a real tokenizer and a small embedding model built in the test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from svai.runtime.core import Request

VOCAB = ["[PAD]", "[UNK]", "hello", "world", "serverless", "models", "start", "fast"]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, pre_tokenizers

    root = tmp_path_factory.mktemp("encoder")
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(root / "tokenizer.json"))
    table = np.random.default_rng(0).standard_normal((len(VOCAB), 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"])],
        "embed",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [
            helper.make_tensor_value_info(
                "last_hidden_state", TensorProto.FLOAT, ["batch", "seq", 8]
            )
        ],
        [numpy_helper.from_array(table, "table")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, root / "encoder.onnx")
    return root / "encoder.onnx", root / "tokenizer.json", table


def expected(table: np.ndarray, text: str) -> list[float]:
    ids = [VOCAB.index(w) if w in VOCAB else 1 for w in text.split()]
    v = table[ids].mean(axis=0)
    return (v / np.linalg.norm(v)).tolist()


def test_text_encoder_mean_pools_and_batches_identically(
    encoder: Any, make_artifact: Any, new_service: Any
) -> None:
    model, tokenizer, table = encoder
    cfg = {
        "model": {
            "path": str(model),
            "framework": "onnx-text-encoder",
            "tokenizer": str(tokenizer),
            "version": "enc-v1",
        },
        "batching": {"enabled": True, "max_batch": 4, "max_wait_ms": 1},
    }
    svc = new_service(make_artifact(cfg))
    svc.load()
    try:
        texts = ["hello world", "serverless models start fast", "unknown words here"]
        resp = svc.handle(Request(json.dumps({"inputs": texts}).encode()))
        assert resp.status == 200
        got = json.loads(resp.body)["outputs"]["embeddings"]
        for text, emb in zip(texts, got, strict=True):
            np.testing.assert_allclose(emb, expected(table, text), atol=1e-5)
        # one text alone (no padding) gives the same vector as inside a padded batch
        alone = svc.handle(Request(json.dumps({"inputs": "hello world"}).encode()))
        np.testing.assert_allclose(
            json.loads(alone.body)["outputs"]["embeddings"][0], got[0], atol=1e-6
        )
        bad = svc.handle(Request(json.dumps({"inputs": ["ok", 3]}).encode()))
        assert bad.status == 422 and json.loads(bad.body)["error"]["path"] == "$.inputs[1]"
    finally:
        svc.close()
