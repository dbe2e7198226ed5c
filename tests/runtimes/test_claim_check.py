"""A 20 MB async job end to end on AWS through a moto server: S3 claim check, SQS, DynamoDB.

SQS takes at most 1 MiB per message; the front stores the body in the bucket and queues a
reference, the worker (the Lambda app the SQS trigger invokes) fetches it, and the status route
returns the result. Idempotency is unchanged: a retried submit stores and queues nothing new.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from job_artifacts import build_job_artifact
from test_jobs_front import answer, event, queued

from svai.backends.claims import MESSAGE_BYTES_ENV, PAYLOAD_BUCKET_ENV, message_limit
from svai.runtime.entry.claims import PREFIX
from svai.runtime.entry.emulator import EventSourceEmulator, LocalContext
from svai.runtime.entry.jobs import JobsFront
from svai.runtime.entry.lambda_app import LambdaApp

boto3 = pytest.importorskip("boto3")

BIG = 20 * 1024 * 1024


@pytest.fixture
def deployment(aws_env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    artifact = build_job_artifact(tmp_path / "artifact", api={"max_payload_bytes": 25 * 2**20})
    sqs, ddb, s3 = boto3.client("sqs"), boto3.client("dynamodb"), boto3.client("s3")
    name = tmp_path.name.replace("_", "-").lower()[-40:]
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "request_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "request_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3.create_bucket(Bucket=name)
    return {"artifact": artifact, "sqs": sqs, "s3": s3, "url": url, "name": name, "ddb": ddb}


def _front(d: dict[str, Any], *, bucket: bool = True, limit: int | None = None) -> JobsFront:
    """The submit function's front, built from the environment svai's AWS backend gives it."""
    environ = {
        "SVAI_CONFIG": str(d["artifact"]),
        "SVAI_QUEUE_URL": d["url"],
        "SVAI_RESULTS_TABLE": d["name"],
        # The catalog's SQS limit, as the backend sets it (tests/backends/test_aws_network.py).
        MESSAGE_BYTES_ENV: str(limit if limit is not None else message_limit("aws")),
    }
    if bucket:
        environ[PAYLOAD_BUCKET_ENV] = d["name"]
    return JobsFront.from_environment(environ)


def _run_worker(d: dict[str, Any]) -> dict[str, int]:
    """Deliver the queue once to the worker function, as the SQS trigger would; its outcomes."""
    app = LambdaApp.from_environment(
        {
            "SVAI_CONFIG": str(d["artifact"]),
            "SVAI_RESULTS_TABLE": d["name"],
            "SVAI_PAYLOAD_BUCKET": d["name"],
        }
    )
    try:
        EventSourceEmulator(d["sqs"], d["url"], app.handler(), 10, 1, LocalContext).poll_once()
        return dict(app.worker().outcomes)
    finally:
        app.service.close()


def _big_body() -> str:
    # A scanned document rides along with the features: 20 MB, far above SQS's 1 MiB.
    body = json.dumps({"inputs": [[5.1, 3.5, 1.4, 0.2]], "document": "A" * BIG})
    assert len(body) > BIG
    return body


def test_a_20_mb_job_completes_through_the_bucket(deployment: dict[str, Any]) -> None:
    d = deployment
    front = _front(d)
    body = _big_body()
    headers = {"idempotency-key": "doc-20mb"}
    first = answer(front.dispatch(event("POST", "/jobs", body, **headers)))
    assert first[0] == 202
    again = answer(front.dispatch(event("POST", "/jobs", body, **headers)))
    assert again == first and queued(d["sqs"], d["url"]) == 1  # the retry queued nothing
    (stored,) = d["s3"].list_objects_v2(Bucket=d["name"], Prefix=PREFIX)["Contents"]
    assert stored["Size"] > BIG
    message = d["sqs"].receive_message(QueueUrl=d["url"], VisibilityTimeout=0)["Messages"][0]
    assert (
        len(message["Body"]) < 1024
        and json.loads(message["Body"])["claim"]["key"] == (stored["Key"])
    )

    assert _run_worker(d) == {"done": 1}
    status, result = answer(front.dispatch(event("GET", "/jobs/doc-20mb")))
    assert status == 200 and result["outputs"]["label"] == [0]
    assert queued(d["sqs"], d["url"]) == 0


def test_without_a_bucket_a_job_above_the_limit_is_refused_and_leaves_no_record(
    deployment: dict[str, Any],
) -> None:
    d = deployment
    front = _front(d, bucket=False)
    status, body = answer(
        front.dispatch(event("POST", "/jobs", _big_body(), **{"idempotency-key": "too-big"}))
    )
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert queued(d["sqs"], d["url"]) == 0
    assert answer(front.dispatch(event("GET", "/jobs/too-big")))[0] == 404


def test_a_tampered_claim_is_a_poison_message(deployment: dict[str, Any]) -> None:
    d = deployment
    front = _front(d)
    front.dispatch(event("POST", "/jobs", _big_body(), **{"idempotency-key": "tampered"}))
    (stored,) = d["s3"].list_objects_v2(Bucket=d["name"], Prefix=PREFIX)["Contents"]
    d["s3"].put_object(Bucket=d["name"], Key=stored["Key"], Body=b'{"request_id": "tampered"}')
    assert _run_worker(d) == {"failed": 1}
    assert answer(front.dispatch(event("GET", "/jobs/tampered")))[0] == 202


def test_the_claim_check_starts_at_the_configured_limit(deployment: dict[str, Any]) -> None:
    # A limit far below SQS's own: the front takes it from its environment, not a constant.
    d = deployment
    limit = 4096
    front = _front(d, limit=limit)

    def post(key: str, pad: int) -> None:
        body = json.dumps({"inputs": [[5.1, 3.5, 1.4, 0.2]], "note": "A" * pad})
        assert (
            answer(front.dispatch(event("POST", "/jobs", body, **{"idempotency-key": key})))[0]
            == 202
        )

    def take() -> str:
        (message,) = d["sqs"].receive_message(QueueUrl=d["url"], VisibilityTimeout=60)["Messages"]
        return str(message["Body"])

    post("probe", 0)  # the message around a job of known size: the rest is padding
    overhead = len(take().encode()) - len("probe")
    post("k-inline", limit - overhead - len("k-inline"))  # a message of exactly the limit
    inline = take()
    assert len(inline.encode()) == limit and "claim" not in json.loads(inline)
    assert "Contents" not in d["s3"].list_objects_v2(Bucket=d["name"], Prefix=PREFIX)
    post("k-claims", limit - overhead - len("k-claims") + 1)  # one byte more: through the bucket
    claimed = take()
    assert len(claimed.encode()) < limit and json.loads(claimed)["claim"]
    (stored,) = d["s3"].list_objects_v2(Bucket=d["name"], Prefix=PREFIX)["Contents"]
    assert stored["Size"] == limit + 1
