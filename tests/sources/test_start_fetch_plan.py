"""The backends' half of ``model.fetch: start``, on the programs run under Pulumi mocks.

After a start-time build, each backend uploads the weights into the deployment's artifact bucket
as ``models/sha256/<sha256>``, grants the model's service read on exactly those objects, and sets
``SVAI_MODEL_BUCKET``; planned without such a build, it asks for none of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from test_cli_runtime import iris  # noqa: F401
from test_start_fetch_serve import TARGETS

from svai import api
from svai.compiler.lower import lower
from svai.compiler.version import model_version
from svai.ir import RecordedResource

SPEC = """\
version: 1
name: iris-start
model:
  artifact: model/iris.onnx
  framework: onnx
  task: classification
  fetch: start
latency: {{p95: 200ms}}
traffic: {{pattern: steady, baseline_rps: 2}}
targets:
{targets}
"""


def _resources(spec: Path, build_root: Path | None) -> dict[str, tuple[RecordedResource, ...]]:
    loaded, recommendation = api.recommend(spec)
    resolved = loaded.resolved
    version = model_version(resolved, loaded.base_dir)
    planned = {}
    for target, rec in api.served(resolved, recommendation):
        key = f"{target.cloud}-{target.region}"
        folder = (build_root or Path("/nonexistent")) / resolved.name / version / key
        backend = api._backend_with_build(target.cloud, folder.as_posix())
        deployment = lower(resolved, target, rec, version)
        compiled = api.compile_target(resolved.name, rec, deployment, backend)
        planned[target.cloud] = tuple(compiled.resources)
    return planned


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def test_each_backend_uploads_by_digest_and_grants_read_on_exactly_those_objects(
    tmp_path: Path,
    iris: tuple[np.ndarray, np.ndarray, bytes],  # noqa: F811
) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model/iris.onnx").write_bytes(iris[2])
    spec = tmp_path / "svai.yaml"
    spec.write_text(SPEC.format(targets="\n".join(f"  - {t}" for t in TARGETS.values())))
    result = api.build(spec)
    (entry,) = {
        json.dumps(
            json.loads((t.directory / "manifest.json").read_text())["start_fetch"]["objects"]
        )
        for t in result.targets
    }
    (obj,) = json.loads(entry)
    key = obj["key"]
    assert key == f"models/sha256/{obj['sha256']}"

    built = _resources(spec, tmp_path / ".svai" / "build")
    unbuilt = _resources(spec, None)

    aws = built["aws"]
    uploads = [r for r in aws if r.type.endswith("BucketObjectv2") and r.inputs["key"] == key]
    assert len(uploads) == 1, "the weights, once, under their digest"
    (read,) = [r for r in aws if r.name.endswith("-model-read")]
    statements = json.loads(read.inputs["policy"])["Statement"]
    assert [s["Action"] for s in statements] == [["s3:GetObject"]]
    assert [[r.rsplit("/", 3)[-3:] for r in s["Resource"]] for s in statements] == [
        [["models", "sha256", obj["sha256"]]]
    ]
    (model,) = [r for r in aws if r.type == "aws:sagemaker/model:Model"]
    assert "SVAI_MODEL_BUCKET" in model.inputs["primaryContainer"]["environment"]

    gcp = built["gcp"]
    uploads = [r for r in gcp if r.type.endswith("BucketObject") and r.inputs["name"] == key]
    assert len(uploads) == 1
    grants = [r for r in gcp if r.type.endswith("BucketIAMMember") and "condition" in r.inputs]
    assert grants and all(
        r.inputs["condition"]["expression"].endswith(f'/objects/{key}"') for r in grants
    )
    assert "SVAI_MODEL_BUCKET" in _text([r.inputs for r in gcp if r.type.endswith("Service")])

    azure = built["azure"]
    uploads = [
        r for r in azure if r.type.endswith("storage:Blob") and r.inputs.get("blobName") == key
    ]
    assert len(uploads) == 1
    conditioned = [
        r for r in azure if r.type.endswith("RoleAssignment") and r.inputs.get("condition")
    ]
    assert conditioned and all(
        f"StringEquals '{key}'" in r.inputs["condition"] for r in conditioned
    )
    assert "SVAI_MODEL_BUCKET" in _text(
        [r.inputs for r in azure if r.type.endswith("ContainerApp")]
    )

    # Planned before any build: no model objects, no narrowed grants, no bucket variable.
    for cloud, resources in unbuilt.items():
        assert key not in _text([r.inputs for r in resources]), cloud
        assert "SVAI_MODEL_BUCKET" not in _text([r.inputs for r in resources]), cloud


def test_an_azure_ml_endpoint_is_told_where_its_weights_are(
    tmp_path: Path,
    iris: tuple[np.ndarray, np.ndarray, bytes],  # noqa: F811
) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model/iris.onnx").write_bytes(iris[2])
    spec = tmp_path / "svai.yaml"
    spec.write_text(
        SPEC.format(targets="  - {cloud: azure, region: westeurope, runtime: endpoint}")
    )
    api.build(spec)
    (deployment,) = (
        r
        for r in _resources(spec, tmp_path / ".svai" / "build")["azure"]
        if r.type == "azure-native:machinelearningservices:OnlineDeployment"
    )
    variables = deployment.inputs["properties"]["environmentVariables"]
    assert "SVAI_MODEL_BUCKET" in variables, variables
    (unbuilt,) = (
        r
        for r in _resources(spec, None)["azure"]
        if r.type == "azure-native:machinelearningservices:OnlineDeployment"
    )
    assert "SVAI_MODEL_BUCKET" not in unbuilt.inputs["properties"]["environmentVariables"]


def test_a_start_fetch_on_a_function_is_a_high_finding_at_plan(
    tmp_path: Path,
    iris: tuple[np.ndarray, np.ndarray, bytes],  # noqa: F811
) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model/iris.onnx").write_bytes(iris[2])
    spec = tmp_path / "svai.yaml"
    spec.write_text(
        SPEC.format(
            targets="  - {cloud: aws, region: us-east-1, runtime: faas}\n"
            "  - {cloud: gcp, region: europe-west1, runtime: container}"
        )
    )
    _, result = api.plan(spec)
    found = {
        t.plan.cloud: [f for f in t.findings if f.rule == "SVAI_FETCH_001"] for t in result.targets
    }
    (aws,) = found["aws"]
    assert aws.severity == "high" and "fetches nothing at start" in aws.message
    assert found["gcp"] == []  # a container fetches before it turns ready
