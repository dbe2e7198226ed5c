"""Where streamed generation leaves each managed endpoint, under Pulumi mocks (#20).

* SageMaker: a second function beside the proxy, on ``python3.12`` with svai's streaming loop as
  its exec wrapper, behind a function URL in ``RESPONSE_STREAM`` mode whose auth type follows
  ``api.auth``; its role may invoke exactly the endpoint; the proxy names the URL.
* Vertex AI and Azure ML: the platform passes the body to the container's predict / scoring
  route, which svai's server routes by the body's OpenAI shape; the plan sets that route.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from svai import api
from svai.backends.aws.backend import AwsBackend
from svai.backends.gcp.backend import GcpBackend
from svai.backends.rules import evaluate
from svai.compiler.planned import PlannedTarget
from svai.compiler.streaming import RULE, STREAM_BOOTSTRAP
from svai.runtime.server.http import Routes

LLM = Path(__file__).resolve().parents[2] / "examples" / "llm-gpu"
JWT = '  auth: jwt\n  jwt: {issuer: "https://login.example.com/", audience: support-llm}\n'


def _plan(
    tmp: Path, *, auth: str = JWT, gcp_runtime: str = "container"
) -> dict[str, PlannedTarget]:
    project = tmp / "llm"
    shutil.copytree(LLM, project)
    spec = (project / "svai.yaml").read_text()
    assert JWT in spec
    spec = spec.replace(JWT, auth).replace(
        "    runtime: container                # Cloud Run with an L4",
        f"    runtime: {gcp_runtime}",
    )
    (project / "svai.yaml").write_text(spec)
    _, result = api.plan(project / "svai.yaml")
    return {t.plan.cloud: t for t in result.targets}


def _by_type(target: PlannedTarget, type_: str) -> list[Any]:
    return [r for r in target.resources if r.type == type_]


def _stream_parts(target: PlannedTarget) -> tuple[Any, Any, Any, list[Any]]:
    (url,) = _by_type(target, "aws:lambda/functionUrl:FunctionUrl")
    functions = {r.inputs["name"]: r for r in _by_type(target, "aws:lambda/function:Function")}
    policy = next(
        r
        for r in _by_type(target, "aws:iam/rolePolicy:RolePolicy")
        if r.name == "support-llm-api-stream-policy"
    )
    public = [
        r
        for r in _by_type(target, "aws:lambda/permission:Permission")
        if r.inputs.get("principal") == "*"
    ]
    return url, functions, json.loads(policy.inputs["policy"]), public


def test_sagemaker_streams_through_a_jwt_checking_function_url(tmp_path: Path) -> None:
    aws = _plan(tmp_path)["aws"]
    url, functions, policy, public = _stream_parts(aws)
    assert url.inputs["invokeMode"] == "RESPONSE_STREAM"
    assert url.inputs["authorizationType"] == "NONE"  # function URLs have no JWT authorizer
    assert (
        url.inputs["qualifier"] == "live" and url.inputs["functionName"] == "support-llm-api-stream"
    )
    stream = functions["support-llm-api-stream"]
    assert stream.inputs["runtime"] == "python3.12"
    env = stream.inputs["environment"]["variables"]
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == f"/var/task/{STREAM_BOOTSTRAP}"
    assert env["SVAI_AUTH"] == "jwt" and env["SVAI_JWT_AUDIENCE"] == "support-llm"
    assert env["SVAI_JWT_ISSUER"] == "https://login.example.com/"
    assert env["SVAI_ENDPOINT_NAME"] == "support-llm-api"
    # An open URL needs both grants, each only through the URL.
    assert {
        (
            p.inputs["action"],
            p.inputs.get("functionUrlAuthType"),
            p.inputs.get("invokedViaFunctionUrl"),
        )
        for p in public
    } == {
        ("lambda:InvokeFunctionUrl", "NONE", None),
        ("lambda:InvokeFunction", None, True),
    }
    # Exactly the endpoint: InvokeEndpoint is what InvokeEndpointWithResponseStream needs.
    invoke = [
        s for s in policy["Statement"] if any(a.startswith("sagemaker:") for a in s["Action"])
    ]
    assert invoke == [
        {
            "Action": ["sagemaker:InvokeEndpoint"],
            "Effect": "Allow",
            "Resource": "arn:aws:sagemaker:us-east-1:123456789012:support-llm-api",
            "Sid": "ModelInvokeServiceApi",
        }
    ]
    proxy_env = functions["support-llm-api-proxy"].inputs["environment"]["variables"]
    assert "SVAI_STREAM_URL" in proxy_env  # its stream: true 400 names the URL
    rules = {f.rule for f in aws.findings}
    assert RULE not in rules and "SVAI_AWS_012" not in rules  # the function checks the JWT
    # The stream function's zip is uploaded like the proxy's.
    codes = {r.inputs["key"] for r in _by_type(aws, "aws:s3/bucketObjectv2:BucketObjectv2")}
    assert any(k.endswith("/lambda/api-stream.zip") for k in codes)


def test_with_iam_auth_the_url_checks_sigv4_and_nobody_else_may_invoke(tmp_path: Path) -> None:
    targets = _plan(tmp_path, auth="  auth: iam\n")
    url, functions, _, public = _stream_parts(targets["aws"])
    assert url.inputs["authorizationType"] == "AWS_IAM"
    assert public == []
    assert (
        functions["support-llm-api-stream"].inputs["environment"]["variables"]["SVAI_AUTH"] == "iam"
    )
    assert "SVAI_AWS_012" not in {f.rule for f in targets["aws"].findings}


def test_an_open_url_without_a_jwt_check_is_still_a_high_finding(tmp_path: Path) -> None:
    # The exemption is for a function that checks the spec's JWT, not for any open URL.
    aws = _plan(tmp_path)["aws"]
    unchecked = [
        dataclasses.replace(r, inputs={**r.inputs, "environment": {"variables": {}}})
        if r.name == "support-llm-api-stream-fn"
        else r
        for r in aws.resources
    ]
    found = evaluate(AwsBackend().rules(), unchecked, aws.plan)
    flagged = {f.resource for f in found if f.rule == "SVAI_AWS_012"}
    assert flagged == {
        "support-llm-api-stream-url",
        "support-llm-api-stream-url-public",
        "support-llm-api-stream-url-invoke",
    }


@pytest.mark.parametrize("cloud", ["gcp", "azure"])
def test_vertex_and_azure_ml_pass_openai_bodies_to_a_route_svai_answers(
    tmp_path: Path, cloud: str
) -> None:
    targets = _plan(tmp_path, gcp_runtime="endpoint")
    target = targets[cloud]
    assert target.plan.services[0].compute.kind == "endpoint"
    assert RULE not in {f.rule for f in target.findings}
    if cloud == "gcp":
        assert target.recommendation.choice.offering == "gcp.vertex.endpoint"
        (upload,) = [
            a for a in GcpBackend().pending_actions(target.plan) if a.id == "vertex.upload_model"
        ]
        route = upload.body["model"]["containerSpec"]["predictRoute"]
    else:
        (deployment,) = _by_type(target, "azure-native:machinelearningservices:EnvironmentVersion")
        route = deployment.inputs["properties"]["inferenceConfig"]["scoringRoute"]["path"]
    assert route in Routes().predict  # where svai's server routes an OpenAI body by its shape
