"""SageMaker's guardrails run a real-time endpoint's release: svai records it and reads its outcome.

On moto's server on 127.0.0.1: the endpoint serves A's config, and ``up`` has applied B's (as
the stack outputs say, ``aws_guardrails_<service>``). The AWS cloud's own shift hooks (the ones
``svai apply`` and ``svai promote`` call) record the endpoint and read ``DescribeEndpoint``.

moto has no ``UpdateEndpoint`` and runs no blue/green update, watches no alarm: the update
``up`` made (the endpoint on B's config), and where
SageMaker would be mid-update, or would have rolled back on an alarm (the endpoint back on A's
config, ``InService``, with a ``FailureReason``), that is set in moto's own state, the one its
server answers ``DescribeEndpoint`` from; what svai reads is then checked.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from svai.backends.aws import guardrails
from svai.backends.aws.cloud import CLOUD
from svai.backends.cloud import ShiftHooks
from svai.compiler.release_state import ReleaseState
from svai.ir import DeploymentPlan
from tests.backends.plans import sync_plan
from tests.release.test_release_cli import moto_lambda  # noqa: F401 - the fixture

ACCOUNT = "123456789012"
ENDPOINT = "sentiment-api"
OLD, NEW = f"{ENDPOINT}-config-a", f"{ENDPOINT}-config-b"


def _hooks() -> ShiftHooks:
    assert CLOUD.release is not None and CLOUD.release.shift is not None
    return CLOUD.release.shift


def _plan(steps: tuple[int, ...] = (10, 100)) -> DeploymentPlan:
    plan = sync_plan("aws", "aws.sagemaker.realtime", canary=True)
    rollout = dataclasses.replace(plan.rollout, strategy="canary", steps=steps)
    return dataclasses.replace(plan, rollout=rollout)


def _state(plan: DeploymentPlan) -> ReleaseState:
    """B deployed as the candidate of a release in progress over A."""
    a, b = (s.version for s in sorted(plan.rollout.split, key=lambda s: s.percent, reverse=True))
    return ReleaseState(
        name="sentiment",
        environment="dev",
        status="in-progress",
        strategy="canary",
        steps=plan.rollout.steps,
        deployed=b,
        serving=a,
        candidate=b,
        previous=a,
        split=((b, 10), (a, 90)),
        versions=(a, b),
    )


@pytest.fixture
def sagemaker(moto_lambda: Any) -> Any:  # noqa: F811 - the fixture
    """moto on 127.0.0.1 with the endpoint updated from A's config to B's, as ``up`` left it.

    ``moto_lambda`` starts the server, points boto3 at it and resets it after the test; no
    function is created.
    """
    import boto3

    client = boto3.client("sagemaker", region_name=_plan().region)
    for config, version in ((OLD, "a"), (NEW, "b")):
        client.create_model(
            ModelName=f"{ENDPOINT}-{version}",
            ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/endpoint",
            PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/x:{version}"},
        )
        client.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[
                {
                    "VariantName": "live",
                    "ModelName": f"{ENDPOINT}-{version}",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )
    client.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=OLD)
    _set(_plan().region, endpoint_config_name=NEW)  # `up`'s UpdateEndpoint, which moto lacks
    return client


def _set(region: str, **fields: Any) -> None:
    """Where SageMaker would have the endpoint, set in moto's state (moto runs no update)."""
    from moto.sagemaker.models import sagemaker_backends

    endpoint = sagemaker_backends[ACCOUNT][region].endpoints[ENDPOINT]
    for name, value in fields.items():
        setattr(endpoint, name, value)


def _outputs(plan: DeploymentPlan) -> dict[str, Any]:
    endpoint = guardrails.Endpoint("api", plan.region, ENDPOINT, NEW)
    return {f"{guardrails.OUTPUT_PREFIX}api": endpoint.output()}


def _started(plan: DeploymentPlan) -> ReleaseState:
    """``apply``'s start, recorded in the state as ``svai.release`` records it."""
    state = _state(plan)
    started = _hooks().start(plan, state, _outputs(plan))
    assert state.deployed is not None
    return dataclasses.replace(
        state, deployments={state.deployed: {s.where: s.deployment for s in started}}
    )


def test_apply_records_the_endpoint_and_the_config_up_applied(sagemaker: Any) -> None:
    plan = _plan()
    _set(plan.region, endpoint_status="Updating")
    (shift,) = _hooks().start(plan, _state(plan), _outputs(plan))
    assert (shift.where, shift.deployment) == (f"{plan.region}/api", f"sagemaker:{ENDPOINT}/{NEW}")
    assert (shift.status, shift.outcome) == ("Updating", "shifting")


def test_steps_guardrails_cannot_run_record_nothing(sagemaker: Any) -> None:
    plan = _plan((5, 25, 100))
    assert _hooks().start(plan, _state(plan), _outputs(plan)) == ()


@pytest.mark.parametrize(
    ("fields", "outcome"),
    [
        ({"endpoint_status": "Updating"}, "shifting"),
        ({"endpoint_status": "SystemUpdating"}, "shifting"),
        ({}, "succeeded"),  # InService on B's config: the update finished
        (
            {
                "endpoint_config_name": OLD,
                "failure_reason": "Alarm sentiment-api-rollback-p99 fired; rolled back",
            },
            "rolled-back",
        ),
        ({"endpoint_config_name": OLD}, "rolled-back"),  # back on A's config after the update
        ({"endpoint_status": "Failed", "failure_reason": "capacity"}, "rolled-back"),
        ({"endpoint_status": "UpdateRollbackFailed"}, "rolled-back"),
    ],
)
def test_promote_reads_where_the_guardrails_stand(
    sagemaker: Any, fields: dict[str, Any], outcome: str
) -> None:
    plan = _plan()
    state = _started(plan)
    _set(plan.region, **fields)
    (shift,) = _hooks().read(state)
    assert shift.outcome == outcome
    assert shift.status == fields.get("endpoint_status", "InService")
    assert f"SageMaker endpoint {ENDPOINT}" in shift.line
    if "failure_reason" in fields:
        assert fields["failure_reason"] in shift.line


def test_a_person_cannot_stop_an_endpoint_update(sagemaker: Any) -> None:
    plan = _plan()
    state = _started(plan)
    _set(plan.region, endpoint_status="Updating")
    # No SageMaker call stops an update: the rollback's own `up` routes the endpoint back.
    assert _hooks().stop(state) == ()
    assert sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "Updating"


def test_nothing_is_read_once_the_release_is_over(sagemaker: Any) -> None:
    state = dataclasses.replace(_started(_plan()), status="complete", candidate=None)
    assert _hooks().read(state) == ()
