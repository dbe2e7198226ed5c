"""The GCP backend's Pulumi program, recorded offline under the shared mocks."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from plans import CANARY_SECRET, VERSION, async_plan, sync_plan

from svai.backends.base import RecordedResource
from svai.backends.gcp import GcpBackend
from svai.backends.gcp import tokens as T
from svai.backends.gcp.lowering import lower
from svai.backends.preview import record
from svai.backends.registry import get_backend
from svai.backends.rules import get_path
from svai.backends.tokens import sdk_class as _constructor
from svai.ir import DeploymentPlan

BILLING = "000000-111111-222222"
HERE = str(Path(__file__).resolve().parent)


def _record(plan: DeploymentPlan, billing: str | None = BILLING) -> tuple[RecordedResource, ...]:
    backend = GcpBackend(billing_account=billing)
    return record(lambda: backend.program(plan))


def _one(resources: Sequence[RecordedResource], token: str, name: str) -> dict[str, Any]:
    matches = [r for r in resources if r.type == token and r.name == name]
    assert len(matches) == 1, f"{token} {name}: {len(matches)}"
    return dict(matches[0].inputs)


def _gpu_plan() -> DeploymentPlan:
    plan = sync_plan("gcp", min_instances=1, max_instances=3)
    api = plan.services[0]
    gpu = dataclasses.replace(api.compute, gpu_type="nvidia-l4", gpu_count=1)
    return dataclasses.replace(plan, services=(dataclasses.replace(api, compute=gpu),))


def test_registry_loads_the_gcp_backend() -> None:
    backend = get_backend("gcp")
    assert isinstance(backend, GcpBackend) and backend.cloud == "gcp"
    assert [r.id for r in backend.rules()] == [f"SVAI_GCP_{i:03d}" for i in range(1, 21)]


def test_cloud_run_cpu_service_is_recorded_under_one_component() -> None:
    resources = _record(sync_plan("gcp", min_instances=2, max_instances=9))
    component = resources[0]
    assert component.type == "svai:gcp:RealtimeDeployment" and component.name == "sentiment"
    assert all(r.component == "sentiment" for r in resources)
    assert all(r.parent == "sentiment" for r in resources[1:])
    service = _one(resources, T.RUN_SERVICE, "svc-api")
    assert get_path(service, "template.scaling") == {"maxInstanceCount": 9, "minInstanceCount": 2}
    assert get_path(service, "template.containers.0.resources.startupCpuBoost") is True
    assert get_path(service, "template.containers.0.startupProbe.httpGet.path") == "/readyz"
    assert get_path(service, "template.containers.0.livenessProbe.httpGet.path") == "/healthz"
    assert get_path(service, "template.labels.svai-model-version") == VERSION
    assert get_path(service, "template.serviceAccount").startswith("sa-api@")
    # Authenticated by default: with auth "iam" nobody is granted invoke by svai.
    assert not [r for r in resources if r.type == T.RUN_IAM]


def test_cloud_run_l4_service_is_recorded_with_gpu_settings() -> None:
    service = _one(_record(_gpu_plan()), T.RUN_SERVICE, "svc-api")
    assert get_path(service, "template.nodeSelector.accelerator") == "nvidia-l4"
    limits = get_path(service, "template.containers.0.resources.limits")
    assert limits == {"cpu": "4", "memory": "16384Mi", "nvidia.com/gpu": "1"}
    assert get_path(service, "template.containers.0.resources.cpuIdle") is False
    assert get_path(service, "template.executionEnvironment") == "EXECUTION_ENVIRONMENT_GEN2"
    assert get_path(service, "template.scaling.maxInstanceCount") == 3


def test_cloud_run_function_is_recorded_with_invoker_behind_the_gateway() -> None:
    resources = _record(sync_plan("gcp", "gcp.cloudrun.functions", auth="api-key"))
    fn = _one(resources, T.FUNCTION, "fn-api")
    assert get_path(fn, "buildConfig.runtime") == "python312"
    assert get_path(fn, "serviceConfig.maxInstanceCount") == 20
    assert get_path(fn, "serviceConfig.secretEnvironmentVariables.0.secret") == "hf-token"
    invoke = _one(resources, T.RUN_IAM, "iam-gateway-invoke-api")
    assert invoke["name"] == fn["name"] and invoke["role"] == "roles/run.invoker"
    assert invoke["member"].startswith("serviceAccount:sa-gateway@")
    config = _one(resources, T.API_CONFIG, "api-config")
    backend = get_path(config, "gatewayConfig.backendConfig.googleServiceAccount")
    assert backend.startswith("sa-gateway@")
    assert _one(resources, T.GATEWAY, "gateway")["region"] == "us-central1"


def test_vertex_endpoint_is_recorded_and_pending_actions_are_on_the_component() -> None:
    key = "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"
    resources = _record(sync_plan("gcp", "gcp.vertex.online_prediction", customer_key=key))
    endpoint = _one(resources, T.VERTEX_ENDPOINT, "endpoint-api")
    assert endpoint["dedicatedEndpointEnabled"] is True
    assert get_path(endpoint, "encryptionSpec.kmsKeyName") == key
    pending = resources[0].inputs["pendingActions"]
    assert [a["id"] for a in pending] == ["vertex.upload_model", "vertex.deploy_model"]
    assert pending[1]["url"].endswith(f"/endpoints/{endpoint['name']}:deployModel")
    assert not [r for r in resources if r.type in (T.RUN_SERVICE, T.FUNCTION)]


def test_async_plan_is_recorded_with_queue_dlq_store_and_alerts() -> None:
    resources = _record(async_plan("gcp", "gcp.cloudrun.service", worker_timeout_s=300.0))
    assert resources[0].type == "svai:gcp:AsyncDeployment"
    sub = _one(resources, T.SUBSCRIPTION, "sub-jobs")
    assert sub["ackDeadlineSeconds"] == 300
    assert get_path(sub, "deadLetterPolicy.maxDeliveryAttempts") == 5
    assert get_path(sub, "pushConfig.pushEndpoint").endswith("/_svai/pubsub")
    assert get_path(sub, "pushConfig.oidcToken.serviceAccountEmail").startswith("sa-push@")
    dlq_publish = _one(resources, T.TOPIC_IAM, "iam-pubsub-dlq-publish")
    assert dlq_publish["topic"] == "summarize-jobs-dlq"
    assert dlq_publish["role"] == "roles/pubsub.publisher"
    push_invoke = _one(resources, T.RUN_IAM, "iam-push-invoke-worker")
    assert push_invoke["name"] == "summarize-worker"
    assert _one(resources, T.FIRESTORE_FIELD, "ttl-results")["field"] == "expires_at"
    worker = _one(resources, T.RUN_SERVICE, "svc-worker")
    assert get_path(worker, "template.timeout") == "300s"
    alerts = [r for r in resources if r.type == T.ALERT_POLICY]
    assert {r.name for r in alerts} >= {"alert-queue-age", "alert-dlq-depth", "alert-latency-p99"}


def test_recording_twice_is_identical() -> None:
    plan = async_plan("gcp", auth="api-key")
    first = [dataclasses.asdict(r) for r in _record(plan)]
    second = [dataclasses.asdict(r) for r in _record(plan)]
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_a_fresh_process_with_another_hash_seed_records_the_same_and_no_other_sdk() -> None:
    plan = async_plan("gcp", auth="jwt")
    here = json.dumps([dataclasses.asdict(r) for r in _record(plan)], sort_keys=True)
    script = (
        f"import json,sys,dataclasses;sys.path.insert(0,{HERE!r});"
        "from plans import async_plan;from svai.backends.registry import get_backend;"
        "from svai.backends.preview import record;b=get_backend('gcp');"
        "b.billing_account='000000-111111-222222';p=async_plan('gcp',auth='jwt');"
        "print(json.dumps([dataclasses.asdict(r) for r in record(lambda: b.program(p))],"
        "sort_keys=True));"
        "print(sorted(m for m in ('pulumi_aws','pulumi_azure_native','pulumi_gcp') if m in sys.modules))"
    )
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
    ).stdout.splitlines()
    assert out[0] == here
    assert out[1] == "[]"


@pytest.mark.parametrize(
    "plan",
    [
        sync_plan("gcp"),
        sync_plan("gcp", "gcp.cloudrun.functions", auth="jwt"),
        async_plan("gcp", "gcp.cloudrun.service", auth="api-key"),
    ],
    ids=["run", "functions", "async"],
)
def test_canary_secret_never_reaches_recorded_inputs(
    plan: DeploymentPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The value is within the program's reach; only the Secret Manager reference may be used.
    monkeypatch.setenv("HF_TOKEN", CANARY_SECRET)
    resources = _record(plan)
    text = json.dumps([dataclasses.asdict(r) for r in resources])
    assert CANARY_SECRET not in text
    assert "hf-token" in text


def _dict_names(annotation: object) -> list[str]:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return re.findall(r"(\w+ArgsDict)", text)


_FREE_MAPS = {"limits", "labels", "user_labels", "environment_variables", "node_selector"}


def _unknown_keys(value: object, names: list[str], package: Any, path: str) -> list[str]:
    """Keys of ``value`` that the pulumi-gcp input TypedDicts ``names`` do not declare."""
    if isinstance(value, list):
        return [k for item in value for k in _unknown_keys(item, names, package, path + "[]")]
    if not isinstance(value, dict) or not names or path.rsplit(".", 1)[-1] in _FREE_MAPS:
        return []
    declared: dict[str, object] = {}
    for name in names:
        declared |= getattr(package._inputs, name).__annotations__
    unknown = []
    for key, item in value.items():
        if key not in declared:
            unknown.append(f"{path}.{key}")
        else:
            unknown += _unknown_keys(item, _dict_names(declared[key]), package, f"{path}.{key}")
    return unknown


@pytest.mark.parametrize(
    "plan",
    [
        sync_plan("gcp", auth="api-key", canary=True, cache=True),
        _gpu_plan(),
        sync_plan("gcp", "gcp.cloudrun.functions", auth="jwt"),
        sync_plan("gcp", "gcp.vertex.online_prediction", customer_key="k"),
        async_plan("gcp", "gcp.cloudrun.service", auth="none"),
        async_plan("gcp", auth="api-key", customer_key="k"),
        dataclasses.replace(sync_plan("gcp", auth="api-key", customer_key="k"), account="acme"),
        dataclasses.replace(async_plan("gcp", "gcp.cloudrun.service"), account="acme"),
    ],
    ids=[
        "run",
        "gpu",
        "functions",
        "vertex",
        "async-run",
        "async-functions",
        "run-project",
        "async-project",
    ],
)
def test_every_lowered_argument_is_one_pulumi_gcp_declares(plan: DeploymentPlan) -> None:
    # Pulumi passes unknown keys of a nested dict through silently; the provider then rejects
    # (or ignores) them at deploy time, so the names are checked against the SDK here.
    unknown: list[str] = []
    for spec in lower(plan, billing_account=BILLING).resources():
        ctor = _constructor(spec.token)
        package = sys.modules[ctor.__module__.rsplit(".", 1)[0]]
        declared = ctor._internal_init.__annotations__  # type: ignore[attr-defined]
        for key, value in spec.args.items():
            if key not in declared:
                unknown.append(f"{spec.token}.{key}")
            else:
                unknown += _unknown_keys(value, _dict_names(declared[key]), package, spec.token)
    assert unknown == []


def test_the_argument_check_catches_a_misspelt_key() -> None:
    ctor = _constructor(T.RUN_SERVICE)
    package = sys.modules[ctor.__module__.rsplit(".", 1)[0]]
    template = ctor._internal_init.__annotations__["template"]  # type: ignore[attr-defined]
    wrong = {"scaling": {"min_instances": 1}, "containers": [{"resources": {"cpu_idel": True}}]}
    assert _unknown_keys(wrong, _dict_names(template), package, "t") == [
        "t.scaling.min_instances",
        "t.containers[].resources.cpu_idel",
    ]


def test_every_token_names_a_pulumi_gcp_resource_class() -> None:
    for name in T.__all__:
        token = getattr(T, name)
        if isinstance(token, str):
            assert _constructor(token).__name__ == token.rsplit(":", 1)[1]


def test_a_named_project_gives_exact_identities_without_outputs() -> None:
    plan = dataclasses.replace(async_plan("gcp", "gcp.cloudrun.service"), account="acme-ml")
    resources = _record(plan)
    worker = _one(resources, T.RUN_SERVICE, "svc-worker")
    email = "summarize-worker@acme-ml.iam.gserviceaccount.com"
    assert get_path(worker, "template.serviceAccount") == email
    assert get_path(worker, "template.containers.0.image") == (
        "us-central1-docker.pkg.dev/acme-ml/summarize/worker:mv-3f2a9c1d0"
    )
    sub = _one(resources, T.SUBSCRIPTION, "sub-jobs")
    assert get_path(sub, "deadLetterPolicy.deadLetterTopic") == (
        "projects/acme-ml/topics/summarize-jobs-dlq"
    )
    read = _one(resources, T.BUCKET_IAM, "iam-worker-artifact-read-artifact")
    assert read["member"] == f"serviceAccount:{email}"
    assert "project" not in read
    assert all(r.inputs.get("project") in (None, "acme-ml", "svai-project") for r in resources)
