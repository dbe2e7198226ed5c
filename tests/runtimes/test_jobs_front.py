"""The async front door (POST /jobs, GET /jobs/{id}) against a real moto server on 127.0.0.1.

Bad requests are refused early and queue nothing; a retried submit with the same idempotency key
queues nothing new; the worker's result is what the status route returns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from job_artifacts import build_job_artifact

from svai.runtime.cloud.aws import ResultsStore, SqsQueue
from svai.runtime.core import load_config
from svai.runtime.entry.emulator import EventSourceEmulator, LocalContext
from svai.runtime.entry.jobs import JobsFront
from svai.runtime.entry.lambda_app import LambdaApp

boto3 = pytest.importorskip("boto3")


@pytest.fixture
def setup(aws_env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    artifact = build_job_artifact(tmp_path / "artifact", api={"max_payload_bytes": 2048})
    sqs, ddb = boto3.client("sqs"), boto3.client("dynamodb")
    name = tmp_path.name.replace("_", "-")[-40:]
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "request_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "request_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    front = JobsFront(
        load_config(artifact), queue=SqsQueue(sqs, url), store=ResultsStore(ddb, name)
    )
    return {"front": front, "sqs": sqs, "url": url, "table": name, "artifact": artifact}


def event(method: str, path: str, body: str | None = None, **headers: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": path,
        "headers": {"content-type": "application/json", **headers},
        "requestContext": {"http": {"method": method, "path": path}, "requestId": "gw-1"},
        "body": body,
        "isBase64Encoded": False,
    }


def queued(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ('{"inputs": [[1, 2, 3]]}', {}, 422, "invalid_input"),
        ("{not json", {}, 400, "bad_json"),
        ('{"inputs": [[1e400, 2, 3, 4]]}', {}, 400, "bad_json"),
        ('{"inputs": [[NaN, 2, 3, 4]]}', {}, 400, "bad_json"),
        (
            '{"inputs": [[1, 2, 3, 4]]}',
            {"content-type": "text/plain"},
            415,
            "unsupported_media_type",
        ),
        (json.dumps({"inputs": [[1.0, 2.0, 3.0, 4.0]] * 200}), {}, 413, "payload_too_large"),
        ('{"inputs": [[1, 2, 3, 4]]}', {"idempotency-key": "bad key!"}, 400, "bad_idempotency_key"),
    ],
)
def test_bad_submissions_are_refused_and_queue_nothing(
    setup: dict[str, Any], body: str, headers: dict[str, str], status: int, code: str
) -> None:
    got, payload = answer(setup["front"].dispatch(event("POST", "/jobs", body, **headers)))
    assert (got, payload["error"]["code"]) == (status, code)
    if code == "invalid_input":
        assert payload["error"]["path"].startswith("$.inputs[0]")
    assert queued(setup["sqs"], setup["url"]) == 0


def test_a_job_of_exactly_the_limit_is_queued_and_one_byte_more_is_not(
    setup: dict[str, Any],
) -> None:
    body = '{"inputs": [[5.1, 3.5, 1.4, 0.2]]}'
    at_limit = body + " " * (2048 - len(body))  # the artifact's max_payload_bytes
    refused = answer(setup["front"].dispatch(event("POST", "/jobs", at_limit + " ")))
    assert refused[0] == 413 and queued(setup["sqs"], setup["url"]) == 0
    assert answer(setup["front"].dispatch(event("POST", "/jobs", at_limit)))[0] == 202
    assert queued(setup["sqs"], setup["url"]) == 1


def test_submit_is_idempotent_and_status_returns_the_worker_result(setup: dict[str, Any]) -> None:
    front, sqs, url = setup["front"], setup["sqs"], setup["url"]
    body = '{"inputs": [[5.1, 3.5, 1.4, 0.2]]}'
    first = answer(front.dispatch(event("POST", "/jobs", body, **{"idempotency-key": "job-1"})))
    again = answer(front.dispatch(event("POST", "/jobs", body, **{"idempotency-key": "job-1"})))
    assert first == (202, {"id": "job-1", "status": "queued", "status_url": "/jobs/job-1"})
    assert again == first
    assert queued(sqs, url) == 1  # the retry queued nothing
    assert answer(front.dispatch(event("GET", "/jobs/job-1")))[0] == 202

    app = LambdaApp.from_environment(
        {"SVAI_CONFIG": str(setup["artifact"]), "SVAI_RESULTS_TABLE": setup["table"]}
    )
    try:
        EventSourceEmulator(sqs, url, app.handler(), 10, 1, LocalContext).poll_once()
    finally:
        app.service.close()
    status, result = answer(front.dispatch(event("GET", "/jobs/job-1")))
    assert status == 200
    assert result["status"] == "done" and result["model_version"] == "iris-lr-1"
    assert result["outputs"]["label"] == [0]  # a setosa
    # Once done, a late duplicate submit still queues nothing and says so.
    assert (
        answer(front.dispatch(event("POST", "/jobs", body, **{"idempotency-key": "job-1"})))[0]
        == 200
    )
    assert queued(sqs, url) == 0


def test_generated_ids_unknown_jobs_and_wrong_routes(setup: dict[str, Any]) -> None:
    front = setup["front"]
    status, body = answer(front.dispatch(event("POST", "/jobs", '{"inputs": [[6, 3, 5, 2]]}')))
    assert status == 202 and len(body["id"]) == 32
    assert answer(front.dispatch(event("GET", "/jobs/nope")))[0] == 404
    assert answer(front.dispatch(event("DELETE", "/jobs/nope")))[0] == 405
    assert answer(front.dispatch(event("GET", "/elsewhere")))[0] == 404


def test_a_refused_enqueue_leaves_no_record(setup: dict[str, Any]) -> None:
    front = setup["front"]
    front.queue = SqsQueue(setup["sqs"], setup["url"] + "-missing")  # refuses every message
    status, body = answer(
        front.dispatch(
            event("POST", "/jobs", '{"inputs": [[6, 3, 5, 2]]}', **{"idempotency-key": "j2"})
        )
    )
    assert status == 503 and body["error"]["code"] == "queue_unavailable"
    assert answer(front.dispatch(event("GET", "/jobs/j2")))[0] == 404


def test_the_front_enforces_the_rate_limits_too(aws_env: dict[str, str], tmp_path: Path) -> None:
    limits = {"tenant_rps": 0.2, "tenant_burst": 2}
    artifact = build_job_artifact(tmp_path / "artifact", rate_limit=limits)
    sqs, ddb = boto3.client("sqs"), boto3.client("dynamodb")
    url = sqs.create_queue(QueueName="limited")["QueueUrl"]
    ddb.create_table(
        TableName="limited",
        KeySchema=[{"AttributeName": "request_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "request_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    front = JobsFront(
        load_config(artifact), queue=SqsQueue(sqs, url), store=ResultsStore(ddb, "limited")
    )
    body = '{"inputs": [[6, 3, 5, 2]]}'
    got = [
        front.dispatch(event("POST", "/jobs", body, **{"x-svai-tenant": "t1"})) for _ in range(3)
    ]
    assert [r["statusCode"] for r in got] == [202, 202, 429]
    assert got[2]["headers"]["retry-after"] == "5"
    assert json.loads(got[2]["body"])["error"]["code"] == "rate_limited"
    assert queued(sqs, url) == 2
    assert (
        front.dispatch(event("POST", "/jobs", body, **{"x-svai-tenant": "t2"}))["statusCode"] == 202
    )
