"""The async pattern on GCP end to end, against the loopback fake of Firestore and Pub/Sub.

The ``jobs`` entry point is rendered from the template and called through functions_framework's
Flask app; the worker is the real server (``SVAI_QUEUE_KIND=pubsub-push``) fed by the fake's
push delivery, which retries non-2xx answers with backoff and dead-letters after the last
attempt. Jobs are published twice, Pub/Sub itself redelivers acknowledged messages, poison
messages are mixed in, and the server is stopped or SIGKILLed and restarted at seeded random
moments. Afterwards every good job has exactly one result written exactly once, and the
dead-letter list holds exactly the poison messages.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from fake_gcp import FakeGcp, Subscription
from job_artifacts import build_job_artifact

from svai.build.target import render as _render
from svai.runtime.cloud.gcp import document_id
from svai.runtime.core import Service, Telemetry, load_config
from svai.runtime.entry.pubsub import PUSH_PATH
from svai.runtime.server.main import BackgroundServer

ROOT = Path(__file__).resolve().parents[3]
POISON = [
    b"{this is not json",
    b'["a", "list"]',
    b'{"payload": {"inputs": [[5.0, 3.0, 1.5, 0.2]]}}',  # no client request id
    b'{"request_id": "poison-shape", "payload": {"inputs": [[1.0, 2.0]]}}',  # model refuses it
    b"\xff\xfe not utf-8",
]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gcp-artifact")
    # A slow pre-processing hook, so that a stop or a kill lands in the middle of a job.
    (folder / "slow.py").write_text(
        "import time\n\ndef prepare(payload):\n    time.sleep(0.05)\n    return payload\n"
    )
    return build_job_artifact(
        folder, api={"max_payload_bytes": 2048}, hooks={"preprocess": "slow.py:prepare"}
    )


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    with FakeGcp() as server:
        yield server


def _wait_results(fake: FakeGcp, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(fake.collection("results")) < count:
        assert time.monotonic() < deadline, f"fewer than {count} results after {timeout_s} s"
        time.sleep(0.005)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(fake: FakeGcp, topic: str) -> dict[str, str]:
    return {
        "SVAI_QUEUE_KIND": "pubsub-push",
        "SVAI_GCP_PROJECT": fake.project,
        "SVAI_PUBSUB_TOPIC": topic,
        "FIRESTORE_EMULATOR_HOST": fake.host,
        "PUBSUB_EMULATOR_HOST": fake.host,
        "SVAI_RESULT_TTL_S": "3600",
    }


def _publish(fake: FakeGcp, topic: str, data: bytes) -> None:
    body = json.dumps({"messages": [{"data": base64.b64encode(data).decode()}]}).encode()
    request = urllib.request.Request(
        f"http://{fake.host}/v1/{topic}:publish", body, {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        assert reply.status == 200


def _rows(n: int, seed: int) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    low, high = np.array([4.3, 2.0, 1.0, 0.1]), np.array([7.9, 4.4, 6.9, 2.5])
    return [[round(float(v), 2) for v in rng.uniform(low, high)] for _ in range(n)]


def _labels(artifact: Path, rows: list[list[float]]) -> list[int]:
    session = ort.InferenceSession(str(artifact / "model.onnx"))
    return [int(v) for v in session.run(["label"], {"input": np.asarray(rows, np.float32)})[0]]


class Worker:
    """The real server as the push endpoint, restartable on the same port."""

    def __init__(self, artifact: Path, env: dict[str, str], port: int) -> None:
        self.artifact, self.env, self.port = artifact, env, port
        self.events: list[dict[str, Any]] = []
        self.server: BackgroundServer | None = None

    def start(self) -> None:
        cfg = load_config(self.artifact / "svai_runtime.json")
        telemetry = Telemetry("svai", "worker", cfg.model.version, False, self._sink)
        service = Service.from_config(cfg, telemetry=telemetry)
        self.server = BackgroundServer(service, "127.0.0.1", self.port, self.env).start()

    def stop(self) -> None:
        assert self.server is not None
        assert self.server.stop() == 0

    def _sink(self, line: str) -> None:
        self.events.append(json.loads(line))

    def outcomes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for event in self.events:
            if event["message"] == "pubsub delivery":
                counts[event["outcome"]] = counts.get(event["outcome"], 0) + 1
        return counts


def _subscribe(fake: FakeGcp, topic: str, port: int, **policy: Any) -> Subscription:
    settings = {
        "max_delivery_attempts": 10,
        "min_backoff_s": 0.05,
        "max_backoff_s": 1.0,
        "ack_deadline_s": 5.0,
        **policy,
    }
    endpoint = f"http://127.0.0.1:{port}{PUSH_PATH}"
    return fake.create_push_subscription("worker", topic, endpoint, **settings)


def _check_outcome(
    fake: FakeGcp, sub: Subscription, artifact: Path, prefix: str, rows: list[list[float]]
) -> None:
    results = fake.collection("results")
    want = {document_id(f"{prefix}{i}") for i in range(len(rows))}
    assert set(results) == want  # nothing lost, nothing for the poison messages
    for i, label in enumerate(_labels(artifact, rows)):
        fields = results[document_id(f"{prefix}{i}")]
        assert fields["status"] == {"stringValue": "done"}
        assert fields["writes"] == {"integerValue": "1"}, f"{prefix}{i} written twice"
        assert json.loads(fields["outputs"]["stringValue"])["label"] == [label]
    assert sorted(base64.b64decode(m.data) for m in sub.dead_letters) == sorted(POISON)


def test_jobs_entry_point_submits_and_answers_status(
    fake: FakeGcp, artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    functions_framework = pytest.importorskip("functions_framework")
    topic = fake.create_topic("jobs")
    folder = tmp_path / "function"
    folder.mkdir()
    for name in ("svai_runtime.json", "model.onnx", "slow.py"):
        (folder / name).write_bytes((artifact / name).read_bytes())
    (folder / "main.py").write_text(_render("gcp_main.py.j2"))
    for key, value in {**_env(fake, topic), "SVAI_SERVICE_ROLE": "submit"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "main", raising=False)
    port = _free_port()
    _subscribe(fake, topic, port)  # the worker starts later: pushes are refused until then
    app = functions_framework.create_app("jobs", str(folder / "main.py"))
    module = sys.modules["main"]
    monkeypatch.delitem(sys.modules, "main")
    assert module.service is None and module._front is None  # no model, front built lazily
    client = app.test_client()
    job = {"inputs": [[5.1, 3.5, 1.4, 0.2]]}
    first = client.post("/jobs", json=job, headers={"Idempotency-Key": "job-1"})
    assert first.status_code == 202, first.get_data()
    assert first.get_json() == {"id": "job-1", "status": "queued", "status_url": "/jobs/job-1"}
    assert first.headers["location"] == "/jobs/job-1"
    again = client.post("/jobs", json=job, headers={"Idempotency-Key": "job-1"})
    assert again.status_code == 202 and len(fake.topics[topic]) == 1  # nothing queued twice
    bad = client.post("/jobs", json={"inputs": [[1.0, 2.0]]}, headers={"Idempotency-Key": "b"})
    assert bad.status_code == 422 and bad.get_json()["error"]["path"].startswith("$.inputs[0]")
    assert client.post("/jobs", data="{", content_type="application/json").status_code == 400
    assert len(fake.topics[topic]) == 1 and set(fake.collection("results")) == {"job-1"}
    [message] = fake.topics[topic]
    assert message.attributes == {"request_id": "job-1"}
    assert json.loads(base64.b64decode(message.data))["payload"] == job
    status = client.get("/jobs/job-1")
    assert status.status_code == 202 and status.get_json()["status"] == "queued"
    assert client.get("/jobs/unknown").status_code == 404
    assert client.delete("/jobs/job-1").status_code == 405

    worker = Worker(artifact, _env(fake, topic), port)
    worker.start()
    try:
        assert fake.wait_idle(15)
    finally:
        worker.stop()
    done = client.get("/jobs/job-1")
    assert done.status_code == 200, done.get_data()
    body = done.get_json()
    assert (body["status"], body["outputs"]["label"]) == ("done", _labels(artifact, job["inputs"]))
    assert done.headers["x-svai-model-version"] == "iris-lr-1"
    [event] = [e for e in worker.events if e["message"] == "pubsub delivery"]
    assert event["request_id"] == "job-1" and event["outcome"] == "done"
    assert event["delivery_attempt"] >= 1 and 0 <= event["queue_age_s"] < 15


def test_push_worker_with_duplicates_poison_and_restarts(fake: FakeGcp, artifact: Path) -> None:
    topic = fake.create_topic("jobs")
    port = _free_port()
    # The attempts must outlast a restart, or a good job is dead-lettered while the worker is
    # down: here 10 attempts with backoff capped at 0.4 s span about 2.7 s.
    attempts = 10
    sub = _subscribe(
        fake,
        topic,
        port,
        duplicate_p=0.3,
        seed=11,
        concurrency=2,
        max_delivery_attempts=attempts,
        max_backoff_s=0.4,
    )
    rows = _rows(40, seed=3)
    jobs = [
        json.dumps({"request_id": f"d{i}", "payload": {"inputs": [row]}}).encode()
        for i, row in enumerate(rows)
    ]
    rng = random.Random(20261128)
    bodies = jobs + rng.sample(jobs, 6) + POISON  # six jobs published twice
    rng.shuffle(bodies)
    worker = Worker(artifact, _env(fake, topic), port)
    worker.start()
    try:
        for body in bodies:
            _publish(fake, topic, body)
        restarts_mid_run = 0
        for quarter in (1, 2, 3):
            # Stop once a quarter, half, three quarters of the results are in (plus a random
            # few milliseconds): always mid-run, at a different point in a job each time.
            _wait_results(fake, len(rows) * quarter // 4, 10)
            time.sleep(rng.uniform(0.0, 0.03))
            worker.stop()
            restarts_mid_run += len(fake.collection("results")) < len(rows)
            time.sleep(rng.uniform(0.0, 0.1))  # down: pushes are refused and retried
            worker.start()
        assert fake.wait_idle(20)
    finally:
        worker.stop()
    assert restarts_mid_run == 3
    _check_outcome(fake, sub, artifact, "d", rows)
    outcomes = worker.outcomes()
    assert outcomes["done"] == len(rows)  # each result computed and written once
    assert outcomes["duplicate"] >= 6
    poison = [e for e in worker.events if e.get("outcome") == "poison"]
    assert len(poison) >= len(POISON) and {e["status"] for e in poison} == {400}
    assert max(e["delivery_attempt"] for e in poison) == attempts  # then dead-lettered


def test_sigkilled_server_loses_nothing_and_duplicates_nothing(
    fake: FakeGcp, artifact: Path, tmp_path: Path
) -> None:
    topic = fake.create_topic("jobs")
    port = _free_port()
    sub = _subscribe(fake, topic, port, duplicate_p=0.2, seed=5, max_backoff_s=1.0)
    rows = _rows(30, seed=9)
    jobs = [
        json.dumps({"request_id": f"k{i}", "payload": {"inputs": [row]}}).encode()
        for i, row in enumerate(rows)
    ]
    rng = random.Random(7)
    bodies = jobs + rng.sample(jobs, 8) + POISON
    rng.shuffle(bodies)
    env = {**os.environ, **_env(fake, topic), "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable,
        "-m",
        "svai.runtime.server",
        "--config",
        str(artifact / "svai_runtime.json"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log = (tmp_path / "server.log").open("ab")

    def launch() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    server = launch()
    kills_mid_run = 0
    try:
        for body in bodies:
            _publish(fake, topic, body)
        for quarter in (1, 2, 3):
            _wait_results(fake, len(rows) * quarter // 4, 15)
            time.sleep(rng.uniform(0.0, 0.03))
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
            kills_mid_run += len(fake.collection("results")) < len(rows)
            server = launch()
        assert fake.wait_idle(30), (tmp_path / "server.log").read_text()[-2000:]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(15)
        log.close()
    assert kills_mid_run == 3
    _check_outcome(fake, sub, artifact, "k", rows)
