"""``svai apply`` plumbing: what is checked before Pulumi runs, and the messages users get."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from svai.backends import automation
from svai.backends.registry import cloud, get_backend
from svai.errors import ToolMissingError, UsageError
from svai.spec.clouds import CLOUDS
from tests.backends.plans import sync_plan


@pytest.fixture
def no_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return tmp_path


@pytest.mark.parametrize("operation", [automation.up, automation.preview, automation.destroy])
def test_missing_cli_raises_tool_missing_with_install_command(
    no_pulumi: Path, operation: object
) -> None:
    with pytest.raises(ToolMissingError) as caught:
        operation(sync_plan("aws"), stack="dev", work_dir=no_pulumi)  # type: ignore[operator]
    assert caught.value.exit_code == 3
    assert "curl -fsSL https://get.pulumi.com | sh" in str(caught.value)
    assert "pulumi" in str(caught.value)
    assert not (no_pulumi / ".svai").exists()  # nothing written before the checks pass


def test_check_pulumi_finds_a_binary_on_the_given_path(tmp_path: Path) -> None:
    binary = tmp_path / "pulumi"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert automation.check_pulumi(str(tmp_path)) == str(binary)
    with pytest.raises(ToolMissingError):
        automation.check_pulumi(str(tmp_path / "nowhere"))


def test_passphrase_is_required() -> None:
    with pytest.raises(ToolMissingError, match="PULUMI_CONFIG_PASSPHRASE"):
        automation.check_passphrase({})
    automation.check_passphrase({"PULUMI_CONFIG_PASSPHRASE": "x"})
    automation.check_passphrase({"PULUMI_CONFIG_PASSPHRASE_FILE": "/p"})


@pytest.mark.parametrize(
    ("cloud", "env", "needle"),
    [
        ("aws", {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}, "AWS_ACCESS_KEY_ID"),
        ("aws", {"AWS_PROFILE": "dev"}, "aws configure"),
        (
            "gcp",
            {"GOOGLE_APPLICATION_CREDENTIALS": "/k.json"},
            "gcloud auth application-default login",
        ),
        (
            "azure",
            {"ARM_CLIENT_ID": "c", "ARM_TENANT_ID": "t", "ARM_SUBSCRIPTION_ID": "s"},
            "az login",
        ),
    ],
)
def test_credentials_are_found_or_named(
    tmp_path: Path, cloud: str, env: dict[str, str], needle: str
) -> None:
    automation.check_credentials(cloud, env, home=tmp_path)
    with pytest.raises(ToolMissingError, match=needle) as caught:
        automation.check_credentials(cloud, {}, home=tmp_path)
    assert caught.value.exit_code == 3


def test_credentials_from_cli_config_files(tmp_path: Path) -> None:
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text("[default]\n")
    automation.check_credentials("aws", {}, home=tmp_path)
    with pytest.raises(UsageError):
        automation.check_credentials("mars", {}, home=tmp_path)


def test_one_stack_holds_one_spec(no_pulumi: Path) -> None:
    with pytest.raises(UsageError, match="one spec"):
        automation.up(
            [sync_plan("aws", name="a"), sync_plan("aws", name="b")],
            stack="dev",
            work_dir=no_pulumi,
        )
    with pytest.raises(UsageError, match="no plans"):
        automation.up([], stack="dev", work_dir=no_pulumi)


def test_registry_names_every_cloud_and_loads_aws_lazily() -> None:
    assert {name: cloud(name).backend for name in CLOUDS} == {
        "aws": "svai.backends.aws.backend:AwsBackend",
        "gcp": "svai.backends.gcp.backend:GcpBackend",
        "azure": "svai.backends.azure.backend:AzureBackend",
    }
    backend = get_backend("aws")
    assert backend.cloud == "aws" and len(backend.rules()) > 20
    with pytest.raises(UsageError, match="unknown cloud"):
        get_backend("mars")


def test_registry_names_the_pip_extra_when_the_sdk_is_missing() -> None:
    import subprocess

    code = (
        "import sys; sys.modules['pulumi_aws'] = None\n"
        "from svai.backends.registry import get_backend\n"
        "from svai.errors import ToolMissingError\n"
        "try:\n    get_backend('aws')\n"
        "except ToolMissingError as e:\n    print(e.exit_code, e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ),
    )
    assert out.stdout.startswith("3 ")
    assert "pip install 'svai[aws]'" in out.stdout


@pytest.mark.cloud
@pytest.mark.skipif(
    not os.environ.get("SVAI_CLOUD_TESTS"), reason="real cloud: set SVAI_CLOUD_TESTS=1 and -m cloud"
)
def test_real_preview_of_a_sync_plan(tmp_path: Path) -> None:
    result = automation.preview(sync_plan("aws"), stack="svai-test", work_dir=tmp_path)
    assert result.changes.get("create", 0) > 20
