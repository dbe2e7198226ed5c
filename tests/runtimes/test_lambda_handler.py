"""The Lambda entry point with the documented event shapes of API Gateway, function URLs and SQS."""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from optimize_conftest import iris_artifact  # noqa: F401  (fixture)

from svai.runtime.entry.emulator import LocalContext
from svai.runtime.entry.lambda_app import LambdaApp
from svai.runtime.entry.lambda_events import classify_event

ROW = [5.9, 3.0, 5.1, 1.8]
ROOT = Path(__file__).resolve().parents[2]

# API Gateway HTTP API, payload format 2.0 (AWS docs: "Working with AWS Lambda proxy
# integrations for HTTP APIs").
HTTP_API_V2: dict[str, Any] = {
    "version": "2.0",
    "routeKey": "POST /predict",
    "rawPath": "/prod/predict",
    "rawQueryString": "debug=1",
    "cookies": ["session=abc"],
    "headers": {
        "accept": "application/json",
        "content-length": "42",
        "content-type": "application/json",
        "host": "r3pmxmplak.execute-api.us-east-2.amazonaws.com",
        "user-agent": "curl/8.5.0",
        "x-amzn-trace-id": "Root=1-5e6722a7-cc56xmpl46db7ae02d4da47e",
        "x-forwarded-for": "205.255.255.176",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    },
    "queryStringParameters": {"debug": "1"},
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "r3pmxmplak",
        "domainName": "r3pmxmplak.execute-api.us-east-2.amazonaws.com",
        "domainPrefix": "r3pmxmplak",
        "http": {
            "method": "POST",
            "path": "/prod/predict",
            "protocol": "HTTP/1.1",
            "sourceIp": "205.255.255.176",
            "userAgent": "curl/8.5.0",
        },
        "requestId": "JKJaXmPLvHcESHA=",
        "routeKey": "POST /predict",
        "stage": "prod",
        "time": "10/Mar/2020:05:16:23 +0000",
        "timeEpoch": 1583817383220,
    },
    "body": json.dumps({"inputs": [ROW]}),
    "pathParameters": {},
    "isBase64Encoded": False,
    "stageVariables": {},
}

# Lambda function URL (payload 2.0 with the lambda-url domain; bodies may come base64-encoded).
FUNCTION_URL: dict[str, Any] = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/",
    "rawQueryString": "",
    "headers": {
        "content-type": "application/json",
        "host": "abcdefg.lambda-url.us-east-1.on.aws",
        "x-amzn-tls-version": "TLSv1.3",
    },
    "requestContext": {
        "accountId": "anonymous",
        "apiId": "abcdefg",
        "domainName": "abcdefg.lambda-url.us-east-1.on.aws",
        "domainPrefix": "abcdefg",
        "http": {
            "method": "POST",
            "path": "/",
            "protocol": "HTTP/1.1",
            "sourceIp": "123.123.123.123",
            "userAgent": "agent",
        },
        "requestId": "id-function-url",
        "routeKey": "$default",
        "stage": "$default",
        "time": "12/Mar/2020:19:03:58 +0000",
        "timeEpoch": 1583348638390,
    },
    "body": base64.b64encode(json.dumps({"inputs": [ROW]}).encode()).decode(),
    "isBase64Encoded": True,
}

# API Gateway REST API, payload format 1.0.
REST_V1: dict[str, Any] = {
    "resource": "/predict",
    "path": "/predict",
    "httpMethod": "POST",
    "headers": {
        "Accept": "*/*",
        "Content-Type": "application/json",
        "Host": "1234567890.execute-api.us-east-1.amazonaws.com",
        "X-Request-Id": "client-req-7",
    },
    "multiValueHeaders": {
        "Accept": ["*/*"],
        "Content-Type": ["application/json"],
        "Host": ["1234567890.execute-api.us-east-1.amazonaws.com"],
        "X-Request-Id": ["client-req-7"],
    },
    "queryStringParameters": None,
    "multiValueQueryStringParameters": None,
    "pathParameters": None,
    "stageVariables": None,
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "1234567890",
        "httpMethod": "POST",
        "identity": {"sourceIp": "127.0.0.1", "userAgent": "Custom User Agent String"},
        "path": "/prod/predict",
        "protocol": "HTTP/1.1",
        "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "requestTimeEpoch": 1428582896000,
        "resourceId": "123456",
        "resourcePath": "/predict",
        "stage": "prod",
    },
    "body": json.dumps({"inputs": [ROW]}),
    "isBase64Encoded": False,
}


def sqs_record(message_id: str, body: str) -> dict[str, Any]:
    """One record of an SQS event as Lambda delivers it (AWS docs: "Using Lambda with SQS")."""
    return {
        "messageId": message_id,
        "receiptHandle": f"AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185",
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue",
        "awsRegion": "us-east-2",
    }


@pytest.fixture(scope="module")
def app(iris_artifact: Path):  # noqa: F811
    lambda_app = LambdaApp.from_environment({"SVAI_CONFIG": str(iris_artifact)})
    yield lambda_app
    lambda_app.service.close()


@pytest.fixture(scope="module")
def handler(app: LambdaApp):
    return app.handler()


@pytest.fixture(scope="module")
def expected(iris_artifact: Path) -> dict[str, Any]:  # noqa: F811
    session = ort.InferenceSession(str(iris_artifact / "model.onnx"))
    label, probabilities = session.run(None, {"input": np.asarray([ROW], dtype=np.float32)})
    return {"label": label.tolist(), "probabilities": probabilities.tolist()}


def _body(result: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(result["body"], str)
    return json.loads(result["body"])  # type: ignore[no-any-return]


def test_event_kinds() -> None:
    assert classify_event(HTTP_API_V2) == "http_v2"
    assert classify_event(FUNCTION_URL) == "http_v2"
    assert classify_event(REST_V1) == "http_v1"
    assert classify_event({"Records": [sqs_record("m1", "{}")]}) == "sqs"
    assert classify_event({"inputs": [ROW]}) == "direct"
    assert classify_event({"Records": [{"eventSource": "aws:s3"}]}) == "unknown"
    assert classify_event([1, 2]) == "unknown"


def test_http_api_v2(handler, expected) -> None:
    result = handler(copy.deepcopy(HTTP_API_V2), LocalContext())
    assert set(result) == {"statusCode", "headers", "body", "isBase64Encoded", "cookies"}
    assert result["statusCode"] == 200
    assert result["isBase64Encoded"] is False
    assert result["headers"]["content-type"] == "application/json"
    # The gateway's request id is carried through when the client sent none.
    assert result["headers"]["x-request-id"] == "JKJaXmPLvHcESHA="
    body = _body(result)
    assert body["outputs"]["label"] == expected["label"]
    np.testing.assert_allclose(
        body["outputs"]["probabilities"], expected["probabilities"], rtol=1e-6
    )
    assert body["model_version"] == "iris-lr-1" and body["fallback"] is False


def test_function_url_with_base64_body(handler, expected) -> None:
    result = handler(copy.deepcopy(FUNCTION_URL), LocalContext())
    assert result["statusCode"] == 200
    assert _body(result)["outputs"]["label"] == expected["label"]
    assert result["headers"]["x-request-id"] == "id-function-url"


def test_rest_api_v1(handler, expected) -> None:
    result = handler(copy.deepcopy(REST_V1), LocalContext())
    assert result["statusCode"] == 200
    assert result["multiValueHeaders"]["x-request-id"] == ["client-req-7"]
    assert result["headers"]["x-request-id"] == "client-req-7"  # the client's id wins
    assert _body(result)["outputs"]["label"] == expected["label"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "malformed_json"),
        (json.dumps({"inputs": [[1.0, 2.0]]}), "application/json", 422, "invalid_input"),
        (json.dumps({"nothing": 1}), "application/json", 422, "invalid_input"),
        (json.dumps({"inputs": [ROW]}), "text/plain", 415, "unsupported_media_type"),
        (json.dumps({"inputs": [ROW] * 20_000}), "application/json", 413, "payload_too_large"),
    ],
)
def test_bad_requests_get_4xx(
    handler, body: str, content_type: str, status: int, code: str
) -> None:
    event = copy.deepcopy(HTTP_API_V2)
    event["body"] = body
    event["headers"]["content-type"] = content_type
    result = handler(event, LocalContext())
    assert result["statusCode"] == status
    assert _body(result)["error"]["code"] == code


def test_a_body_of_exactly_the_limit_is_served_and_one_byte_more_is_not(
    app: LambdaApp, handler
) -> None:
    limit = app.service.cfg.api.max_payload_bytes
    body = json.dumps({"inputs": [ROW]})
    at_limit = body + " " * (limit - len(body))  # JSON allows trailing whitespace
    for text, status in ((at_limit, 200), (at_limit + " ", 413)):
        event = copy.deepcopy(HTTP_API_V2)
        event["body"] = text
        assert handler(event, LocalContext())["statusCode"] == status, len(text)


def test_invalid_input_names_the_field(handler) -> None:
    event = copy.deepcopy(REST_V1)
    event["body"] = json.dumps({"inputs": [[1.0, "x", 2.0, 3.0]]})
    result = handler(event, LocalContext())
    assert result["statusCode"] == 422
    assert _body(result)["error"]["path"].startswith("$.inputs")


def test_bad_base64_health_and_methods(handler) -> None:
    event = copy.deepcopy(FUNCTION_URL)
    event["body"] = "%%% not base64 %%%"
    assert handler(event, LocalContext())["statusCode"] == 400

    health = copy.deepcopy(HTTP_API_V2)
    health["requestContext"]["http"]["method"] = "GET"
    result = handler(health, LocalContext())
    assert result["statusCode"] == 200
    assert _body(result) == {"status": "ready", "model_version": "iris-lr-1"}

    delete = copy.deepcopy(REST_V1)
    delete["httpMethod"] = "DELETE"
    result = handler(delete, LocalContext())
    assert result["statusCode"] == 405
    assert result["headers"]["allow"] == "GET, POST"


def test_direct_invocation_and_unknown_events(handler, expected) -> None:
    result = handler({"inputs": [ROW]}, LocalContext())
    assert result["outputs"]["label"] == expected["label"]
    bad = handler({"inputs": [[1.0]]}, LocalContext())
    assert bad["statusCode"] == 422
    assert handler({"detail-type": "Scheduled Event"}, LocalContext())["statusCode"] == 400


def test_sqs_partial_batch_failures_are_exact(app: LambdaApp, handler) -> None:
    good = [
        sqs_record(f"good-{i}", json.dumps({"request_id": f"r{i}", "payload": {"inputs": [ROW]}}))
        for i in range(3)
    ]
    poison = [
        sqs_record("bad-json", "{this is not json"),
        sqs_record("bad-shape", json.dumps({"request_id": "r9", "payload": {"inputs": [[1.0]]}})),
        sqs_record("no-id", json.dumps({"payload": {"inputs": [ROW]}})),
    ]
    records = [good[0], poison[0], good[1], poison[1], poison[2], good[2]]
    result = handler({"Records": records}, LocalContext())
    assert result == {
        "batchItemFailures": [
            {"itemIdentifier": "bad-json"},
            {"itemIdentifier": "bad-shape"},
            {"itemIdentifier": "no-id"},
        ]
    }
    assert handler({"Records": good}, LocalContext()) == {"batchItemFailures": []}
    # Every record failing is still a per-item answer, not an exception.
    assert handler({"Records": poison}, LocalContext()) == {
        "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in poison]
    }


def test_module_loads_the_model_once_at_init(iris_artifact: Path) -> None:  # noqa: F811
    script = textwrap.dedent(
        f"""
        import json
        from svai.runtime.entry import aws_lambda
        from svai.runtime.entry.emulator import LocalContext
        model = aws_lambda.app.service.model
        event = {json.dumps(HTTP_API_V2)!r}
        for _ in range(3):
            r = aws_lambda.handler(json.loads(event), LocalContext())
            assert r["statusCode"] == 200, r
        assert aws_lambda.app.service.model is model
        print("DONE")
        """
    )
    env = {**os.environ, "SVAI_CONFIG": str(iris_artifact), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    lines = done.stdout.splitlines()
    assert lines[-1] == "DONE"
    records = [json.loads(line) for line in lines[:-1]]
    # One model load for three invocations, and it happened before the first invocation.
    loads = [i for i, r in enumerate(records) if r.get("message") == "model loaded"]
    assert len(loads) == 1
    first_metric = next(i for i, r in enumerate(records) if "_aws" in r)
    assert loads[0] < first_metric
    # Powertools' cold-start metric is emitted on the first invocation only.
    assert sum(1 for r in records if "ColdStart" in r) == 1
    assert sum(1 for r in records if "Invocations" in r) == 3


FEATURES_PRE = """
def prepare(payload):
    tx = payload["tx"]
    if tx.get("petals", 1) < 0:
        from svai.runtime.core.errors import InvalidInput

        raise InvalidInput("$.tx.petals", "must not be negative")
    return {"inputs": [[float(tx["sepal"]), 3.0, 5.1, 1.8]]}
"""
RULES = """
def answer(payload):
    return {"label": [0], "source": "rules"}
"""


def _guarded_app(folder: Path, **config: Any) -> LambdaApp:
    from optimize_conftest import build_iris_artifact

    build_iris_artifact(
        folder,
        hooks={"preprocess": "features:prepare"},
        fallback={"rules": "rules:answer"},
        api={"tenant_header": "x-merchant-id"},
        **config,
    )
    (folder / "features.py").write_text(FEATURES_PRE)
    (folder / "rules.py").write_text(RULES)
    return LambdaApp.from_environment({"SVAI_CONFIG": str(folder)})


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Any:
    lambda_app = _guarded_app(tmp_path_factory.mktemp("guarded"))
    yield lambda_app.handler()
    lambda_app.service.close()


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Any:
    limits = {"tenant_rps": 0.1, "tenant_burst": 1}
    lambda_app = _guarded_app(tmp_path_factory.mktemp("limited"), rate_limit=limits)
    yield lambda_app.handler()
    lambda_app.service.close()


@pytest.mark.parametrize(
    ("tx", "path"),
    [
        ({"sepal": int("9" * 400)}, "$"),
        ({"sepal": "x"}, "$"),
        ({"sepal": 5, "petals": -1}, "$.tx.petals"),
    ],
)
def test_an_input_the_hook_refuses_is_422_not_the_rules_answer(
    guarded: Any, tx: dict[str, Any], path: str
) -> None:
    event = copy.deepcopy(HTTP_API_V2)
    event["body"] = json.dumps({"tx": tx})
    result = guarded(event, LocalContext())
    assert result["statusCode"] == 422
    assert _body(result)["error"]["path"] == path
    assert "x-svai-fallback" not in result["headers"]


def test_the_tenant_rate_limit_holds_in_lambda_too(limited: Any) -> None:
    event = copy.deepcopy(HTTP_API_V2)
    event["body"] = json.dumps({"tx": {"sepal": 5.9}})
    event["headers"]["x-merchant-id"] = "m-1"
    first, second = (limited(copy.deepcopy(event), LocalContext()) for _ in range(2))
    assert first["statusCode"] == 200 and _body(first)["fallback"] is False
    assert second["statusCode"] == 429 and second["headers"]["retry-after"] == "10"
