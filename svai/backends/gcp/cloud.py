"""Google Cloud as one :class:`~svai.backends.cloud.Cloud`: credentials, SDK and mocks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from svai.backends.cloud import Cloud, Mocks, SplitInputs, any_set, by_token

if TYPE_CHECKING:
    from svai.backends.base import Backend, RecordedResource
    from svai.ir import DeploymentPlan

__all__ = ["CLOUD"]

_PROJECT = "svai-project"


def _credentials(env: Mapping[str, str], home: Path) -> bool:
    adc = home / ".config" / "gcloud" / "application_default_credentials.json"
    return (
        any_set(
            env,
            ("GOOGLE_APPLICATION_CREDENTIALS",),
            ("GOOGLE_CREDENTIALS",),
            ("GOOGLE_OAUTH_ACCESS_TOKEN",),
        )
        or adc.is_file()
    )


def _outputs(token: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Plausible pulumi-gcp outputs: resource paths, service URLs and account emails."""
    module = token.partition(":")[2].split("/", 1)[0].split(":", 1)[0].lower()
    physical = str(inputs.get("name") or name)
    base = f"projects/{_PROJECT}/locations/us-central1/{module}/{physical}"
    return {
        "id": base,
        "name": physical,
        "selfLink": f"https://www.googleapis.com/{module}/v1/{base}",
        "uri": f"https://{physical}-uc.a.run.app",
        "url": f"https://{physical}-uc.a.run.app",
        "email": f"{physical}@{_PROJECT}.iam.gserviceaccount.com",
        "member": f"serviceAccount:{physical}@{_PROJECT}.iam.gserviceaccount.com",
        "project": _PROJECT,
    }


@runtime_checkable
class _DeploysAfterUp(Protocol):
    """The GCP backend's side of the hook (importing it here would make an import cycle)."""

    def after_up(self, plan: DeploymentPlan) -> dict[str, Any]:
        """Make the calls Pulumi cannot once the stack is up."""
        ...


def _after_up(backend: Backend, plan: DeploymentPlan) -> dict[str, Any]:
    """Deploy the Vertex models the stack's endpoints wait for (``GcpBackend.after_up``)."""
    if not isinstance(backend, _DeploysAfterUp):
        raise TypeError(f"the GCP steps after up need the GCP backend, not {backend!r}")
    return backend.after_up(plan)


_CLOUD_RUN_SPLIT = by_token({"gcp:cloudrunv2/service:Service": (("traffics",),)})


def _traffic(resource: RecordedResource) -> tuple[SplitInputs, ...]:
    """Cloud Run's ``traffics``, and the ``trafficSplit`` of each pending Vertex deployModel.

    Vertex AI has no Pulumi resource for a custom model's deployment: its traffic split travels
    in the deployModel request svai leaves as a pending action of the deployment's component.
    """
    actions = resource.inputs.get("pendingActions")
    if not (resource.type.startswith("svai:gcp:") and isinstance(actions, Sequence)):
        return _CLOUD_RUN_SPLIT(resource)
    return tuple(
        (("deployModel.trafficSplit", action.get("body", {}).get("trafficSplit")),)
        for action in actions
        if isinstance(action, Mapping) and action.get("id") == "vertex.deploy_model"
    )


_RUN = frozenset({"gcp.cloudrun.service", "gcp.cloudrun.functions"})

CLOUD = Cloud(
    name="gcp",
    backend="svai.backends.gcp.backend:GcpBackend",
    sdk="pulumi_gcp",
    region_key="gcp:region",
    rule_prefix="GCP",
    registry_login="gcloud auth configure-docker {registry}",
    credentials=_credentials,
    missing_credentials=(
        "no Google Cloud credentials: run `gcloud auth application-default login`, or set "
        "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file; set GOOGLE_PROJECT "
        "to the project to deploy into"
    ),
    offerings=_RUN | {"gcp.vertex.endpoint"},
    # Pub/Sub pushes to Cloud Run, not to a Vertex endpoint.
    async_workers=_RUN,
    mocks=Mocks(
        outputs=_outputs,
        invokes={"gcp:organizations/getProject:getProject": {"projectId": _PROJECT, "number": "1"}},
    ),
    gate_routes="services",
    traffic=_traffic,
    after_up=_after_up,
)
"""Google Cloud."""
