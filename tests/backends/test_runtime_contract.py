"""The settings each backend gives a service are the ones the runtime reads.

The GCP and Azure programs are recorded under mocks; each service's environment is taken from
the recorded resource (Cloud Run containers, Cloud Run functions, Container Apps, function apps)
plus what the platform itself sets (managed-identity endpoint, ``PORT``), and the runtime's own
constructors are built from it: the job front's queue and store, the queue worker attachment,
the shared cache. A name that drifts on either side fails here, not in a deployment.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from plans import async_plan, sync_plan

from svai.backends.azure import AzureBackend
from svai.backends.base import RecordedResource
from svai.backends.gcp import GcpBackend
from svai.backends.preview import record
from svai.ir import DeploymentPlan
from svai.runtime.cloud import azure, gcp
from svai.runtime.core import Service, load_config
from svai.runtime.core.cache import open_store
from svai.runtime.entry.pubsub import PushWorker
from svai.runtime.entry.servicebus import ServiceBusWorker
from svai.runtime.entry.stores import STORES
from svai.runtime.server.attach import worker_attachment

# What the platforms set in every instance, beside the backend's settings.
AZURE_PLATFORM = {"IDENTITY_ENDPOINT": "http://localhost:42356/msi/token", "IDENTITY_HEADER": "h"}
GCP_PLATFORM = {"K_SERVICE": "svc", "PORT": "8080"}


def _envs(resources: tuple[RecordedResource, ...]) -> dict[str, dict[str, str]]:
    """Service name -> the plain environment the backend gave it."""
    found: dict[str, dict[str, str]] = {}
    for r in resources:
        pairs: list[Mapping[str, Any]] = []
        if r.type == "azure-native:app:ContainerApp":
            pairs = r.inputs["template"]["containers"][0]["env"]
            role = r.inputs["containerAppName"].rsplit("-", 1)[-1]
        elif r.type == "azure-native:web:WebApp":
            pairs = r.inputs["siteConfig"]["appSettings"]
            role = next(p["value"] for p in pairs if p["name"] == "SVAI_SERVICE_ROLE")
        elif r.type == "gcp:cloudrunv2/service:Service":
            pairs = r.inputs["template"]["containers"][0].get("envs", [])
            role = next(p["value"] for p in pairs if p["name"] == "SVAI_SERVICE_ROLE")
        elif r.type == "gcp:cloudfunctionsv2/function:Function":
            env = r.inputs["serviceConfig"].get("environmentVariables", {})
            pairs = [{"name": k, "value": v} for k, v in env.items()]
            role = env["SVAI_SERVICE_ROLE"]
        else:
            continue
        found[role] = {p["name"]: str(p["value"]) for p in pairs if "value" in p}
    return found


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Service:
    """A runtime service (never loaded: the attachments only read its config)."""
    folder = tmp_path_factory.mktemp("cfg")
    config = {"schema_version": 1, "model": {"path": "model.onnx", "version": "v1"}}
    (folder / "svai_runtime.json").write_text(json.dumps(config))
    return Service.from_config(load_config(folder))


def _record(backend: Callable[[], Any], plan: DeploymentPlan) -> dict[str, dict[str, str]]:
    program = backend()
    return _envs(record(lambda: program.program(plan)))


def _project(plan: DeploymentPlan) -> DeploymentPlan:
    # With no project in the target the runtime asks the metadata server, which tests lack.
    return dataclasses.replace(plan, account="acme-ml")


AZURE = lambda: AzureBackend()  # noqa: E731 - a factory per recording
GCP = lambda: GcpBackend(billing_account="000000-000000-000000")  # noqa: E731


@pytest.mark.parametrize(
    ("backend", "plan", "platform"),
    [
        (AZURE, async_plan("azure", "azure.containerapps.consumption"), AZURE_PLATFORM),
        (AZURE, async_plan("azure", "azure.functions.flex_consumption"), AZURE_PLATFORM),
        (GCP, _project(async_plan("gcp", "gcp.cloudrun.service")), GCP_PLATFORM),
    ],
    ids=["azure-container-worker", "azure-functions-worker", "gcp-run-worker"],
)
def test_async_services_find_their_queue_and_store(
    backend: Callable[[], Any],
    plan: DeploymentPlan,
    platform: dict[str, str],
    service: Service,
) -> None:
    envs = _record(backend, plan)
    assert {"submit", "status", "worker"} <= set(envs)
    cloud = gcp if plan.cloud == "gcp" else azure
    for role in ("submit", "status"):
        env = {**envs[role], **platform}
        queue = cloud.PubSubQueue if plan.cloud == "gcp" else cloud.ServiceBusQueue
        store = cloud.FirestoreJobStore if plan.cloud == "gcp" else cloud.CosmosJobStore
        assert isinstance(store.from_environment(env), store)
        if role == "submit":
            assert isinstance(queue.from_environment(env), queue)
    worker = {**envs["worker"], **platform}
    if plan.cloud == "gcp":
        assert isinstance(worker_attachment(service, worker), PushWorker)
    elif "SVAI_QUEUE_KIND" in worker:  # a container worker runs the receive loop itself
        assert isinstance(worker_attachment(service, worker), ServiceBusWorker)
    else:  # a Functions worker: the host receives; the trigger's settings must be there
        assert worker["ServiceBusConnection__fullyQualifiedNamespace"].endswith(
            ".servicebus.windows.net"
        )
        assert worker["SVAI_SERVICEBUS_QUEUE"]
        assert isinstance(azure.CosmosJobStore.from_environment(worker), azure.CosmosJobStore)


@pytest.mark.parametrize(
    ("backend", "plan", "platform", "url", "store"),
    [
        (
            AZURE,
            sync_plan("azure", "azure.containerapps.consumption", cache=True),
            AZURE_PLATFORM,
            "cosmos://",
            azure.CosmosCacheStore,
        ),
        (
            GCP,
            _project(sync_plan("gcp", "gcp.cloudrun.service", cache=True)),
            GCP_PLATFORM,
            "firestore://",
            gcp.FirestoreCacheStore,
        ),
    ],
    ids=["azure", "gcp"],
)
def test_the_serving_service_finds_the_shared_cache(
    backend: Callable[[], Any],
    plan: DeploymentPlan,
    platform: dict[str, str],
    url: str,
    store: type,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    env = {**_record(backend, plan)["api"], **platform}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    opened = open_store(url, tmp_path, STORES)
    assert isinstance(opened, store)
