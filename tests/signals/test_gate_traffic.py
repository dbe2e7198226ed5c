"""The gate job moves the traffic it decides: the Lambda ``live`` alias on moto's Lambda.

moto's Lambda keeps functions, published versions and aliases with their ``RoutingConfig``
(``UpdateAlias``/``GetAlias``), which is all the job touches; it runs on 127.0.0.1 beside the
S3 and CloudWatch the job already reads. The alias starts where ``svai apply`` leaves a 10%
canary (version 2 = B, version 1 = A at 90%); after one ``svai gate --once`` and no other
command, it is where the decision says.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
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

from svai.backends.aws.arguments import LIVE_ALIAS, lambda_name
from svai.compiler.release_state import ReleaseState
from svai.controller import aws as traffic
from svai.controller import job
from svai.controller.store import open_bucket
from svai.errors import UsageError

FUNCTION = lambda_name(SERVICE, "predict")


def deploy_canary(url: str) -> Any:
    """A's and B's Lambda versions with the alias at B's 10% canary; the state says so."""
    role = boto3.client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")
    lam = boto3.client("lambda", region_name="us-east-1")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as zipped:
        zipped.writestr("handler.py", "def handle(event, context):\n    return 'A'\n")
    lam.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="handler.handle",
        Code={"ZipFile": code.getvalue()},
    )
    assert lam.publish_version(FunctionName=FUNCTION)["Version"] == "1"
    lam.update_function_code(FunctionName=FUNCTION, ZipFile=code.getvalue())
    assert lam.publish_version(FunctionName=FUNCTION)["Version"] == "2"
    lam.create_alias(
        FunctionName=FUNCTION,
        Name=LIVE_ALIAS,
        FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {"1": 0.9}},
    )
    state, policy = released(("aws", "us-east-1"))
    numbers = {A: {"predict": "1"}, B: {"predict": "2"}}
    bucket = open_bucket(url)
    job.write_state(bucket, dataclasses.replace(state, lambda_versions=numbers))
    job.write_policy(bucket, policy)
    return lam


def alias(lam: Any) -> tuple[str, dict[str, float]]:
    live = lam.get_alias(FunctionName=FUNCTION, Name=LIVE_ALIAS)
    return live["FunctionVersion"], live["RoutingConfig"]["AdditionalVersionWeights"]


FAILING = [(500 if n % 5 == 0 else 200, 40.0, False) for n in range(150)]
HEALTHY = [(200, 40.0, False)] * 150
TOO_FEW = [(500, 40.0, False)] * 20


@pytest.mark.parametrize(
    ("outcomes", "verdict", "routed", "moved"),
    [
        # A failing canary: every request back on A (version 1), with no command run.
        (FAILING, "rollback", ("1", {}), ["version 1"]),
        # A healthy one: the next step's weight, 50% on A.
        (HEALTHY, "advance", ("2", {"1": 0.5}), ["version 2, version 1 at 50%"]),
        # Too few requests: the alias stays where apply left it.
        (TOO_FEW, "hold", ("2", {"1": 0.9}), []),
    ],
    ids=["failing", "healthy", "too-few"],
)
def test_the_gate_job_routes_the_alias_it_decides(
    s3_url: str,  # noqa: F811 - the fixture
    outcomes: list[tuple[int, float, bool]],
    verdict: str,
    routed: tuple[str, dict[str, float]],
    moved: list[str],
) -> None:
    lam = deploy_canary(s3_url)
    assert alias(lam) == ("2", {"1": 0.9})
    ingest_emf(boto3.client("cloudwatch", region_name="us-east-1"), request_lines(B, outcomes))
    run = gate_once(s3_url)
    assert run["verdict"] == verdict, run
    assert alias(lam) == routed
    assert run["moved"] == [f"us-east-1 {FUNCTION}:live -> {m}" for m in moved]
    assert traffic.read_route(FUNCTION, "us-east-1").line() == f"us-east-1 {FUNCTION}:live -> " + (
        moved[0] if moved else "version 2, version 1 at 90%"
    )


def test_an_unknown_lambda_number_is_refused_before_anything_moves() -> None:
    state, _ = released(("aws", "us-east-1"))
    only_b = dataclasses.replace(state, lambda_versions={B: {"predict": "2"}})
    with pytest.raises(UsageError, match=f"Lambda version number of {A} \\(predict\\)"):
        traffic.lambda_routes(only_b)


def test_routes_follow_the_backend_s_alias_computation() -> None:
    state, _ = released(("aws", "us-east-1"))
    numbers = {A: {"predict": "7", "status": "3"}, B: {"predict": "8", "status": "4"}}
    state = dataclasses.replace(state, lambda_versions=numbers)
    routes = traffic.lambda_routes(state)
    assert [(r.function, r.version, r.weights) for r in routes] == [
        (lambda_name(SERVICE, "predict"), "8", (("7", 0.9),)),
        (lambda_name(SERVICE, "status"), "4", (("3", 0.9),)),
    ]
    assert traffic.lambda_routes(ReleaseState(SERVICE, "dev")) == ()


def test_when_lambda_refuses_nothing_is_written_and_the_next_run_decides_again(
    s3_url: str,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lam = deploy_canary(s3_url)
    before = open_bucket(s3_url).get(job.state_name(SERVICE, "dev"))
    ingest_emf(boto3.client("cloudwatch", region_name="us-east-1"), request_lines(B, FAILING))
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:9")  # Lambda unreachable
    code, out = svai("gate", "--once", "--state-url", s3_url, "--window", "10m")
    assert code == 1 and f"routing us-east-1 {FUNCTION}:live -> version 1 failed" in out, out
    assert "Traceback" not in out
    assert open_bucket(s3_url).get(job.state_name(SERVICE, "dev")) == before
    monkeypatch.delenv("AWS_ENDPOINT_URL_LAMBDA")
    assert gate_once(s3_url)["verdict"] == "rollback"
    assert alias(lam) == ("1", {})
