"""Container targets get their image built and pushed by ``pulumi up`` (pulumi-docker-build).

Every plan whose compute runs an image records one ``docker-build:index:Image`` over the target's
``svai build`` folder, pushed under exactly the references the compute resources run; a plan of
zip functions records none.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest
from plans import async_plan, sync_plan

from svai.backends.aws import AwsBackend
from svai.backends.azure import AzureBackend
from svai.backends.base import RecordedResource
from svai.backends.docker_build import DOCKER_BUILD
from svai.backends.gcp import GcpBackend
from svai.backends.gcp.blueprint import notes
from svai.backends.images import IMAGE
from svai.backends.preview import record
from svai.backends.registry import cloud
from svai.backends.tokens import sdk_class
from svai.ir import DeploymentPlan
from svai.spec.clouds import CLOUDS

BUILD = ".svai/build/app/v1/target"


def _aws_images(r: RecordedResource) -> list[str]:
    if r.type == "aws:lambda/function:Function" and r.inputs.get("packageType") == "Image":
        return [r.inputs["imageUri"]]
    if r.type == "aws:sagemaker/model:Model":
        return [r.inputs["primaryContainer"]["image"]]
    return []


def _gcp_images(r: RecordedResource) -> list[str]:
    if r.type == "gcp:cloudrunv2/service:Service":
        return [c["image"] for c in r.inputs["template"]["containers"]]
    return []


def _azure_images(r: RecordedResource) -> list[str]:
    if r.type == "azure-native:app:ContainerApp":
        return [c["image"] for c in r.inputs["template"]["containers"]]
    return []


BACKENDS: dict[str, tuple[Callable[[], Any], Callable[[RecordedResource], list[str]]]] = {
    "aws": (lambda: AwsBackend(build_dir=BUILD), _aws_images),
    "gcp": (lambda: GcpBackend(billing_account="0-0-0", build_dir=BUILD), _gcp_images),
    "azure": (
        lambda: AzureBackend(today=lambda: dt.date(2026, 11, 27), build_dir=BUILD),
        _azure_images,
    ),
}


def _gcp(plan: DeploymentPlan) -> DeploymentPlan:
    # A GCP plan names its project here (otherwise image references wait for the registry).
    return dataclasses.replace(plan, account="acme-ml") if plan.cloud == "gcp" else plan


@pytest.mark.parametrize(
    ("cloud", "plan"),
    [
        ("aws", sync_plan("aws", "aws.lambda.image")),
        ("aws", sync_plan("aws", "aws.sagemaker.realtime")),
        ("gcp", _gcp(sync_plan("gcp", "gcp.cloudrun.service"))),
        ("gcp", _gcp(async_plan("gcp", "gcp.cloudrun.service"))),
        ("azure", sync_plan("azure", "azure.containerapps.consumption")),
        ("azure", async_plan("azure", "azure.containerapps.consumption")),
    ],
    ids=["aws-lambda-image", "aws-sagemaker", "gcp-run", "gcp-async", "azure-ca", "azure-async"],
)
def test_the_image_the_compute_runs_is_built_from_the_build_folder(
    cloud: str, plan: DeploymentPlan
) -> None:
    factory, images_of = BACKENDS[cloud]
    backend = factory()
    resources = record(lambda: backend.program(plan))
    [image] = [r for r in resources if r.type == IMAGE]
    used = {ref for r in resources for ref in images_of(r)}
    assert used and used <= set(image.inputs["tags"])
    assert image.inputs["context"] == {"location": BUILD}
    assert image.inputs["dockerfile"] == {"location": f"{BUILD}/Dockerfile"}
    assert image.inputs["platforms"] == ["linux/amd64"]
    assert image.inputs["push"] is True and image.inputs["buildOnPreview"] is False
    # Every tag is the version being deployed (GCP shortens it): immutable tags never move.
    for tag in image.inputs["tags"]:
        version = tag.rsplit(":", 1)[1]
        assert len(version) >= 12 and plan.model_version.startswith(version), tag


@pytest.mark.parametrize(
    ("cloud", "offering"),
    [
        ("aws", "aws.lambda.zip"),
        ("gcp", "gcp.cloudrun.functions"),
        ("azure", "azure.functions.flex_consumption"),
    ],
)
def test_zip_functions_need_no_image(cloud: str, offering: str) -> None:
    factory, _ = BACKENDS[cloud]
    backend = factory()
    plan = _gcp(sync_plan(cloud, offering))
    assert not [r for r in record(lambda: backend.program(plan)) if r.type == IMAGE]


def test_the_docker_build_tables_are_those_of_the_sdk() -> None:
    cls: Any = sdk_class(IMAGE)
    assert cls.__name__ == "Image" and cls.__module__.startswith("pulumi_docker_build")
    for attr in DOCKER_BUILD.outputs[IMAGE]:
        assert isinstance(getattr(cls, attr, None), property), attr
    source = inspect.getsource(cls._internal_init)
    defaults = dict(re.findall(r"if (\w+) is None:\n\s+\1 = (.+)", source))
    assert {k: ast.literal_eval(v) for k, v in defaults.items()} == DOCKER_BUILD.defaults[IMAGE]
    assert 'additional_secret_outputs=["secrets"]' in source.replace("'", '"')


def test_each_cloud_says_how_to_let_docker_push() -> None:
    for name in CLOUDS:
        command = cloud(name).registry_login
        formatted = command.format(registry="registry.example", region="eu-west-1")
        assert "registry.example" in formatted and "{" not in formatted, name
        assert "docker" in formatted or "acr login" in formatted, name


def test_the_gcp_plan_notes_how_to_let_docker_push_to_its_registry() -> None:
    plan = _gcp(sync_plan("gcp", "gcp.cloudrun.service"))
    backend = BACKENDS["gcp"][0]()
    [image] = [r for r in record(lambda: backend.program(plan)) if r.type == IMAGE]
    registry = f"{plan.region}-docker.pkg.dev"
    assert {tag.split("/", 1)[0] for tag in image.inputs["tags"]} == {registry}
    login = f"gcloud auth configure-docker {registry}"
    assert [n for n in notes(backend.lower(plan)) if "let Docker push" in n] == [
        f"image: built and pushed on apply; let Docker push first: {login}"
    ]
    # A plan of zip functions pushes no image, so it asks for no login.
    zipped = _gcp(sync_plan("gcp", "gcp.cloudrun.functions"))
    assert not [n for n in notes(backend.lower(zipped)) if "let Docker push" in n]
