"""Artifact locations: the grammar of every store, what pins them, and the version id of a pin."""

from __future__ import annotations

from pathlib import Path

import pytest

from svai.compiler.version import model_version
from svai.spec import load_spec_text, resolve
from svai.spec.source import parse_source, pin_problem

SHA = "a" * 64
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("uri", "scheme", "container", "path", "version", "folder"),
    [
        (
            "s3://acme-models/a/model.onnx?versionId=abc.123",
            "s3",
            "acme-models",
            "a/model.onnx",
            "abc.123",
            False,
        ),
        ("s3://acme-models/a/", "s3", "acme-models", "a/", None, True),
        (
            "gs://acme_models/m.onnx#1712345678901234",
            "gs",
            "acme_models",
            "m.onnx",
            "1712345678901234",
            False,
        ),
        (
            "https://acct01.blob.core.windows.net/models/enc/model.onnx",
            "azure",
            "acct01/models",
            "enc/model.onnx",
            None,
            False,
        ),
        (f"hf://org/name@{COMMIT}", "hf", "org/name", "", COMMIT, True),
        (
            f"hf://org/name@{COMMIT}/onnx/model.onnx",
            "hf",
            "org/name",
            "onnx/model.onnx",
            COMMIT,
            False,
        ),
        ("model/model.onnx", "local", "", "model/model.onnx", None, False),
    ],
)
def test_every_form_parses(
    uri: str, scheme: str, container: str, path: str, version: str | None, folder: bool
) -> None:
    source = parse_source(uri)
    assert (source.scheme, source.container, source.path, source.version, source.folder) == (
        scheme,
        container,
        path,
        version,
        folder,
    )


@pytest.mark.parametrize(
    "uri",
    [
        "s3://B/x",  # bucket names are lower case
        "gs://bucket/obj#gen",  # a generation is a number
        "https://example.com/model.onnx",  # only Azure Blob https locations
        "https://acct01.blob.core.windows.net/Models/x",  # container names are lower case
        "hf://org@main",  # a repository is ORG/NAME
        "azureml://registries/r/models/m/versions/1",
    ],
)
def test_malformed_locations_are_refused_with_the_form(uri: str) -> None:
    with pytest.raises(ValueError, match=r"write|not supported|only Azure|well-formed"):
        parse_source(uri)


def test_pins() -> None:
    assert pin_problem(parse_source("s3://acme-models/m.onnx"), None) is not None
    assert pin_problem(parse_source("s3://acme-models/m.onnx"), SHA) is None
    assert pin_problem(parse_source("s3://acme-models/m.onnx?versionId=v1"), None) is None
    assert pin_problem(parse_source("gs://acme-models/dir/#12"), None) is not None  # a folder
    assert pin_problem(parse_source(f"hf://org/name@{COMMIT}"), None) is None
    assert pin_problem(parse_source("hf://org/name@main"), None) is not None
    assert pin_problem(parse_source("hf://org/name@main"), None, allow_moving=True) is None


def _version(artifact: str, sha256: str | None, tmp_path: Path) -> str:
    pin = f", sha256: {sha256}" if sha256 else ""
    text = (
        "version: 1\nname: tiny\n"
        f"model: {{artifact: '{artifact}', framework: onnx{pin}}}\n"
        "traffic: {pattern: steady, baseline_rps: 5}\n"
        "targets: [{cloud: aws, region: us-east-1}]\n"
    )
    return model_version(resolve(load_spec_text(text)), tmp_path)


def test_the_version_id_hashes_the_pin(tmp_path: Path) -> None:
    one = _version("s3://acme-models/m.onnx", SHA, tmp_path)
    assert _version("s3://acme-models/m.onnx", "b" * 64, tmp_path) != one
    v1 = _version("s3://acme-models/m.onnx?versionId=v1", None, tmp_path)
    assert v1 != _version("s3://acme-models/m.onnx?versionId=v2", None, tmp_path)
