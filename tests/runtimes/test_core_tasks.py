"""The I/O contract in the core: both request forms everywhere, task answers, task input errors."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from svai.runtime.core import Request, Service, parse_config
from svai.runtime.core.errors import ConfigError, InvalidInputError
from svai.runtime.core.images import MAX_PIXELS, ImageProcessor, decode_images

LABELS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@pytest.fixture
def classifier(make_artifact: Callable[..., Path], new_service: Callable[..., Service]) -> Service:
    """The digits forest served with the classification contract and named classes."""
    service = new_service(make_artifact({"model": {"task": "classification", "labels": LABELS}}))
    service.load()
    return service


def test_both_request_forms_get_the_same_labelled_answers(
    classifier: Service, digits: Any, to_rows: Callable[[np.ndarray], list[list[float]]]
) -> None:
    rows = to_rows(digits.x_test[:3])
    by_inputs = json.loads(classifier.handle(Request(json.dumps({"inputs": rows}).encode())).body)
    by_instances = json.loads(
        classifier.handle(Request(json.dumps({"instances": rows}).encode())).body
    )
    assert by_inputs["outputs"] == by_instances["predictions"]
    for answer, label, probas in zip(
        by_inputs["outputs"], digits.labels[:3], digits.probas[:3], strict=True
    ):
        assert answer["label"] == LABELS[label]
        assert answer["score"] == pytest.approx(float(np.max(probas)), abs=1e-5)
        assert list(answer["scores"]) == LABELS


def test_queue_jobs_take_instances_too(
    classifier: Service, digits: Any, to_rows: Callable[[np.ndarray], list[list[float]]]
) -> None:
    rows = to_rows(digits.x_test[:2])
    one = classifier.predict({"inputs": rows}).outputs
    assert classifier.predict({"instances": rows}).outputs == one
    assert [a["label"] for a in one] == [LABELS[i] for i in digits.labels[:2]]


def test_a_forced_protocol_still_holds(classifier: Service) -> None:
    body = json.dumps({"instances": [[0.0] * 64]}).encode()
    answer = classifier.handle(Request(body, protocol="svai"))
    assert answer.status == 422 and json.loads(answer.body)["error"]["path"] == "$.inputs"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"task": "summarise"}, "model.task: expected one of"),
        ({"task": "text-classification", "labels": ["a"]}, "model.tokenizer: required"),
        ({"task": "image-classification", "labels": ["a"]}, "model.processor: required"),
        ({"task": "token-classification", "tokenizer": "t.json"}, "model.labels: required"),
        ({"activation": "relu"}, "model.activation: expected one of"),
        ({"labels": ["a", True]}, "model.labels: expected"),
    ],
)
def test_task_settings_are_checked(model: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"model": {"path": "m.onnx", "version": "v1", **model}})


def test_classification_labels_must_match_the_model(
    make_artifact: Callable[..., Path], new_service: Callable[..., Service]
) -> None:
    service = new_service(make_artifact({"model": {"task": "classification", "labels": ["a"]}}))
    service.load()
    answer = service.handle(Request(json.dumps({"inputs": [[0.0] * 64]}).encode()))
    assert answer.status == 500 and b"names 1 classes" in answer.body


def _png(width: int, height: int, mode: str = "RGB") -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_images_decode_from_base64_or_b64_objects() -> None:
    images = decode_images([_png(3, 2), {"b64": _png(5, 4, "L")}])
    assert [image.size for image in images] == [(3, 2), (5, 4)]
    assert {image.mode for image in images} == {"RGB"}
    processor = ImageProcessor(
        {"size": [8, 6], "resample": 2, "rescale": 1 / 255, "mean": [0.5] * 3, "std": [0.5] * 3}
    )
    pixels = processor(images)
    assert pixels.shape == (2, 3, 8, 6) and pixels.dtype == np.float32
    np.testing.assert_allclose(pixels, -1.0)  # black, rescaled and normalised


@pytest.mark.parametrize(
    ("inputs", "path", "message"),
    [
        (["%%%"], "$.inputs[0]", "not valid base64"),
        ([base64.b64encode(b"plain text").decode()], "$.inputs[0]", "not a readable image"),
        ([3], "$.inputs[0]", "expected an image"),
        ([], "$.inputs", "at least one image"),
    ],
)
def test_bad_images_are_422_with_the_field(inputs: Any, path: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as caught:
        decode_images(inputs)
    assert caught.value.path == path


def test_an_image_bomb_is_refused_from_its_header() -> None:
    side = int(MAX_PIXELS**0.5) + 1
    with pytest.raises(InvalidInputError, match="over the limit"):
        decode_images(_png(side, side, "1"))  # a 1-bit image: small to write, huge to decode
