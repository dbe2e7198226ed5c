"""``observability.tracing: otel`` at build and plan time: what ships where, and what is said.

The image of a container target ships the OTel SDK and its OTLP/HTTP exporter (pinned, with
their closure) and a config that turns them on; a function zip ships neither, and its plan
carries ``SVAI_OTEL_001`` (EMF stays the default there). Without ``otel`` nothing changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_package import write_project

from svai import api
from svai.compiler.tracing import RULE

OTEL = {"opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http"}


def _project(root: Path, tracing: str | None) -> Path:
    spec = write_project(root)  # an AWS function and a GCP container
    if tracing is not None:
        text = spec.read_text().replace("targets:\n", f"observability: {{tracing: {tracing}}}\n"
                                        "targets:\n", 1)  # fmt: skip
        spec.write_text(text)
    return spec


def _pinned(folder: Path) -> set[str]:
    lines = (folder / "requirements.txt").read_text().splitlines()
    return {line.split("==")[0] for line in lines if line and not line.startswith("#")}


@pytest.mark.parametrize("tracing", ["otel", None])
def test_the_image_ships_the_exporter_only_when_the_spec_asks(
    tmp_path: Path, tracing: str | None
) -> None:
    spec = _project(tmp_path / "project", tracing)
    built = {t.package: t for t in api.build(spec, out_dir=tmp_path / "out").targets}
    image, function = built["image"], built["zip"]
    config = json.loads((image.directory / "svai_runtime.json").read_text())
    assert not _pinned(function.directory) & OTEL  # a function keeps its EMF lines
    if tracing == "otel":
        assert _pinned(image.directory) >= OTEL
        assert "opentelemetry-proto" in _pinned(image.directory)  # the lock's closure
        assert config["observability"]["tracing"] == "otel"
    else:
        assert not any(name.startswith("opentelemetry") for name in _pinned(image.directory))
        assert "tracing" not in config["observability"]  # earlier builds stay byte-identical


def test_otel_on_a_function_is_a_low_finding_and_on_a_container_none(tmp_path: Path) -> None:
    _, result = api.plan(_project(tmp_path, "otel"))
    findings = {
        t.recommendation.cloud: [f for f in t.findings if f.rule == RULE] for t in result.targets
    }
    assert [f.severity for f in findings["aws"]] == ["low"]
    assert "EMF" in findings["aws"][0].message
    assert findings["gcp"] == []
    _, plain = api.plan(_project(tmp_path / "plain", None))
    assert not [f for t in plain.targets for f in t.findings if f.rule == RULE]
