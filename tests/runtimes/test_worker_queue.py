"""The async queue worker against a real moto server (SQS + DynamoDB) on 127.0.0.1.

Jobs go through the event-source emulator exactly as Lambda's SQS trigger would deliver them.
The worker is killed with SIGKILL at seeded random moments and restarted; jobs are delivered
twice; poison messages are mixed in; connections are reset mid-response by a proxy. Afterwards: every good job has exactly one result (0 lost),
written exactly once (0 duplicated side effects, counted by the item's ``writes``), and the
dead-letter queue holds exactly the poison messages.
"""

from __future__ import annotations

import base64
import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from optimize_conftest import build_iris_artifact

from svai.runtime.cloud.aws import ResultsStore, is_transient
from svai.runtime.core.retry import Backoff, retry
from svai.runtime.entry.emulator import EventSourceEmulator, LocalContext
from svai.runtime.entry.lambda_app import LambdaApp
from svai.runtime.entry.pubsub import parse_push
from svai.runtime.entry.worker import JobError, parse_job

boto3 = pytest.importorskip("boto3")

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("worker-artifact")
    # A pre-processing hook that takes a little time, so a kill lands in the middle of a batch.
    (folder / "slow.py").write_text(
        "import time\n\ndef prepare(payload):\n    time.sleep(0.08)\n    return payload\n"
    )
    return build_iris_artifact(folder, hooks={"preprocess": "slow.py:prepare"})


def _queues(sqs: Any, name: str, max_receive: int, visibility: int) -> tuple[str, str]:
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive)})
    url = sqs.create_queue(
        QueueName=name,
        Attributes={"VisibilityTimeout": str(visibility), "RedrivePolicy": redrive},
    )["QueueUrl"]
    return url, dlq


def _table(ddb: Any, name: str) -> str:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "request_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "request_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )
    return name


def _scan(ddb: Any, table: str) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kwargs)
        for item in page["Items"]:
            items[item["request_id"]["S"]] = item
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _drain_bodies(sqs: Any, url: str) -> list[str]:
    bodies: list[str] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)
        messages = got.get("Messages", [])
        if not messages:
            return bodies
        bodies.extend(m["Body"] for m in messages)


def _counts(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def _send(sqs: Any, url: str, bodies: list[str]) -> dict[str, str]:
    sent: dict[str, str] = {}
    for start in range(0, len(bodies), 10):
        chunk = bodies[start : start + 10]
        reply = sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)],
        )
        for ok in reply["Successful"]:
            sent[ok["MessageId"]] = chunk[int(ok["Id"])]
    return sent


def _rows(n: int) -> list[list[float]]:
    rng = np.random.default_rng(7)
    low, high = np.array([4.3, 2.0, 1.0, 0.1]), np.array([7.9, 4.4, 6.9, 2.5])
    return [[round(float(v), 2) for v in rng.uniform(low, high)] for _ in range(n)]


def _expected(artifact: Path, rows: list[list[float]]) -> list[int]:
    session = ort.InferenceSession(str(artifact / "model.onnx"))
    labels = session.run(["label"], {"input": np.asarray(rows, dtype=np.float32)})[0]
    return [int(v) for v in labels]


POISON = [
    "{this is not json",
    json.dumps(["a", "list"]),
    json.dumps({"payload": {"inputs": [[5.0, 3.0, 1.5, 0.2]]}}),  # no client request id
    json.dumps({"request_id": "poison-shape", "payload": {"inputs": [[1.0, 2.0]]}}),
]


def _jobs(rows: list[list[float]], prefix: str) -> list[str]:
    return [
        json.dumps({"request_id": f"{prefix}{i}", "payload": {"inputs": [row]}})
        for i, row in enumerate(rows)
    ]


def _check_outcome(
    ddb: Any, sqs: Any, table: str, dlq: str, prefix: str, rows: list[list[float]], artifact: Path
) -> None:
    items = _scan(ddb, table)
    want_ids = {f"{prefix}{i}" for i in range(len(rows))}
    assert set(items) == want_ids, "lost or unexpected results"
    assert {k: int(v["writes"]["N"]) for k, v in items.items()} == dict.fromkeys(want_ids, 1)
    labels = _expected(artifact, rows)
    for i in range(len(rows)):
        item = items[f"{prefix}{i}"]
        assert json.loads(item["outputs"]["S"])["label"] == [labels[i]]
        assert item["model_version"]["S"] == "iris-lr-1"
        assert int(item["expires_at"]["N"]) > time.time() + 86_000
    assert sorted(_drain_bodies(sqs, dlq)) == sorted(POISON)


def test_partial_failures_duplicates_and_dlq_in_process(
    aws_env: dict[str, str], artifact: Path
) -> None:
    sqs, ddb = boto3.client("sqs"), boto3.client("dynamodb")
    url, dlq = _queues(sqs, "inproc", max_receive=2, visibility=1)
    table = _table(ddb, "inproc-results")
    rows = _rows(6)
    jobs = _jobs(rows, "a")
    # Two jobs enqueued twice: different SQS message ids, same client request id.
    sent = _send(sqs, url, [jobs[0], POISON[0], jobs[1], jobs[2], POISON[1], jobs[0], jobs[3]])
    sent |= _send(sqs, url, [POISON[2], jobs[4], jobs[1], POISON[3], jobs[5]])
    app = LambdaApp.from_environment(
        {
            "SVAI_CONFIG": str(artifact),
            "SVAI_RESULTS_TABLE": table,
            "SVAI_RETRY_BASE_S": "1",
            "SVAI_RETRY_CAP_S": "1",
        }
    )
    try:
        emulator = EventSourceEmulator(sqs, url, app.handler(), 10, 1, LocalContext)
        first = emulator.poll_once()
        assert first.received > 0
        # Every failure reported is a poison message (exactness per batch: the next test).
        assert first.failed and all(sent[mid] in POISON for mid in first.failed)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            _counts(sqs, url) > 0 or _counts(sqs, dlq) < len(POISON)
        ):
            emulator.poll_once()
        _check_outcome(ddb, sqs, table, dlq, "a", rows, artifact)
        outcomes = app.worker().outcomes
        assert outcomes["done"] == 6
        assert outcomes["duplicate"] == 2  # the re-sent jobs were not computed or written again
        assert outcomes["failed"] >= len(POISON) * 2  # each poison message was tried twice
    finally:
        app.service.close()


def test_batch_response_is_exact_per_item(aws_env: dict[str, str], artifact: Path) -> None:
    sqs, ddb = boto3.client("sqs"), boto3.client("dynamodb")
    url, _ = _queues(sqs, "exact", max_receive=5, visibility=30)
    table = _table(ddb, "exact-results")
    rows = _rows(3)
    bodies = [*_jobs(rows, "e"), POISON[0], POISON[3]]
    _send(sqs, url, bodies)
    app = LambdaApp.from_environment({"SVAI_CONFIG": str(artifact), "SVAI_RESULTS_TABLE": table})
    try:
        calls: list[dict[str, Any]] = []
        handler = app.handler()

        def recording(event: dict[str, Any], context: Any) -> Any:
            response = handler(event, context)
            calls.append({"event": event, "response": response})
            return response

        emulator = EventSourceEmulator(sqs, url, recording, 10, 1, LocalContext)
        seen = 0
        while seen < len(bodies):
            seen += emulator.poll_once().received
        for call in calls:
            failed = {f["itemIdentifier"] for f in call["response"]["batchItemFailures"]}
            poison_ids = {r["messageId"] for r in call["event"]["Records"] if r["body"] in POISON}
            assert failed == poison_ids
        # Successful messages were deleted; the two failures wait out their visibility timeout.
        assert _counts(sqs, url) == 2
        assert set(_scan(ddb, table)) == {"e0", "e1", "e2"}
    finally:
        app.service.close()


def _start_worker(env: dict[str, str], url: str, log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "svai.runtime.entry.emulator",
            "--queue-url",
            url,
            "--batch-size",
            "4",
            "--wait-s",
            "1",
        ],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )


def test_sigkilled_worker_loses_nothing_and_duplicates_nothing(
    aws_env: dict[str, str], artifact: Path, tmp_path: Path
) -> None:
    sqs, ddb = boto3.client("sqs"), boto3.client("dynamodb")
    url, dlq = _queues(sqs, "killed", max_receive=5, visibility=2)
    table = _table(ddb, "killed-results")
    rows = _rows(30)
    jobs = _jobs(rows, "k")
    rng = random.Random(20261127)
    bodies = jobs + rng.sample(jobs, 8) + POISON
    rng.shuffle(bodies)
    _send(sqs, url, bodies)
    env = {
        **os.environ,
        **aws_env,
        "PYTHONPATH": str(ROOT),
        "SVAI_CONFIG": str(artifact),
        "SVAI_RESULTS_TABLE": table,
        "SVAI_RETRY_BASE_S": "1",
        "SVAI_RETRY_CAP_S": "1",
    }
    log = tmp_path / "worker.log"
    kills_mid_run = 0
    worker = _start_worker(env, url, log)
    try:
        for _ in range(3):
            # Wait for the worker to make progress, then kill it at a random moment.
            before = len(_scan(ddb, table))
            deadline = time.monotonic() + 20
            while len(_scan(ddb, table)) == before and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.6))
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
            if len(_scan(ddb, table)) < len(rows):
                kills_mid_run += 1
            worker = _start_worker(env, url, log)
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and (
            len(_scan(ddb, table)) < len(rows) or _counts(sqs, dlq) < len(POISON)
        ):
            time.sleep(0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _counts(sqs, url) > 0:
            time.sleep(0.2)
    finally:
        worker.kill()
        worker.wait()
    assert kills_mid_run >= 2, log.read_text()[-2000:]
    assert _counts(sqs, url) == 0
    _check_outcome(ddb, sqs, table, dlq, "k", rows, artifact)


def test_results_store_writes_once_with_ttl(aws_env: dict[str, str]) -> None:
    ddb = boto3.client("dynamodb")
    table = _table(ddb, "store-results")
    store = ResultsStore(ddb, table, ttl_s=3600)
    assert store.get("x1") is None
    assert store.put_once("x1", b'{"label":[1]}', "v1", "h1") is True
    assert store.put_once("x1", b'{"label":[2]}', "v2", "h2") is False
    stored = store.get("x1")
    assert stored is not None
    assert (stored.outputs, stored.model_version, stored.writes) == ({"label": [1]}, "v1", 1)
    item = ddb.get_item(TableName=table, Key={"request_id": {"S": "x1"}})["Item"]
    assert abs(int(item["expires_at"]["N"]) - (time.time() + 3600)) < 60
    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"


def test_unreachable_table_is_transient_and_retried() -> None:
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{_free_port()}",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=0.5, read_timeout=0.5),
    )
    sleeps: list[float] = []
    store = ResultsStore(client, "nowhere", backoff=Backoff(0.01, 0.05, random.Random(1)))
    with pytest.raises(Exception) as caught:
        retry(
            lambda: store.client.get_item(TableName="nowhere", Key={"request_id": {"S": "x"}}),
            retryable=is_transient,
            attempts=3,
            backoff=store.backoff,
            sleep=sleeps.append,
        )
    assert is_transient(caught.value)
    assert len(sleeps) == 2


def test_retry_backoff_has_full_jitter_and_stops_on_permanent_errors() -> None:
    backoff = Backoff(base_s=0.1, cap_s=0.5, rng=random.Random(3))
    delays = [[backoff.delay(attempt) for _ in range(200)] for attempt in (1, 2, 3, 6)]
    ceilings = (0.1, 0.2, 0.4, 0.5)
    for sample, ceiling in zip(delays, ceilings, strict=True):
        assert min(sample) >= 0.0 and max(sample) <= ceiling
        assert max(sample) > 0.8 * ceiling  # spread over the whole range: full jitter
    assert len({round(d, 6) for d in delays[0]}) > 150

    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError("reset by peer")
        return "ok"

    slept: list[float] = []
    assert (
        retry(flaky, retryable=is_transient, attempts=4, backoff=backoff, sleep=slept.append)
        == "ok"
    )
    assert len(slept) == 2

    def permanent() -> None:
        raise ValueError("bad input")

    slept.clear()
    with pytest.raises(ValueError):
        retry(permanent, retryable=is_transient, attempts=4, sleep=slept.append)
    assert slept == []


class ResettingProxy:
    """A TCP proxy on 127.0.0.1 that resets the client connection at seeded random moments.

    Each chunk coming back from upstream is, with probability ``p``, replaced by a TCP reset
    (SO_LINGER 0), so the client sees "connection reset by peer" after the server may already
    have acted on the request: the case that makes retries produce duplicates.
    """

    def __init__(self, upstream_port: int, p: float, seed: int) -> None:
        self.upstream_port = upstream_port
        self.p = p
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.resets = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = int(self.listener.getsockname()[1])
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        # One thread per connection with select(), so that closing a socket never races a
        # recv() blocked in another thread (which would delay the reset until it returns).
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:
            client.close()
            return
        peers = {client: upstream, upstream: client}
        try:
            while True:
                readable, _, _ = select.select(list(peers), [], [], 30)
                if not readable:
                    return
                for source in readable:
                    chunk = source.recv(65536)
                    if not chunk:
                        return
                    if source is upstream:
                        with self.lock:
                            hit = self.rng.random() < self.p
                            self.resets += hit
                        if hit:
                            # SO_LINGER 0: close() sends RST, the client sees a reset connection.
                            client.setsockopt(
                                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                            )
                            return
                    peers[source].sendall(chunk)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self.closed = True
        self.listener.close()


def test_connection_resets_lose_nothing(aws_env: dict[str, str], artifact: Path) -> None:
    sqs, ddb = boto3.client("sqs"), boto3.client("dynamodb")
    url, dlq = _queues(sqs, "resets", max_receive=6, visibility=1)
    table = _table(ddb, "resets-results")
    rows = _rows(12)
    jobs = _jobs(rows, "c")
    _send(sqs, url, jobs + jobs[:4] + POISON)
    upstream = int(aws_env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
    proxy = ResettingProxy(upstream, p=0.08, seed=5)
    stop = threading.Event()
    with pytest.MonkeyPatch.context() as patch:
        # Everything the worker and the emulator send goes through the resetting proxy.
        patch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{proxy.port}")
        app = LambdaApp.from_environment(
            {
                "SVAI_CONFIG": str(artifact),
                "SVAI_RESULTS_TABLE": table,
                "SVAI_RETRY_BASE_S": "1",
                "SVAI_RETRY_CAP_S": "1",
            }
        )
        emulator = EventSourceEmulator(
            boto3.client("sqs"), url, app.handler(), 5, 1, LocalContext, Backoff(0.05, 0.2)
        )
        thread = threading.Thread(target=emulator.run, args=(stop,), daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and (
                len(_scan(ddb, table)) < len(rows)
                or _counts(sqs, dlq) < len(POISON)
                or _counts(sqs, url) > 0
            ):
                time.sleep(0.2)
        finally:
            stop.set()
            thread.join(timeout=10)
            app.service.close()
            proxy.close()
    assert proxy.resets > 0
    _check_outcome(ddb, sqs, table, dlq, "c", rows, artifact)


@pytest.mark.parametrize(
    "body",
    [
        '{"request_id": "r1", "payload": {"inputs": [[Infinity]]}}',
        '{"request_id": "r1", "payload": {"inputs": [[1e400]]}}',
        '{"request_id": "r1", "payload": {"inputs": [[NaN]]}}',
    ],
)
def test_queued_jobs_with_non_finite_numbers_are_poison(body: str) -> None:
    with pytest.raises(JobError, match="not JSON"):
        parse_job(body)
    envelope = {"message": {"data": base64.b64encode(body.encode()).decode()}}
    with pytest.raises(JobError, match="not JSON"):
        parse_job(parse_push(json.dumps(envelope).encode()).job())
    with pytest.raises(JobError, match="not JSON"):
        parse_push(b'{"message": {"data": "e30="}, "deliveryAttempt": 1e400}')
