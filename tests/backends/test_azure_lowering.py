"""The Azure lowering: a plan becomes a blueprint of SDK arguments, without Pulumi."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest
from plans import SECRET_REFS, VERSION, async_plan, sync_plan

from svai.backends.azure import lowering, naming, roles, services
from svai.backends.azure.blueprint import Blueprint, ClientConfig, Concat, Ref, ResourceSpec
from svai.backends.azure.messaging import lock_seconds
from svai.errors import UsageError
from svai.ir import DeploymentPlan

START = "2026-11-01T00:00:00Z"
ROOT = Path(__file__).resolve().parents[2]


def _lower(plan: DeploymentPlan) -> Blueprint:
    return lowering.lower(plan, budget_start=START)


def _with_compute(plan: DeploymentPlan, **changes: object) -> DeploymentPlan:
    service = plan.services[-1]
    compute = dataclasses.replace(service.compute, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(
        plan, services=(*plan.services[:-1], dataclasses.replace(service, compute=compute))
    )


def _walk(value: object) -> list[object]:
    """Every value nested in ``value`` (dicts, lists, Concat parts), depth first."""
    out: list[object] = [value]
    if isinstance(value, dict):
        for item in value.values():
            out += _walk(item)
    elif isinstance(value, list | tuple):
        for item in value:
            out += _walk(item)
    elif isinstance(value, Concat):
        for part in value.parts:
            out += _walk(part)
    return out


@pytest.mark.parametrize(
    ("offering", "shape", "app_token"),
    [
        (services.CONTAINER_APPS, "ContainerAppService", "azure-native:app:ContainerApp"),
        (services.FUNCTIONS_FLEX, "FunctionAppService", "azure-native:web:WebApp"),
        (
            services.ML_ENDPOINT,
            "OnlineEndpointService",
            "azure-native:machinelearningservices:OnlineEndpoint",
        ),
    ],
)
def test_each_offering_lowers_to_its_component_shape(
    offering: str, shape: str, app_token: str
) -> None:
    blueprint = _lower(sync_plan("azure", offering))
    shapes = [g.shape for g in blueprint.groups]
    assert shapes[0] == "Foundation" and shapes[-1] == "Alerts"
    assert shape in shapes
    assert app_token in blueprint.tokens()


def test_unknown_offering_is_a_usage_error_naming_the_known_ones() -> None:
    plan = sync_plan("azure", "azure.functions.consumption")
    with pytest.raises(UsageError, match=r"azure\.functions\.consumption.*azure\.containerapps"):
        _lower(plan)


def test_a_plan_for_another_cloud_is_refused() -> None:
    with pytest.raises(UsageError, match="'gcp'"):
        _lower(sync_plan("gcp"))


def test_ml_endpoint_cannot_be_the_async_worker() -> None:
    with pytest.raises(UsageError, match="worker"):
        _lower(async_plan("azure", services.ML_ENDPOINT))


def test_every_key_is_unique_and_every_ref_points_backwards() -> None:
    for plan in (
        sync_plan("azure", services.CONTAINER_APPS, canary=True, cache=True),
        sync_plan("azure", services.ML_ENDPOINT, canary=True),
        async_plan("azure", services.CONTAINER_APPS),
        async_plan("azure"),
    ):
        seen: set[str] = set()
        for spec in _lower(plan).resources():
            assert spec.key not in seen, spec.key
            refs = [v for v in _walk(dict(spec.args)) if isinstance(v, Ref)]
            assert all(ref.key in seen for ref in refs), (spec.key, refs)
            assert all(key in seen for key in spec.depends_on)
            seen.add(spec.key)


def test_lowering_is_deterministic() -> None:
    plan = async_plan("azure", services.CONTAINER_APPS)
    assert _lower(plan) == _lower(plan)
    assert repr(_lower(plan)) == repr(_lower(dataclasses.replace(plan)))


def test_every_role_assignment_targets_one_resource_with_a_narrow_built_in_role() -> None:
    plan = async_plan("azure", services.CONTAINER_APPS)
    grants = [
        s
        for s in _lower(plan).resources()
        if s.token == "azure-native:authorization:RoleAssignment"
    ]
    assert grants
    for spec in grants:
        scope = spec.args["scope"]
        # A Ref to the resource group would grant on everything in it.
        assert isinstance(scope, Ref | Concat) and scope != Ref("rg"), spec.name
        role = spec.args["role_definition_id"].parts[-1].rsplit("/", 1)[-1]
        assert role in roles.ROLE_NAMES and role not in roles.BROAD_ROLES
        assert spec.args["principal_type"] == "ServicePrincipal"
        assert re.fullmatch(
            r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", spec.args["role_assignment_name"]
        )
    by_role = {
        (s.args["description"].split(" ")[1], s.args["role_definition_id"].parts[-1][-36:])
        for s in grants
    }
    assert ("worker", roles.SERVICE_BUS_DATA_RECEIVER) in by_role
    assert ("submit", roles.SERVICE_BUS_DATA_SENDER) in by_role
    assert ("worker", roles.STORAGE_BLOB_DATA_READER) in by_role
    assert ("worker", roles.KEY_VAULT_SECRETS_USER) in by_role
    assert ("submit", roles.SERVICE_BUS_DATA_RECEIVER) not in by_role


def test_secret_grant_is_scoped_to_the_one_secret() -> None:
    blueprint = _lower(sync_plan("azure", services.CONTAINER_APPS))
    spec = blueprint.get(f"role:api:secret-hf-token:{roles.KEY_VAULT_SECRETS_USER}")
    assert spec.args["scope"] == Concat((Ref("vault"), "/secrets/hf-token"))
    vault = blueprint.get("vault")
    assert vault.args["vault_name"] == SECRET_REFS["azure"].split("/")[0]
    assert vault.args["properties"]["tenant_id"] == ClientConfig("tenant_id")


def test_secrets_named_in_two_vaults_are_refused() -> None:
    plan = sync_plan("azure")
    plan = dataclasses.replace(
        plan, secrets=(*plan.secrets, dataclasses.replace(plan.secrets[0], env="B", ref="other/b"))
    )
    with pytest.raises(UsageError, match="several Key Vaults"):
        _lower(plan)


@pytest.mark.parametrize(
    ("vcpu", "memory_mb", "cpu", "memory"),
    [
        (0.25, 256, 0.25, "0.5Gi"),
        (1.0, 3072, 1.5, "3Gi"),
        (2.0, 1024, 2.0, "4Gi"),
        (8, 65536, 4.0, "8Gi"),
    ],
)
def test_container_sizing_rounds_up_to_a_consumption_pair(
    vcpu: float, memory_mb: int, cpu: float, memory: str
) -> None:
    plan = _with_compute(
        sync_plan("azure", services.CONTAINER_APPS), vcpu=vcpu, memory_mb=memory_mb
    )
    assert services.container_resources(plan.services[0]) == {"cpu": cpu, "memory": memory}


@pytest.mark.parametrize(
    ("gpu", "profile"),
    [("nvidia-t4", "Consumption-GPU-NC8as-T4"), ("NVIDIA A100", "Consumption-GPU-NC24-A100")],
)
def test_gpu_services_run_on_a_serverless_gpu_profile(gpu: str, profile: str) -> None:
    plan = _with_compute(
        sync_plan("azure", services.CONTAINER_APPS), gpu_type=gpu, gpu_count=1, memory_mb=16384
    )
    blueprint = _lower(plan)
    profiles = blueprint.get("environment").args["workload_profiles"]
    assert {"name": "Consumption", "workload_profile_type": "Consumption"} in profiles
    gpu_profile = next(p for p in profiles if p["workload_profile_type"] == profile)
    app = blueprint.get("app:api").args
    assert app["workload_profile_name"] == gpu_profile["name"]
    assert app["template"]["containers"][0]["resources"]["memory"] == "16Gi"


def test_an_unknown_gpu_is_refused() -> None:
    plan = _with_compute(sync_plan("azure", services.CONTAINER_APPS), gpu_type="nvidia-l4")
    with pytest.raises(UsageError, match="T4 or A100"):
        _lower(plan)


@pytest.mark.parametrize(("asked", "size"), [(128, 512), (512, 512), (513, 2048), (4096, 4096)])
def test_flex_memory_is_the_smallest_size_that_fits(asked: int, size: int) -> None:
    assert services.flex_memory_mb(asked) == size


def test_flex_memory_above_4_gb_is_refused() -> None:
    with pytest.raises(UsageError, match="4096"):
        services.flex_memory_mb(8192)


def test_flex_scale_maps_warm_pool_and_guard() -> None:
    blueprint = _lower(sync_plan("azure", min_instances=3, max_instances=120))
    scale = blueprint.get("app:api").args["function_app_config"]["scale_and_concurrency"]
    assert scale["always_ready"] == [{"name": "http", "instance_count": 3}]
    assert scale["maximum_instance_count"] == 120
    low = _lower(sync_plan("azure", min_instances=0, max_instances=5))
    low_scale = low.get("app:api").args["function_app_config"]["scale_and_concurrency"]
    # Flex Consumption's lowest instance ceiling is 40.
    assert low_scale["always_ready"] == [] and low_scale["maximum_instance_count"] == 40


@pytest.mark.parametrize(
    ("timeout", "lock"), [(10.0, 30), (120.0, 144), (250.0, 300), (900.0, 300)]
)
def test_queue_lock_covers_the_worker_up_to_five_minutes(timeout: float, lock: int) -> None:
    plan = async_plan("azure", services.CONTAINER_APPS, worker_timeout_s=timeout)
    assert lock_seconds(plan.service("worker")) == lock
    queue = _lower(plan).get("queue").args
    assert queue["lock_duration"] == naming.duration(lock)
    env = {
        e["name"]: e["value"]
        for e in _lower(plan).get("app:worker").args["template"]["containers"][0]["env"]
        if "value" in e
    }
    # Past the 5-minute lock the worker renews its lock every half lock while the job runs.
    assert env["SVAI_LOCK_RENEW_S"] == (str(lock // 2) if timeout > lock else "0")


def test_ml_endpoint_splits_traffic_across_one_deployment_per_version() -> None:
    blueprint = _lower(sync_plan("azure", services.ML_ENDPOINT, canary=True, min_instances=2))
    endpoint = blueprint.get("endpoint").args
    assert endpoint["properties"]["traffic"] == {"v-mv-0a1b2c3d4e5f": 90, f"v-{VERSION}": 10}
    deployments = [s for s in blueprint.resources() if s.key.startswith("deployment:")]
    assert [d.args["deployment_name"] for d in deployments] == list(
        endpoint["properties"]["traffic"]
    )
    for spec in deployments:
        assert spec.args["sku"]["capacity"] == 2
        assert spec.args["properties"]["requestSettings"]["maxConcurrentRequestsPerInstance"] == 8
    autoscale = [s for s in blueprint.resources() if s.key.startswith("autoscale:")]
    assert [a.args["profiles"][0]["capacity"]["maximum"] for a in autoscale] == ["20", "20"]


def test_names_respect_azure_limits_and_are_stable() -> None:
    long = sync_plan("azure", name="a-very-long-deployment-name-for-limits")
    assert re.fullmatch(r"[a-z0-9]{3,24}", naming.compact_name(long, "svai"))
    assert re.fullmatch(r"[a-z][a-z0-9-]{1,22}[a-z0-9]", naming.dashed_name(long, "kv"))
    assert naming.suffix(long) == naming.suffix(dataclasses.replace(long))
    assert naming.suffix(long) != naming.suffix(dataclasses.replace(long, region="westus3"))
    assert naming.duration(0) == "PT0S" and naming.duration(3725) == "PT1H2M5S"
    assert naming.guid("a") == naming.guid("a") != naming.guid("b")


def test_budget_starts_on_the_given_month_and_ignores_later_months() -> None:
    spec: ResourceSpec = _lower(sync_plan("azure")).get("budget")
    assert spec.args["time_period"] == {"start_date": START}
    assert spec.ignore_changes == ("timePeriod",)
    assert lowering.month_start(dt.date(2027, 2, 14)) == "2027-02-01T00:00:00Z"


def test_lowering_imports_no_cloud_sdk() -> None:
    code = (
        "import sys; sys.path.insert(0, 'tests/backends');"
        "from plans import async_plan;"
        "from svai.backends.azure.lowering import lower;"
        "lower(async_plan('azure', 'azure.containerapps.consumption'), budget_start='x');"
        "print(sorted(m for m in sys.modules if m.startswith(('pulumi', 'pulumi_azure_native'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_a_customer_key_uri_encrypts_the_artifact_store_without_creating_a_key() -> None:
    key = "https://acme-keys.vault.azure.net/keys/svai-cmk"
    blueprint = _lower(sync_plan("azure", customer_key=key))
    encryption = blueprint.get("storage").args["encryption"]
    assert encryption["key_source"] == "Microsoft.Keyvault"
    assert encryption["key_vault_properties"] == {
        "key_vault_uri": "https://acme-keys.vault.azure.net",
        "key_name": "svai-cmk",
    }
    assert encryption["encryption_identity"] == {
        "encryption_user_assigned_identity": Ref("identity:storage")
    }
    assert "azure-native:keyvault:Key" not in blueprint.tokens()


def test_a_created_key_is_granted_to_the_storage_identity_before_the_account() -> None:
    blueprint = _lower(sync_plan("azure"))
    grant = f"role:storage:artifact-key:{roles.KEY_VAULT_CRYPTO_ENCRYPTION_USER}"
    assert blueprint.get(grant).args["scope"] == Ref("artifact-key")
    assert blueprint.get("storage").depends_on == (grant,)


def test_no_key_asked_means_microsoft_managed_keys() -> None:
    plan = sync_plan("azure")
    plan = dataclasses.replace(
        plan, encryption=dataclasses.replace(plan.encryption, create_key=False)
    )
    blueprint = _lower(plan)
    assert blueprint.get("storage").args["encryption"]["key_source"] == "Microsoft.Storage"
    assert "identity:storage" not in [s.key for s in blueprint.resources()]


def test_a_customer_key_that_is_not_a_key_vault_uri_is_refused() -> None:
    with pytest.raises(UsageError, match="Key Vault key URI"):
        _lower(sync_plan("azure", customer_key="arn:aws:kms:us-east-1:1:key/x"))


def test_a_private_network_puts_data_services_behind_private_endpoints() -> None:
    plan = dataclasses.replace(async_plan("azure", services.CONTAINER_APPS), private_network=True)
    blueprint = _lower(plan)
    endpoints = {
        s.args["private_link_service_connections"][0]["group_ids"][0]: s.args[
            "private_link_service_connections"
        ][0]["private_link_service_id"]
        for s in blueprint.resources()
        if s.token == "azure-native:network:PrivateEndpoint"
    }
    assert endpoints["vault"] == Ref("vault")
    assert endpoints["Sql"] == Ref("cosmos")
    assert endpoints["namespace"] == Ref("namespace")
    assert "sites" in endpoints  # the submit/status function apps
    assert blueprint.get("namespace").args["sku"]["name"] == "Premium"
    for key in ("storage", "cosmos", "namespace"):
        assert blueprint.get(key).args["public_network_access"] == "Disabled"
    environment = blueprint.get("environment").args
    assert environment["vnet_configuration"]["internal"] is True
    zones = [
        s.args["private_zone_name"] for s in blueprint.resources() if s.key.startswith("zone:")
    ]
    assert len(zones) == len(set(zones)) and "privatelink.blob.core.windows.net" in zones


def test_ml_endpoint_always_requires_a_token_or_key() -> None:
    for auth, mode in (("jwt", "AADToken"), ("none", "AADToken"), ("api-key", "Key")):
        plan = sync_plan("azure", services.ML_ENDPOINT, auth=auth)  # type: ignore[arg-type]
        assert _lower(plan).get("endpoint").args["properties"]["auth_mode"] == mode


def test_the_handler_runs_without_a_shell() -> None:
    plan = _with_compute(
        sync_plan("azure", services.CONTAINER_APPS),
        handler="python -m svai.runtime.server '$(id)'",
    )
    container = _lower(plan).get("app:api").args["template"]["containers"][0]
    assert container["command"] == ["python", "-m", "svai.runtime.server", "$(id)"]


@pytest.mark.parametrize(
    ("catalog_id", "token"),
    [
        ("azure.containerapps", "azure-native:app:ContainerApp"),
        ("azure.ml.online_endpoint", "azure-native:machinelearningservices:OnlineEndpoint"),
    ],
)
def test_compiler_catalog_ids_are_accepted(catalog_id: str, token: str) -> None:
    plan = sync_plan(
        "azure", catalog_id, "container" if "containerapps" in catalog_id else "endpoint"
    )
    assert token in _lower(plan).tokens()


def test_the_budget_month_follows_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    from svai.backends.azure.backend import _today

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01T00:00:00Z
    assert lowering.month_start(_today()) == "2026-01-01T00:00:00Z"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    before = dt.datetime.now(dt.UTC).date()
    assert before <= _today() <= dt.datetime.now(dt.UTC).date()
