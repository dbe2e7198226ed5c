"""Every cloud is one object, and the facts it holds agree with the rest of svai."""

from __future__ import annotations

from pathlib import Path

import pytest

from svai.backends import registry
from svai.backends.aws.cloud import LAMBDA_VERSION_OUTPUT
from svai.backends.cloud import sdk_of, token_package
from svai.compiler.catalog import load_catalog
from svai.errors import UsageError
from svai.runtime.cloud.objects import STORES as OBJECT_STORES
from svai.runtime.core.cache import LOCAL_STORES
from svai.runtime.entry.stores import STORES
from svai.spec.clouds import CLOUDS
from tests.backends.plans import PREVIOUS_VERSION, sync_plan


@pytest.mark.parametrize("name", CLOUDS)
def test_each_cloud_object_agrees_with_its_backend_rules_and_the_catalog(name: str) -> None:
    cloud = registry.cloud(name)
    assert cloud.name == name and registry.cloud(name) is cloud
    assert sdk_of(token_package(cloud.sdk)) == cloud.sdk
    backend = registry.get_backend(name)
    assert backend.cloud == name
    assert {rule.id.split("_")[1] for rule in backend.rules()} == {cloud.rule_prefix}
    offered = {o.id for o in load_catalog().offerings(name)}
    assert cloud.async_workers <= cloud.offerings <= offered
    built = load_catalog().builds.cloud(name)
    assert {built.front} <= cloud.offerings
    # The shared cache the build names is one the shipped runtime opens (not a local store).
    assert built.shared_cache is not None
    scheme = built.shared_cache.removesuffix("://")
    assert scheme in STORES and scheme not in LOCAL_STORES
    assert built.object_store in OBJECT_STORES  # the runtime's client reads the bucket
    assert built.egress_rule in {rule.id for rule in backend.rules()}
    assert registry.cloud_of_package(cloud.token_package) is cloud


def test_the_token_packages_no_cloud_owns_load_no_cloud() -> None:
    assert registry.cloud_of_package("docker-build") is None
    assert registry.cloud_of_package("svai") is None
    assert registry.cloud_of_package("azure-native") is registry.cloud("azure")


def test_an_unknown_cloud_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown cloud 'mars'; svai knows: aws, azure, gcp"):
        registry.cloud("mars")
    assert "mars" not in registry.OFFERINGS
    assert list(registry.OFFERINGS) == list(CLOUDS)


def test_aws_release_hooks_remember_and_reuse_lambda_version_numbers(tmp_path: Path) -> None:
    hooks = registry.cloud("aws").release
    assert hooks is not None
    outputs = {f"{LAMBDA_VERSION_OUTPUT}api": 7, f"{LAMBDA_VERSION_OUTPUT}x": "[secret]", "y": 1}
    assert hooks.record(outputs) == {"api": "7"}

    plain = sync_plan("aws")
    assert hooks.options(plain, {}, placeholders=False) == {}  # nothing to roll out from
    canary = sync_plan("aws", canary=True)
    with pytest.raises(UsageError, match=f"Lambda version number of {PREVIOUS_VERSION} \\(api\\)"):
        hooks.options(canary, {}, placeholders=False)
    options = hooks.options(canary, {PREVIOUS_VERSION: {"api": "7"}}, placeholders=False)
    assert options == {"previous_lambda_versions": {"api": "7"}}
    backend = registry.get_backend("aws", build_dir=str(tmp_path), **options)
    assert backend.previous_lambda_versions == {"api": "7"}  # type: ignore[attr-defined]
    guessed = hooks.options(canary, {}, placeholders=True)
    assert guessed == {"previous_lambda_versions": {"api": f"<{PREVIOUS_VERSION}>"}}
    assert registry.cloud("gcp").release is None and registry.cloud("azure").release is None


def test_the_steps_after_up_are_a_hook_of_the_cloud_object() -> None:
    # Only GCP has steps Pulumi cannot express (Vertex model deploys); a Cloud Run plan has none.
    assert [name for name in CLOUDS if registry.cloud(name).after_up] == ["gcp"]
    after_up = registry.cloud("gcp").after_up
    assert after_up is not None
    assert after_up(registry.get_backend("gcp", billing_account="x"), sync_plan("gcp")) == {}
    with pytest.raises(TypeError, match="need the GCP backend"):
        after_up(registry.get_backend("aws"), sync_plan("gcp"))
