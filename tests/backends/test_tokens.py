"""Registering GCP and Azure resources by type token sends the engine what the SDK classes send.

The backends never import pulumi-gcp or pulumi-azure-native; these tests import them to prove
the token path equivalent: the same plans are recorded both ways (the real SDK classes swapped
in) and compared registration by registration, including the options the engine receives, and
the tables that stand in for the SDK (defaults, outputs, secret outputs) are re-derived from
the installed SDK.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import inspect
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest

from svai.backends import preview
from svai.backends.azure import AzureBackend
from svai.backends.azure import components as azure_components
from svai.backends.azure.provider import AZURE
from svai.backends.base import RecordedResource
from svai.backends.gcp import GcpBackend
from svai.backends.gcp import components as gcp_component
from svai.backends.gcp import tokens as T
from svai.backends.gcp.provider import GCP
from svai.backends.preview import record
from svai.backends.tokens import (
    Provider,
    TokenResource,
    camel,
    create_with_sdk,
    plugin_version,
    sdk_class,
)
from svai.ir import DeploymentPlan
from tests.backends.plans import async_plan, sync_plan

ROOT = Path(__file__).resolve().parents[2]
# ``cloud.py`` names the provider functions the preview's mocks answer, not resources.
AZURE_SOURCES = sorted(
    p for p in (ROOT / "svai" / "backends" / "azure").glob("*.py") if p.name != "cloud.py"
)


def _gpu(plan: DeploymentPlan, gpu: str) -> DeploymentPlan:
    api = plan.services[0]
    compute = dataclasses.replace(api.compute, gpu_type=gpu, gpu_count=1, memory_mb=16384, vcpu=4)
    return dataclasses.replace(plan, services=(dataclasses.replace(api, compute=compute),))


CA = "azure.containerapps.consumption"
FLEX = "azure.functions.flex_consumption"
ML = "azure.ml.managed_online_endpoint"

PLANS: dict[str, Callable[[], DeploymentPlan]] = {
    "gcp-run": lambda: sync_plan("gcp", auth="api-key", canary=True, cache=True),
    "gcp-gpu": lambda: _gpu(sync_plan("gcp", min_instances=1, max_instances=3), "nvidia-l4"),
    "gcp-functions": lambda: sync_plan("gcp", "gcp.cloudrun.functions", auth="jwt"),
    "gcp-vertex": lambda: sync_plan("gcp", "gcp.vertex.online_prediction", customer_key="k"),
    "gcp-async": lambda: async_plan("gcp", auth="api-key", customer_key="k"),
    "azure-ca": lambda: sync_plan("azure", CA, min_instances=2, max_instances=9),
    "azure-gpu": lambda: _gpu(sync_plan("azure", CA, min_instances=0, canary=True), "nvidia-t4"),
    "azure-flex": lambda: sync_plan("azure", FLEX, min_instances=3, cache=True),
    "azure-ml": lambda: sync_plan("azure", ML, canary=True, auth="api-key"),
    "azure-async": lambda: async_plan("azure", FLEX, auth="jwt"),
    "azure-private": lambda: dataclasses.replace(async_plan("azure", CA), private_network=True),
    "azure-egress": lambda: dataclasses.replace(async_plan("azure", CA), egress="none"),
}
"""Sync CPU, GPU, functions, managed endpoint and async plans of both clouds."""


@dataclasses.dataclass(frozen=True)
class Sent:
    """The options of one registration the engine receives, beside the recorded inputs."""

    type: str
    name: str
    version: str
    secret_outputs: tuple[str, ...]
    ignore_changes: tuple[str, ...]


def _record_with_requests(
    cloud: str, plan: DeploymentPlan
) -> tuple[tuple[RecordedResource, ...], list[Sent]]:
    backend: Any = (
        GcpBackend(billing_account="000000-111111-222222")
        if cloud == "gcp"
        else AzureBackend(today=lambda: dt.date(2026, 11, 27))
    )
    sent: list[Sent] = []
    register = preview._RecordingMonitor.RegisterResource

    def spy(monitor: Any, request: Any) -> Any:
        if request.custom:
            sent.append(
                Sent(
                    request.type,
                    request.name,
                    request.version,
                    tuple(sorted(request.additionalSecretOutputs)),
                    tuple(request.ignoreChanges),
                )
            )
        return register(monitor, request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preview._RecordingMonitor, "RegisterResource", spy)
        resources = record(lambda: backend.program(plan))
    return resources, sorted(sent, key=lambda s: (s.type, s.name))


@pytest.mark.parametrize("key", sorted(PLANS))
def test_registration_by_token_matches_the_sdk_classes(key: str) -> None:
    plan = PLANS[key]()
    cloud = key.split("-")[0]
    by_token, sent_by_token = _record_with_requests(cloud, plan)
    module: Any = gcp_component if cloud == "gcp" else azure_components
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        patch.setattr(module, "create", create_with_sdk)
        by_sdk, sent_by_sdk = _record_with_requests(cloud, plan)
    assert len(by_token) > 15
    assert [(r.type, r.name, r.parent) for r in by_token] == [
        (r.type, r.name, r.parent) for r in by_sdk
    ]
    for mine, theirs in zip(by_token, by_sdk, strict=True):
        assert mine == theirs, (mine.type, mine.name)
    assert sent_by_token == sent_by_sdk


def test_an_output_the_sdk_class_lacks_is_refused_as_it_was() -> None:
    # A Vertex endpoint has no ``uri``: the async worker cannot be pushed to, with or without SDK.
    backend = GcpBackend(billing_account="000000-111111-222222")
    plan = async_plan("gcp", "gcp.vertex.online_prediction")
    with pytest.raises(AttributeError, match="uri"):
        record(lambda: backend.program(plan))


# The tables standing in for the SDK, re-derived from it.


def _gcp_tokens() -> list[str]:
    return sorted(v for k, v in vars(T).items() if k.isupper() and isinstance(v, str))


def _azure_tokens() -> list[str]:
    text = "\n".join(path.read_text() for path in AZURE_SOURCES)
    return sorted(set(re.findall(r"azure-native:[a-z]+:[A-Za-z0-9]+", text)))


CLOUDS: dict[str, tuple[Provider, Callable[[], list[str]]]] = {
    "gcp": (GCP, _gcp_tokens),
    "azure": (AZURE, _azure_tokens),
}


def _sdk_defaults(token: str) -> dict[str, Any]:
    source = inspect.getsource(sdk_class(token)._internal_init)  # type: ignore[attr-defined]
    pattern = r"if (\w+) is None:\n\s+\1 = (.+)"
    return {m.group(1): ast.literal_eval(m.group(2)) for m in re.finditer(pattern, source)}


def _sdk_secret_outputs(token: str) -> tuple[str, ...]:
    source = inspect.getsource(sdk_class(token)._internal_init)  # type: ignore[attr-defined]
    found = re.search(r"additional_secret_outputs=\[([^\]]*)\]", source)
    return tuple(ast.literal_eval(f"[{found.group(1)}]")) if found else ()


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_every_token_svai_emits_names_an_sdk_class(cloud: str) -> None:
    provider, tokens = CLOUDS[cloud]
    assert len(tokens()) > 20
    for token in tokens():
        assert sdk_class(token).__name__ == token.rsplit(":", 1)[1]
    assert set(provider.outputs) <= set(tokens())


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_defaults_are_those_the_sdk_classes_fill_in(cloud: str) -> None:
    provider, tokens = CLOUDS[cloud]
    derived = {t: d for t in tokens() if (d := _sdk_defaults(t))}
    assert provider.defaults == derived


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_secret_outputs_are_those_of_the_sdk_classes(cloud: str) -> None:
    provider, tokens = CLOUDS[cloud]
    derived = {t: list(s) for t in tokens() if (s := _sdk_secret_outputs(t))}
    assert provider.secret_outputs == derived


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_every_output_read_is_an_output_of_the_sdk_class(cloud: str) -> None:
    provider, _ = CLOUDS[cloud]
    for token, attrs in provider.outputs.items():
        cls = sdk_class(token)
        for attr in attrs:
            assert isinstance(getattr(cls, attr, None), property), f"{token}.{attr}"


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_the_version_sent_is_the_sdk_version(cloud: str) -> None:
    provider, _ = CLOUDS[cloud]
    utilities = __import__(f"{provider.package}._utilities", fromlist=["get_version"])
    assert provider.version == plugin_version(provider.package) == utilities.get_version()


# The shared module on its own.


def test_camel_follows_the_sdk_naming() -> None:
    assert camel("min_instance_count") == "minInstanceCount"
    assert camel("oauth2_client_id") == "oauth2ClientId"
    assert camel("resource_name_") == "resourceName"
    assert camel("uri") == "uri"


def test_wire_keeps_user_maps_and_drops_unset_arguments() -> None:
    provider = Provider(
        "pulumi_gcp", outputs={}, data_keys={"labels"}, names={"memory_mb": "memoryMB"}
    )
    wired = provider.wire(
        {
            "service_config": {"max_instance_count": 3, "unset_thing": None},
            "labels": {"svai_model": "mv-1", "team_name": None},
            "containers": [{"memory_mb": 512, "env": [{"name": "HF_HOME", "value": "x"}]}],
            "traffic": [{"latest_revision": True}],
        }
    )
    assert wired == {
        "serviceConfig": {"maxInstanceCount": 3},
        "labels": {"svai_model": "mv-1", "team_name": None},
        "containers": [{"memoryMB": 512, "env": [{"name": "HF_HOME", "value": "x"}]}],
        "traffic": [{"latestRevision": True}],
    }


def test_a_data_key_holding_a_list_is_still_translated() -> None:
    provider = Provider("pulumi_gcp", outputs={}, data_keys={"traffic"})
    assert provider.wire({"traffic": [{"revision_name": "r1"}]}) == {
        "traffic": [{"revisionName": "r1"}]
    }
    assert provider.wire({"traffic": {"blue_green": 90}}) == {"traffic": {"blue_green": 90}}


def test_plugin_version_of_a_missing_package_names_it() -> None:
    with pytest.raises(ModuleNotFoundError, match="pulumi_nowhere"):
        plugin_version("pulumi_nowhere")


def test_a_token_resource_reads_outputs_by_their_sdk_names() -> None:
    seen: dict[str, Any] = {}

    def program() -> None:
        provider = Provider(
            "pulumi_azure_native",
            outputs={"azure-native:managedidentity:UserAssignedIdentity": ("principal_id",)},
            defaults={"azure-native:managedidentity:UserAssignedIdentity": {"location": "eastus"}},
        )
        identity = provider.create(
            "azure-native:managedidentity:UserAssignedIdentity",
            "id-api",
            {"resource_group_name": "rg", "resource_name_": "api", "location": None},
            opts=pulumi.ResourceOptions(ignore_changes=["resource_group_name", "tags.team"]),
        )
        assert isinstance(identity, TokenResource)
        seen["principal"] = identity.principal_id
        seen["same"] = identity.principal_id is identity.principalId
        with pytest.raises(AttributeError):
            _ = identity.client_id

    resources = record(program)
    assert seen["same"] is True
    assert [dict(r.inputs) for r in resources] == [
        {"location": "eastus", "resourceGroupName": "rg", "resourceName": "api"}
    ]


# Imports: a plan loads only its own cloud's backend and never a provider SDK.


def _loaded_after_planning(cloud: str) -> list[str]:
    code = (
        "import sys\n"
        "from svai.backends.preview import record\n"
        "from svai.backends.registry import get_backend\n"
        "from tests.backends.plans import async_plan, sync_plan\n"
        f"b = get_backend({cloud!r})\n"
        f"for p in (sync_plan({cloud!r}), async_plan({cloud!r})):\n"
        "    assert len(record(lambda: b.program(p))) > 20\n"
        "prefixes = ('pulumi_', 'svai.backends.')\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(prefixes))))\n"
    )
    env = {**os.environ, "SVAI_GCP_BILLING_ACCOUNT": "000000-111111-222222"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env
    )
    return out.stdout.split()


def _backend_packages(modules: list[str]) -> Iterator[str]:
    for name in modules:
        parts = name.split(".")
        if len(parts) >= 3 and parts[2] in {"aws", "gcp", "azure"}:
            yield parts[2]


@pytest.mark.parametrize("cloud", ["gcp", "azure"])
def test_a_plan_imports_only_its_own_backend_and_no_provider_sdk(cloud: str) -> None:
    loaded = _loaded_after_planning(cloud)
    assert "svai.backends.tokens" in loaded
    assert [m for m in loaded if m.startswith("pulumi_")] == []
    assert set(_backend_packages(loaded)) == {cloud}
