"""int8 dynamic quantisation: quality gate, automatic fp32 fall-back, honest 'no gain' verdicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from optimize_conftest import digits_split  # noqa: F401  (fixture)
from sklearn.ensemble import RandomForestClassifier
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from svai.build.optimize import (
    Accuracy,
    ArgmaxAgreement,
    MeanCosine,
    convert_tabular,
    count_weights,
    quantize_model,
)


@pytest.fixture(scope="module")
def mlp_onnx(digits_split, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    x_train, y_train, x_test, y_test = digits_split
    # One BLAS thread: on a shared 2-core machine oversubscribed threads make the fit 5x slower.
    with threadpool_limits(1):
        model = MLPClassifier((256, 128), max_iter=300, random_state=0).fit(x_train, y_train)
    folder = tmp_path_factory.mktemp("mlp")
    return convert_tabular(model, x_test, folder / "mlp.onnx"), x_test, y_test


def test_mlp_is_quantized_within_one_point(mlp_onnx, tmp_path: Path) -> None:
    conversion, x_test, y_test = mlp_onnx
    feeds = {"input": x_test.astype(np.float32)}
    result = quantize_model(
        conversion.path,
        tmp_path / "mlp.int8.onnx",
        metric=Accuracy(feeds, y_test),
        feeds=feeds,
        tolerance=0.01,
    )
    assert result.verdict == "quantized", result.message
    assert result.chosen == "int8"
    assert result.path == tmp_path / "mlp.int8.onnx" and result.path.exists()
    assert result.quality_drop is not None and result.quality_drop <= 0.01
    assert result.fp32_score is not None and result.fp32_score > 0.9
    # Sizes are bytes on disk: deterministic, so they can be asserted.
    assert result.int8_bytes == result.path.stat().st_size
    assert result.size_ratio is not None and result.size_ratio > 3.0
    assert result.speed_ratio is not None and result.speed_ratio > 0
    assert "shipping int8" in result.message
    kinds = {node.op_type for node in onnx.load(str(result.path)).graph.node}
    assert "MatMulInteger" in kinds or "DynamicQuantizeMatMul" in kinds
    meta = {p.key: p.value for p in onnx.load(str(result.path)).metadata_props}
    assert meta["svai.quantization"] == "int8-dynamic-per-channel"
    assert meta["svai.task"] == "classification"


def test_drop_over_tolerance_falls_back_to_fp32(mlp_onnx, tmp_path: Path) -> None:
    conversion, x_test, _ = mlp_onnx
    feeds = {"input": x_test.astype(np.float32)}
    target = tmp_path / "strict.int8.onnx"
    # int8 probabilities are never bit-identical to fp32, so a zero tolerance must refuse them.
    result = quantize_model(
        conversion.path, target, metric=MeanCosine(feeds), feeds=feeds, tolerance=0.0
    )
    assert result.verdict == "accuracy_drop"
    assert result.chosen == "fp32"
    assert result.path == conversion.path
    assert not target.exists()
    assert result.quality_drop is not None and result.quality_drop > 0.0
    assert result.message.startswith("kept fp32: the int8 quality drop exceeds the tolerance")


def test_no_gain_is_reported_not_claimed(mlp_onnx, tmp_path: Path) -> None:
    conversion, x_test, _ = mlp_onnx
    feeds = {"input": x_test.astype(np.float32)}
    # Thresholds no int8 model can meet: the verdict must be 'no gain', never a claimed win.
    result = quantize_model(
        conversion.path,
        tmp_path / "x.onnx",
        metric=ArgmaxAgreement(feeds),
        feeds=feeds,
        min_size_ratio=100.0,
        min_speed_ratio=100.0,
    )
    assert result.verdict == "no_gain"
    assert result.chosen == "fp32"
    assert "gains nothing" in result.message


def test_tree_ensemble_has_nothing_to_quantize(digits_split, tmp_path: Path) -> None:  # noqa: F811
    x_train, y_train, x_test, y_test = digits_split
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(x_train, y_train)
    conversion = convert_tabular(model, x_test, tmp_path / "rf.onnx")
    feeds = {"input": x_test.astype(np.float32)}
    result = quantize_model(
        conversion.path, tmp_path / "rf.int8.onnx", metric=Accuracy(feeds, y_test), feeds=feeds
    )
    assert result.verdict == "nothing_to_quantize"
    assert result.chosen == "fp32" and result.path == conversion.path
    assert not (tmp_path / "rf.int8.onnx").exists()
    assert "tree ensemble" in result.message and "gains nothing" in result.message
    assert result.census.quantizable == 0
    assert result.census.dominant_op == "TreeEnsembleClassifier"


def _tiny_cnn(path: Path) -> None:
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(size=(8, 1, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(size=(4, 8, 3, 3)).astype(np.float32), "w2")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w1"], ["h"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("Conv", ["r", "w2"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("GlobalAveragePool", ["c"], ["p"]),
            helper.make_node("Flatten", ["p"], ["logits"]),
        ],
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 4])],
        initializer=[w1, w2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_convolution_only_graph_is_detected(digits_split, tmp_path: Path) -> None:  # noqa: F811
    _tiny_cnn(tmp_path / "cnn.onnx")
    images = digits_split[2][:32].reshape(-1, 1, 8, 8).astype(np.float32)
    feeds = {"x": images}
    result = quantize_model(
        tmp_path / "cnn.onnx",
        tmp_path / "cnn.int8.onnx",
        metric=ArgmaxAgreement(feeds),
        feeds=feeds,
    )
    assert result.verdict == "nothing_to_quantize"
    assert "convolution" in result.message
    assert result.census.by_op == {"Conv": 8 * 9 + 4 * 8 * 9}


def test_quantization_is_byte_stable(mlp_onnx, tmp_path: Path) -> None:
    conversion, x_test, y_test = mlp_onnx
    feeds = {"input": x_test.astype(np.float32)}
    paths = []
    for name in ("a.onnx", "b.onnx"):
        result = quantize_model(
            conversion.path, tmp_path / name, metric=Accuracy(feeds, y_test), feeds=feeds, repeats=1
        )
        assert result.chosen == "int8"
        paths.append(result.path)
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_count_weights_by_op(mlp_onnx) -> None:
    conversion, _, _ = mlp_onnx
    census = count_weights(onnx.load(str(conversion.path)))
    # 64 -> 256 -> 128 -> 10 dense layers.
    assert census.by_op["MatMul"] == 64 * 256 + 256 * 128 + 128 * 10
    assert census.speedable == census.by_op["MatMul"]
