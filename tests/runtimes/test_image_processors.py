"""Image processors beyond ViT's fixed resize: shortest-edge resizes, center crops, ConvNeXT (#15).

Each processor is saved with ``save_pretrained`` by transformers itself; svai's build reads the
folder into the runtime's ``model.processor``, and the runtime's numpy + Pillow processor must
give the pixels transformers gives (its PIL backend) for images of several shapes, including
images smaller than the crop. Processors svai does not reproduce are refused at build with the
reason. ConvNeXT and ResNet classifier folders then go build -> serve -> the pipeline's labels.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path
from typing import Any

import hf_models
import numpy as np
import pytest
from formats_helpers import built_dir, serving, write_spec

from svai import api
from svai.build.optimize.errors import UnsupportedModelError
from svai.build.optimize.hf import _processor
from svai.runtime.core.images import ImageProcessor

SHAPES = ((24, 40), (40, 24), (37, 53), (64, 64), (12, 20), (300, 17))
"""(width, height) of the test images: both orientations, odd sizes, smaller than every crop."""


def _pictures() -> list[Any]:
    from PIL import Image

    rng = np.random.default_rng(7)
    return [
        Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)) for w, h in SHAPES
    ]


def _processors() -> dict[str, Any]:
    from transformers import (
        BitImageProcessor,
        CLIPImageProcessor,
        ConvNextImageProcessor,
        DeiTImageProcessor,
        ViTImageProcessor,
    )

    return {
        "vit": ViTImageProcessor(size={"height": 32, "width": 32}),
        "clip": CLIPImageProcessor(
            size={"shortest_edge": 36}, crop_size={"height": 32, "width": 32}
        ),
        "bit-pads": BitImageProcessor(
            size={"shortest_edge": 16}, crop_size={"height": 24, "width": 20}
        ),
        "deit": DeiTImageProcessor(
            size={"height": 40, "width": 36}, crop_size={"height": 32, "width": 30}
        ),
        "convnext-crop-pct": ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.8),
        "convnext-square": ConvNextImageProcessor(size={"shortest_edge": 384}),
    }


@pytest.mark.parametrize("name", list(_processors()))
def test_the_runtime_processor_gives_the_pixels_transformers_gives(
    name: str, tmp_path: Path
) -> None:
    reference = _processors()[name]
    reference.save_pretrained(tmp_path)
    settings = _processor(tmp_path)
    ours = ImageProcessor(settings)
    for picture in _pictures():
        want = reference(picture, return_tensors="np")["pixel_values"]
        got = ours([picture.convert("RGB")])
        assert got.shape == want.shape, (name, picture.size)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5, err_msg=f"{name} {picture.size}")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"image_processor_type": "EfficientNetImageProcessor"}, "EfficientNetImageProcessor"),
        ({"do_pad": True}, "do_pad"),
        ({"do_center_crop": False}, "its own size"),
        ({"size": {"shortest_edge": 32, "longest_edge": 64}}, "longest_edge"),
        ({"crop_size": {"height": 32}}, "crop_size"),
    ],
)
def test_a_processor_svai_does_not_reproduce_is_refused_with_the_reason(
    change: dict[str, Any], reason: str, tmp_path: Path
) -> None:
    _processors()["clip"].save_pretrained(tmp_path)
    path = tmp_path / "preprocessor_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(UnsupportedModelError, match=reason):
        _processor(tmp_path)


@pytest.mark.parametrize(
    ("make", "resized", "crop"),
    [(hf_models.convnext_classifier, 40, 32), (hf_models.resnet_classifier, 40, 36)],
    ids=["convnext", "resnet"],
)
def test_a_cropping_classifier_builds_serves_and_answers_like_the_pipeline(
    make: Any, resized: int, crop: int, tmp_path: Path
) -> None:
    from PIL import Image
    from transformers import pipeline

    folder = make(tmp_path / "model-source")
    project = tmp_path / "project"
    shutil.copytree(folder, project / "model")
    spec = write_spec(project, "model", "transformers", model_extra="  task: vision\n")
    built = built_dir(api.build(spec, out_dir=project / "out"))
    config = json.loads((built / "svai_runtime.json").read_text())["model"]["processor"]
    assert config["shortest_edge"] == resized and config["crop"] == [crop, crop]
    files = hf_models.images(3)
    expected = pipeline("image-classification", model=str(folder))(
        [Image.open(io.BytesIO(data)).convert("RGB") for data in files], top_k=None
    )
    with serving(built) as server:
        inputs = [base64.b64encode(data).decode() for data in files]
        outputs = server.predict({"inputs": inputs})["outputs"]
    for want, got in zip(expected, outputs, strict=True):
        assert got["label"] == want[0]["label"]
        for item in want:
            assert got["scores"][item["label"]] == pytest.approx(item["score"], abs=1e-5)
