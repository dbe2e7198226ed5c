"""SageMaker's deployment guardrails run a real-time endpoint's release; svai reads where it stands.

Where guardrails can express a release's steps (:func:`svai.backends.aws.arguments.
guardrails_shift`), the endpoint config holds one variant, the plan's own version, and the
endpoint a blue/green ``deployment_config`` with auto-rollback on the release's alarms: the
``up`` that applies the new config is itself the release, SageMaker shifting the traffic from
the old fleet to the new one. The stack exports each such endpoint with the config it applied
(``aws_guardrails_<service>``).

* :func:`start`: after ``up``, record each endpoint and that config under the release (as a
  deployment ``sagemaker:<endpoint>/<config>``), with where it stands now.
* :func:`read`: where they stand (``DescribeEndpoint``), for ``svai promote``. It relies on
  the documented ``EndpointStatus``, ``EndpointConfigName`` and ``FailureReason``: ``Updating``
  or ``SystemUpdating`` is still shifting; ``InService`` on the recorded config succeeded;
  ``InService`` on another config (SageMaker's auto-rollback leaves the endpoint on the old
  one, with a ``FailureReason``), ``Failed`` or ``UpdateRollbackFailed`` rolled back.
* No stop: SageMaker has no call that stops an endpoint update mid-way (CodeDeploy's
  ``StopDeployment`` has no SageMaker counterpart), so a person's ``svai rollback`` routes as
  before: its ``up`` updates the endpoint back to the previous version.

No Pulumi; boto3 is imported when a call is made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from svai.backends.aws.arguments import guardrails_shift
from svai.backends.aws.codedeploy import calling, client, exported, recorded
from svai.backends.cloud import Shifted
from svai.compiler.release_state import ReleaseState
from svai.ir import DeploymentPlan

__all__ = [
    "MARK",
    "OUTPUT_PREFIX",
    "Endpoint",
    "endpoints_in",
    "others",
    "read",
    "start",
]

OUTPUT_PREFIX = "aws_guardrails_"
"""Stack output ``aws_guardrails_<service>``: the endpoint and the config ``up`` applied."""
MARK = "sagemaker:"
"""How the release state tells an endpoint update (``sagemaker:<endpoint>/<config>``) from a
CodeDeploy deployment id."""

_SHIFTING = frozenset({"Updating", "SystemUpdating", "Creating"})
_ROLLED_BACK = frozenset({"Failed", "UpdateRollbackFailed", "RollingBack"})


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A real-time endpoint whose guardrails shift a release, and the config ``up`` applied.

    Attributes:
        service: The service.
        region: The AWS region.
        endpoint: The endpoint's name.
        config: The endpoint config the release's ``up`` applied (the candidate's).
    """

    service: str
    region: str
    endpoint: str
    config: str

    @property
    def where(self) -> str:
        """How the release state keys this endpoint's update: ``us-east-1/predict``."""
        return f"{self.region}/{self.service}"

    @property
    def deployment(self) -> str:
        """The update as the release state records it: ``sagemaker:<endpoint>/<config>``."""
        return f"{MARK}{self.endpoint}/{self.config}"

    def output(self) -> dict[str, str]:
        """The value of its stack output (:func:`endpoints_in` reads it back)."""
        return dataclasses.asdict(self)


def endpoints_in(outputs: Mapping[str, Any]) -> tuple[Endpoint, ...]:
    """The endpoints a stack exports (``aws_guardrails_<service>``), by output name.

    Raises:
        svai.errors.UsageError: such an output lacks a field (not written by this svai).
    """
    return exported(outputs, OUTPUT_PREFIX, Endpoint, "a guarded endpoint")


def others(state: ReleaseState) -> ReleaseState:
    """``state`` without the endpoint updates: what CodeDeploy's hooks read and stop."""
    kept = {
        version: {w: d for w, d in ids.items() if not d.startswith(MARK)}
        for version, ids in state.deployments.items()
    }
    return dataclasses.replace(state, deployments=kept)


def start(
    plan: DeploymentPlan, state: ReleaseState, outputs: Mapping[str, Any]
) -> tuple[Shifted, ...]:
    """Record each guarded endpoint of ``plan`` and the config ``up`` applied, as it stands.

    Raises:
        svai.errors.ToolMissingError: no AWS credentials.
        svai.errors.DeployError: SageMaker refused the read.
    """
    if not guardrails_shift(plan) or state.deployed is None:
        return ()
    return tuple(
        _describe(endpoint) for endpoint in endpoints_in(outputs) if endpoint.region == plan.region
    )


def read(state: ReleaseState) -> tuple[Shifted, ...]:
    """Where the endpoint updates recorded for the release in progress stand.

    Raises:
        svai.errors.ToolMissingError: no AWS credentials.
        svai.errors.DeployError: SageMaker refused the read.
    """
    found = []
    for where, deployment in recorded(state):
        if deployment.startswith(MARK):
            region, _, service = where.partition("/")
            name, _, config = deployment.removeprefix(MARK).partition("/")
            found.append(_describe(Endpoint(service, region, name, config)))
    return tuple(found)


def _describe(endpoint: Endpoint) -> Shifted:
    """``DescribeEndpoint`` of ``endpoint`` as a :class:`Shifted` towards its config."""
    with calling(f"reading SageMaker endpoint {endpoint.endpoint} in {endpoint.region}"):
        info = client("sagemaker", endpoint.region).describe_endpoint(
            EndpointName=endpoint.endpoint
        )
    return _shifted(endpoint, info)


def _shifted(endpoint: Endpoint, info: Mapping[str, Any]) -> Shifted:
    """A ``DescribeEndpoint`` answer as a :class:`Shifted` of the update to its config."""
    config = endpoint.config
    status = str(info.get("EndpointStatus", ""))
    serving = str(info.get("EndpointConfigName", ""))
    reason = str(info.get("FailureReason") or "")
    outcome: Literal["shifting", "succeeded", "rolled-back"] = "shifting"
    if status in _ROLLED_BACK or (status == "InService" and (serving != config or reason)):
        outcome = "rolled-back"
    elif status == "InService":
        outcome = "succeeded"
    elif status not in _SHIFTING:
        outcome = "rolled-back"  # OutOfService, Deleting: not serving the release
    line = f"{endpoint.region} SageMaker endpoint {endpoint.endpoint}: {status} on {serving}"
    why = [reason] if reason else []
    if outcome == "rolled-back":
        why.insert(0, f"the guardrails did not finish the update to {config}")
    if why:
        line += " (" + "; ".join(why) + ")"
    return Shifted(endpoint.where, endpoint.deployment, status, outcome, line)
