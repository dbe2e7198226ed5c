"""Hugging Face folders as ``save_pretrained`` writes them: build, serve, compare with the pipeline.

Four tiny random-weight models (a BERT text classifier, a BERT token classifier, a ViT image
classifier, a sentence-transformers encoder) are saved here; ``svai build`` exports each with no
manual step, and the served artifact -- a real server process -- answers with label names and
scores (spans, embeddings) equal to what ``transformers.pipeline`` (``SentenceTransformer``)
gives on the same inputs, within the tolerance the build reports, without importing
transformers or torch.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import shutil
from pathlib import Path
from typing import Any

import hf_models
import numpy as np
import pytest
from formats_helpers import built_dir, check_openapi, serve_once, serving, write_spec

from svai import api
from svai.errors import SpecError

MAKERS = {
    "text-classification": hf_models.text_classifier,
    "token-classification": hf_models.token_classifier,
    "image-classification": hf_models.image_classifier,
    "sentence-embedding": hf_models.sentence_encoder,
}
SPEC_TASK = {
    "text-classification": "classification",
    "token-classification": "other",
    "image-classification": "vision",
    "sentence-embedding": "embedding",
}
HEAVY = {"torch", "transformers", "sentence_transformers", "optimum"}


class _Made(dict[str, Any]):
    """Made on first use: a test of one task does not pay for the others."""

    def __init__(self, make: Any) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, task: str) -> Any:
        made = self[task] = self.make(task)
        return made


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return _Made(lambda task: MAKERS[task](root / task))


@pytest.fixture(scope="module")
def builds(folders: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    def build(task: str) -> Any:
        project = tmp_path_factory.mktemp(task)
        shutil.copytree(folders[task], project / "model")
        spec = write_spec(
            project, "model", "transformers", model_extra=f"  task: {SPEC_TASK[task]}\n"
        )
        return api.build(spec, out_dir=project / "out")

    return _Made(build)


def _images() -> list[str]:
    return [base64.b64encode(data).decode() for data in hf_models.images(3)]


def _pictures() -> list[Any]:
    from PIL import Image

    return [Image.open(io.BytesIO(data)).convert("RGB") for data in hf_models.images(3)]


@pytest.mark.parametrize("task", list(MAKERS))
def test_build_records_the_export_and_its_check(builds: dict[str, Any], task: str) -> None:
    result = builds[task]
    conversion = result.optimisation["conversion"]
    assert result.optimisation["task"] == task
    assert conversion["max_abs_diff"] <= 1e-4
    # The maintained exporter where it is installed (the hf-export extra), else torch's own.
    try:
        maintained = importlib.util.find_spec("optimum.exporters.onnx") is not None
    except ModuleNotFoundError:
        maintained = False
    exporter = "optimum-onnx (" if maintained and task != "sentence-embedding" else "torch.onnx"
    assert conversion["exporter"].startswith(exporter), conversion["exporter"]
    folder = built_dir(result)
    model = json.loads((folder / "svai_runtime.json").read_text())["model"]
    assert model["task"] == task
    requirements = (folder / "requirements.txt").read_text()
    if task == "image-classification":
        assert model["processor"]["size"] == [32, 32] and "pillow==" in requirements
        assert not (folder / "tokenizer.json").exists()
    else:
        assert model["tokenizer"] == "tokenizer.json" and (folder / "tokenizer.json").is_file()
        assert "tokenizers==" in requirements
    assert "torch" not in requirements and "transformers" not in requirements


def test_text_classifier_answers_with_label_names_like_the_pipeline(
    builds: dict[str, Any], folders: dict[str, Path]
) -> None:
    from transformers import pipeline

    texts = hf_models.TEXTS
    expected = pipeline("text-classification", model=str(folders["text-classification"]))(
        texts, top_k=None
    )
    tolerance = builds["text-classification"].optimisation["conversion"]["max_abs_diff"] * 10
    with serving(built_dir(builds["text-classification"])) as server:
        outputs = server.predict({"inputs": texts})["outputs"]
        single = server.predict({"instances": [texts[0]]})["predictions"]
    assert single == outputs[:1]
    for want, got in zip(expected, outputs, strict=True):
        assert got["label"] == want[0]["label"] and got["label"] in ("negative", "positive")
        assert got["score"] == pytest.approx(want[0]["score"], abs=max(tolerance, 1e-6))
        for item in want:
            assert got["scores"][item["label"]] == pytest.approx(item["score"], abs=1e-5)


def test_token_classifier_returns_the_pipelines_spans(
    builds: dict[str, Any], folders: dict[str, Path]
) -> None:
    from transformers import pipeline

    pipe = pipeline("token-classification", model=str(folders["token-classification"]))
    expected = [pipe(text, aggregation_strategy="simple") for text in hf_models.TEXTS]
    assert any(expected), "the random model should find some entities"
    with serving(built_dir(builds["token-classification"])) as server:
        outputs = server.predict({"inputs": list(hf_models.TEXTS)})["outputs"]
    for text, want, got in zip(hf_models.TEXTS, expected, outputs, strict=True):
        assert [(s["label"], s["start"], s["end"]) for s in got["spans"]] == [
            (w["entity_group"], w["start"], w["end"]) for w in want
        ]
        for w, s in zip(want, got["spans"], strict=True):
            assert s["score"] == pytest.approx(float(w["score"]), abs=1e-5)
            assert s["text"] == text[s["start"] : s["end"]]


def test_image_classifier_processes_images_without_transformers(
    builds: dict[str, Any], folders: dict[str, Path]
) -> None:
    from transformers import pipeline

    pipe = pipeline("image-classification", model=str(folders["image-classification"]))
    expected = pipe(_pictures(), top_k=None)
    with serving(built_dir(builds["image-classification"])) as server:
        outputs = server.predict({"instances": [{"b64": b} for b in _images()]})["predictions"]
        status, error = server.request("POST", "/predict", {"inputs": ["not base64!"]})
    assert status == 422 and error["error"]["path"] == "$.inputs[0]"
    for want, got in zip(expected, outputs, strict=True):
        assert got["label"] == want[0]["label"] and got["label"] in ("cat", "dog", "bird")
        for item in want:
            assert got["scores"][item["label"]] == pytest.approx(item["score"], abs=1e-5)


def test_sentence_encoder_is_normalised_like_sentence_transformers(
    builds: dict[str, Any], folders: dict[str, Path]
) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(folders["sentence-embedding"]), device="cpu").encode(
        list(hf_models.TEXTS)
    )
    with serving(built_dir(builds["sentence-embedding"])) as server:
        outputs = server.predict({"inputs": list(hf_models.TEXTS)})["outputs"]
    got = np.asarray([answer["embedding"] for answer in outputs])
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, reference, atol=1e-5)


@pytest.mark.parametrize("task", ["text-classification", "image-classification"])
def test_serving_imports_neither_torch_nor_transformers(builds: dict[str, Any], task: str) -> None:
    body = {"inputs": _images()[:1]} if task == "image-classification" else {"inputs": "fine"}
    probe = serve_once(built_dir(builds[task]), body)
    assert probe["status"] == 200, probe
    assert not HEAVY & set(probe["modules"]), sorted(HEAVY & set(probe["modules"]))
    assert probe["body"]["outputs"][0]["label"]


def test_builds_of_a_folder_are_byte_identical(
    builds: dict[str, Any], folders: dict[str, Path], tmp_path: Path
) -> None:
    first = built_dir(builds["text-classification"])
    shutil.copytree(folders["text-classification"], tmp_path / "model")
    spec = write_spec(tmp_path, "model", "transformers", model_extra="  task: classification\n")
    second = built_dir(api.build(spec, out_dir=tmp_path / "out"))
    for name in ("model.onnx", "tokenizer.json", "svai_runtime.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_folders_svai_cannot_serve_are_refused_at_validate(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    from transformers import BertConfig, BertModel

    cases = {
        "bare": "holds a BertModel model; svai serves Hugging Face folders for text, token and "
        "image classification",
        "no-tokenizer": "has no tokenizer.json; the runtime needs the fast tokenizer",
        "wrong-task": "is a text-classification model, but `model.task` says embedding",
    }
    for name, message in cases.items():
        project = tmp_path / name
        if name == "bare":
            BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=32)).save_pretrained(project / "model")  # fmt: skip
        else:
            shutil.copytree(folders["text-classification"], project / "model")
        if name == "no-tokenizer":
            (project / "model/tokenizer.json").unlink()
        task = "embedding" if name == "wrong-task" else "classification"
        spec = write_spec(project, "model", "transformers", model_extra=f"  task: {task}\n")
        with pytest.raises(SpecError) as caught:
            api.validate(spec)
        (diagnostic,) = caught.value.diagnostics
        assert diagnostic.code == "model-unservable", diagnostic
        assert message in diagnostic.message and diagnostic.hint


def test_a_single_file_from_a_folder_is_refused_with_the_fix(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "model/config.json", "transformers")
    with pytest.raises(SpecError) as caught:
        api.validate(spec)
    (diagnostic,) = caught.value.diagnostics
    assert "point `model.artifact` at the folder" in diagnostic.hint


def test_the_version_id_covers_every_file_of_the_folder(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    from svai.compiler.version import model_version

    shutil.copytree(folders["text-classification"], tmp_path / "model")
    loaded = api.validate(write_spec(tmp_path, "model", "transformers"))
    before = model_version(loaded.resolved, loaded.base_dir)
    config = tmp_path / "model/config.json"
    config.write_text(config.read_text().replace('"negative"', '"negatif"'))
    assert model_version(loaded.resolved, loaded.base_dir) != before


@pytest.mark.parametrize("task", list(MAKERS))
def test_openapi_document_is_valid_served_and_describes_the_answers(
    builds: dict[str, Any], task: str
) -> None:
    folder = built_dir(builds[task])
    inputs: list[Any] = _images()[:2] if task == "image-classification" else ["a", "Bob hated it"]
    with serving(folder) as server:
        answer = check_openapi(folder, server, {"instances": inputs})
        check_openapi(folder, server, {"inputs": inputs[0]})
    item = json.loads((folder / "openapi.json").read_text())["components"]["schemas"]["Item"]
    if task != "sentence-embedding" and task != "token-classification":
        assert set(item["properties"]["scores"]["properties"]) == set(
            json.loads((folder / "svai_runtime.json").read_text())["model"]["labels"]
        )
    assert len(answer["predictions"]) == 2
