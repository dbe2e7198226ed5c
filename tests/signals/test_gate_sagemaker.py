"""Under the AWS scheduled gate the job moves a SageMaker endpoint's variant weights too.

moto's SageMaker keeps endpoints with their production variants and applies
``UpdateEndpointWeightsAndCapacities`` (refusing a variant the endpoint does not have), which is
all the job calls. The endpoint starts where ``svai apply`` leaves a 10% canary of B on a
``[10, 50, 100]`` rollout (guardrails cannot run those steps): variant ``live`` (B, the plan's
own version) at 0.1 and ``previous`` (A) at 0.9; the route is shaped as the AWS backend exports
it. After one ``svai gate --once`` and no other command the weights are where the decision says.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import boto3
import pytest
from signal_fakes import (
    SERVICE,
    ingest_emf,
    moto_env,  # noqa: F401 - the fixture, used by name
    request_lines,
)
from test_gate_job import A, B, gate_once, released, s3_url  # noqa: F401 - s3_url: fixture
from test_promote_live import svai

from svai.backends import gate as backend_gate
from svai.backends.aws.deployments import endpoint_arn
from svai.controller import job, sync
from svai.controller.store import open_bucket

ENDPOINT = f"{SERVICE}-predict"
REGION = "us-east-1"


def deploy_canary(url: str, *, variants: tuple[str, str] = ("live", "previous")) -> Any:
    """B's variant at 10%, A's at 90%; the state and the policy (with the route) say so."""
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    role = "arn:aws:iam::123456789012:role/endpoint"
    for version in (A, B):
        sagemaker.create_model(
            ModelName=f"{ENDPOINT}-{version}",
            ExecutionRoleArn=role,
            PrimaryContainer={"Image": f"123456789012.dkr.ecr.{REGION}.amazonaws.com/x:{version}"},
        )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{ENDPOINT}-config",
        ProductionVariants=[
            {
                "VariantName": name,
                "ModelName": f"{ENDPOINT}-{version}",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": weight,
            }
            for name, version, weight in (("live", B, 0.1), ("previous", A, 0.9))
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"{ENDPOINT}-config")
    state, policy = released(("aws", REGION))
    arn = endpoint_arn(REGION, "123456789012", ENDPOINT)
    entry = backend_gate.route("aws", arn, dict(zip((B, A), variants, strict=True)))
    routes = sync.routes_in({f"aws_{REGION}{backend_gate.ROUTES_SUFFIX}": [entry]})
    bucket = open_bucket(url)
    job.write_state(bucket, state)
    job.write_policy(bucket, dataclasses.replace(policy, routes=routes))
    return sagemaker


def weights(sagemaker: Any) -> dict[str, float]:
    described = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    return {v["VariantName"]: v["CurrentWeight"] for v in described["ProductionVariants"]}


FAILING = [(500 if n % 5 == 0 else 200, 40.0, False) for n in range(150)]
HEALTHY = [(200, 40.0, False)] * 150


@pytest.mark.parametrize(
    ("outcomes", "verdict", "weighed"),
    [
        (FAILING, "rollback", {"live": 0.0, "previous": 1.0}),  # all back on A's variant
        (HEALTHY, "advance", {"live": 0.5, "previous": 0.5}),  # the next step
    ],
    ids=["failing", "healthy"],
)
def test_the_gate_job_weighs_the_endpoint_s_variants_as_it_decides(
    s3_url: str,  # noqa: F811 - the fixture
    outcomes: list[tuple[int, float, bool]],
    verdict: str,
    weighed: dict[str, float],
) -> None:
    sagemaker = deploy_canary(s3_url)
    assert weights(sagemaker) == {"live": 0.1, "previous": 0.9}
    ingest_emf(boto3.client("cloudwatch", region_name=REGION), request_lines(B, outcomes))
    run = gate_once(s3_url)
    assert run["verdict"] == verdict and run["written"], run
    assert weights(sagemaker) == weighed
    arn = endpoint_arn(REGION, "123456789012", ENDPOINT)
    live, previous = round(weighed["live"] * 100), round(weighed["previous"] * 100)
    assert run["moved"] == [f"{arn} -> previous {previous}%, live {live}%"]  # the split's order


def test_when_sagemaker_refuses_nothing_is_written(
    s3_url: str,  # noqa: F811 - the fixture
) -> None:
    # A policy naming a variant the endpoint lacks: SageMaker refuses the whole update.
    sagemaker = deploy_canary(s3_url, variants=("live", "blue"))
    before = open_bucket(s3_url).get(job.state_name(SERVICE, "dev"))
    ingest_emf(boto3.client("cloudwatch", region_name=REGION), request_lines(B, FAILING))
    code, out = svai("gate", "--once", "--state-url", s3_url, "--window", "10m")
    assert code == 1 and "routing arn:aws:sagemaker:" in out and "blue" in out, out
    assert "Traceback" not in out
    assert open_bucket(s3_url).get(job.state_name(SERVICE, "dev")) == before
    assert weights(sagemaker) == {"live": 0.1, "previous": 0.9}
