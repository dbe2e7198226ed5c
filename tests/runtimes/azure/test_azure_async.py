"""The Azure async pattern end to end against the loopback Azure fake.

The generated function app (submit and status roles) accepts and answers jobs without loading
the model; the container server with ``SVAI_QUEUE_KIND=servicebus`` works the queue. Jobs are
sent twice, poison messages are mixed in, and the worker is SIGKILLed at seeded random moments
and restarted (its locks expire and Service Bus redelivers). Afterwards every job has exactly
one result (0 lost), written once (``writes`` == 1), and the dead-letter queue holds exactly the
poison messages.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func
import jinja2
import numpy as np
import onnxruntime as ort
import pytest
from fake_azure import FakeAzure
from job_artifacts import build_job_artifact

from svai.runtime.cloud.azure import CosmosJobStore, ServiceBusQueue
from svai.runtime.server.main import BackgroundServer

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "svai" / "build" / "templates"
POISON = [
    "{this is not json",
    json.dumps(["a", "list"]),
    json.dumps({"payload": {"inputs": [[5.0, 3.0, 1.5, 0.2]]}}),  # no client request id
    json.dumps({"request_id": "poison-shape", "payload": {"inputs": [[1.0, 2.0]]}}),
]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("azure-artifact")
    # A pre-processing hook that takes a little time, so a kill lands in the middle of a job;
    # an input starting with 7.77 takes long enough to need its lock renewed.
    (folder / "slow.py").write_text(
        "import time\n\n"
        "def prepare(payload):\n"
        "    time.sleep(1.5 if payload['inputs'][0][0] == 7.77 else 0.05)\n"
        "    return payload\n"
    )
    return build_job_artifact(folder, hooks={"preprocess": "slow.py:prepare"})


@pytest.fixture
def fake() -> Iterator[FakeAzure]:
    azure = FakeAzure(seed=5).start()
    azure.add_container("svai", "results", "/request_id")
    yield azure
    azure.stop()


def _rows(n: int, seed: int) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    low, high = np.array([4.3, 2.0, 1.0, 0.1]), np.array([7.6, 4.4, 6.9, 2.5])
    return [[round(float(v), 2) for v in rng.uniform(low, high)] for _ in range(n)]


def _labels(artifact: Path, rows: list[list[float]]) -> list[int]:
    session = ort.InferenceSession(str(artifact / "model.onnx"))
    return [int(v) for v in session.run(["label"], {"input": np.asarray(rows, np.float32)})[0]]


def _job(request_id: str, row: list[float]) -> str:
    return json.dumps({"request_id": request_id, "payload": {"inputs": [row]}})


def _send_all(fake: FakeAzure, bodies: list[str]) -> None:
    queue = ServiceBusQueue.from_environment(fake.env())
    for n, body in enumerate(bodies):
        queue.send(f"m{n}", body)  # distinct message ids: duplicates reach the worker


def _wait(done: Callable[[], bool], timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def _check_outcome(fake: FakeAzure, artifact: Path, prefix: str, rows: list[list[float]]) -> None:
    docs = {d["request_id"]: d for d in fake.live_docs("svai", "results")}
    want = {f"{prefix}{i}" for i in range(len(rows))}
    assert set(docs) == want, "lost or unexpected results"
    assert {k: d["writes"] for k, d in docs.items()} == dict.fromkeys(want, 1)
    labels = _labels(artifact, rows)
    for i in range(len(rows)):
        doc = docs[f"{prefix}{i}"]
        assert json.loads(doc["outputs"])["label"] == [labels[i]]
        assert doc["model_version"] == "iris-lr-1" and doc["status"] == "done"
    queue = fake.queues["jobs"]
    assert sorted(m.body.decode() for m in queue.dead_letters) == sorted(POISON)
    assert {m.dead_letter_reason for m in queue.dead_letters} == {"MaxDeliveryCountExceeded"}
    assert fake.pending("jobs") == 0


# -- the function app ---------------------------------------------------------------------------


def _function_app(folder: Path, artifact: Path, role: str, patch: pytest.MonkeyPatch) -> ModuleType:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined
    )
    folder.mkdir()
    (folder / "function_app.py").write_text(
        env.get_template("azure_function_app.py.j2").render(auth_level="FUNCTION")
    )
    shutil.copy(artifact / "svai_runtime.json", folder)
    if role in ("serve", "worker"):
        for name in ("model.onnx", "slow.py"):
            shutil.copy(artifact / name, folder)
    patch.setenv("SVAI_SERVICE_ROLE", role)
    spec = importlib.util.spec_from_file_location(
        f"function_app_{role}", folder / "function_app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _functions(module: ModuleType) -> dict[str, Any]:
    # The app indexes (and checks) its functions once: call this once per module.
    app: func.FunctionApp = module.app
    return {
        str(f.get_function_name()): (f.get_user_function(), f.get_bindings_dict()["bindings"][0])
        for f in app.get_functions()
    }


def _call(
    function: Any,
    method: str,
    url: str,
    body: bytes = b"",
    route: dict[str, str] | None = None,
    key: str | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    request = func.HttpRequest(
        method,
        url,
        headers=headers,
        route_params=route or {},
        body=body,
    )
    response = function(request)
    return response.status_code, json.loads(response.get_body()), dict(response.headers)


def test_function_app_submit_and_status_roles(
    fake: FakeAzure, artifact: Path, tmp_path: Path
) -> None:
    fake.add_queue("jobs")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in fake.env().items():
            patch.setenv(key, value)
        submit_app = _function_app(tmp_path / "submit", artifact, "submit", patch)
        status_app = _function_app(tmp_path / "status", artifact, "status", patch)
        # The job roles load no model (none was copied beside them); submit serves one route,
        # status its own and the deployment's OpenAPI document.
        assert not hasattr(submit_app, "service") and not hasattr(status_app, "service")
        (submit, binding) = _functions(submit_app)["submit"]
        assert (binding["route"], binding["methods"], binding["authLevel"]) == (
            "jobs",
            [func.HttpMethod.POST],
            func.AuthLevel.FUNCTION,
        )
        status_functions = _functions(status_app)
        (status, binding) = status_functions["status"]
        assert binding["route"] == "jobs/{id}" and set(status_functions) == {"status", "openapi"}
        (openapi, binding) = status_functions["openapi"]
        assert binding["route"] == "openapi.json"
        assert _call(openapi, "GET", "/api/openapi.json")[0] == 404  # this artifact has none
        document = {"openapi": "3.1.0", "paths": {"/jobs": {}, "/jobs/{id}": {}}}
        (tmp_path / "status" / "openapi.json").write_text(json.dumps(document))
        assert _call(openapi, "GET", "/api/openapi.json")[:2] == (200, document)
        body = json.dumps({"inputs": [[5.1, 3.5, 1.4, 0.2]]}).encode()
        first = _call(submit, "POST", "/api/jobs", body, key="job-1")
        again = _call(submit, "POST", "/api/jobs", body, key="job-1")
        assert first[:2] == (202, {"id": "job-1", "status": "queued", "status_url": "/jobs/job-1"})
        assert first[2]["location"] == "/jobs/job-1" and again[:2] == first[:2]
        assert fake.pending("jobs") == 1  # the retry queued nothing
        (message,) = fake.queues["jobs"].messages
        assert message.message_id == "job-1"
        assert json.loads(message.body)["payload"] == {"inputs": [[5.1, 3.5, 1.4, 0.2]]}
        bad = _call(submit, "POST", "/api/jobs", b'{"inputs": [[1, 2, 3]]}')
        assert bad[0] == 422 and bad[1]["error"]["path"].startswith("$.inputs[0]")
        assert _call(submit, "POST", "/api/jobs", b"{nope")[0] == 400
        assert fake.pending("jobs") == 1  # refused submissions queue nothing
        queued = _call(status, "GET", "/api/jobs/job-1", route={"id": "job-1"})
        assert queued[:2] == (202, {"id": "job-1", "status": "queued", "status_url": "/jobs/job-1"})
        assert _call(status, "GET", "/api/jobs/nope", route={"id": "nope"})[0] == 404
        # The worker's result (written as the worker writes it) is what status returns.
        store = CosmosJobStore.from_environment(fake.env())
        assert store.put_once("job-1", b'{"label":[0]}', "iris-lr-1", "h") is True
        done = _call(status, "GET", "/api/jobs/job-1", route={"id": "job-1"})
        assert done[:2] == (
            200,
            {
                "id": "job-1",
                "status": "done",
                "outputs": {"label": [0]},
                "model_version": "iris-lr-1",
            },
        )
        assert done[2]["x-svai-model-version"] == "iris-lr-1"
        serve_app = _function_app(tmp_path / "serve", artifact, "serve", patch)
        predict = _functions(serve_app)["predict"][0]
        answer = _call(predict, "POST", "/api/predict", body)
        assert answer[0] == 200 and answer[1]["outputs"]["label"] == [0]
        serve_app.service.close()


# -- the worker -----------------------------------------------------------------------------------


def _worker_env(fake: FakeAzure, **extra: str) -> dict[str, str]:
    return {
        **fake.env(),
        "SVAI_QUEUE_KIND": "servicebus",
        "SVAI_RETRY_BASE_S": "0.05",
        "SVAI_RETRY_CAP_S": "0.2",
        **extra,
    }


def test_worker_dedupes_and_dead_letters_exactly_the_poison(
    fake: FakeAzure, artifact: Path, new_service: Callable[..., Any], lines: Any
) -> None:
    fake.add_queue("jobs", lock_duration_s=5, max_delivery_count=3)
    rows = _rows(8, seed=1)
    jobs = [_job(f"d{i}", row) for i, row in enumerate(rows)]
    bodies = jobs + jobs[:3] + POISON
    random.Random(2).shuffle(bodies)
    _send_all(fake, bodies)
    service = new_service(artifact / "svai_runtime.json", lines)
    server = BackgroundServer(service, env=_worker_env(fake, SVAI_LOCK_RENEW_S="0")).start()
    try:
        _wait(
            lambda: fake.pending("jobs") == 0 and len(fake.queues["jobs"].dead_letters) == 4,
            20,
            "the queue to drain",
        )
    finally:
        assert server.stop() == 0
    _check_outcome(fake, artifact, "d", rows)
    events = [r for r in lines.records if r["message"] == "job"]
    outcomes = [e["outcome"] for e in events]
    assert outcomes.count("done") == 8 and outcomes.count("duplicate") == 3
    assert outcomes.count("poison") == 3 * len(POISON)  # each delivered maxDeliveryCount times
    assert {e["delivery_count"] for e in events if e["outcome"] == "poison"} == {1, 2, 3}
    assert all(e["queue_age_s"] >= 0 for e in events)
    assert {e["request_id"] for e in events if e["outcome"] == "done"} == {
        f"d{i}" for i in range(8)
    }
    assert {e["settled"] for e in events} == {"completed", "abandoned"}


def test_lock_renewal_and_drain_keep_a_long_job_with_its_worker(
    fake: FakeAzure, artifact: Path, new_service: Callable[..., Any], lines: Any
) -> None:
    queue = fake.add_queue("jobs", lock_duration_s=0.6, max_delivery_count=2)
    _send_all(fake, [_job("long", [7.77, 3.0, 6.0, 2.0])])
    service = new_service(artifact / "svai_runtime.json", lines)
    server = BackgroundServer(service, env=_worker_env(fake, SVAI_LOCK_RENEW_S="0.2")).start()
    try:
        _wait(lambda: fake.locked("jobs") == 1, 20, "the job to be taken")
        time.sleep(0.2)
    finally:
        # SIGTERM while the job runs: no new receives, the job in hand finishes and completes.
        assert server.stop() == 0
    assert queue.renewals >= 3 and not queue.dead_letters and fake.pending("jobs") == 0
    (event,) = [r for r in lines.records if r["message"] == "job"]
    assert (event["outcome"], event["delivery_count"], event["settled"]) == ("done", 1, "completed")
    assert [r["complete"] for r in lines.records if r["message"] == "drained"] == [True]


def _start_worker(artifact: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "svai.runtime.server", "--config",
             str(artifact / "svai_runtime.json"), "--port", "0"],
            env=env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip


def test_sigkilled_worker_loses_nothing_and_duplicates_nothing(
    fake: FakeAzure, artifact: Path, tmp_path: Path
) -> None:
    fake.add_queue("jobs", lock_duration_s=1.0, max_delivery_count=8)
    rows = _rows(24, seed=3)
    jobs = [_job(f"k{i}", row) for i, row in enumerate(rows)]
    rng = random.Random(20261127)
    bodies = jobs + rng.sample(jobs, 6) + POISON
    rng.shuffle(bodies)
    _send_all(fake, bodies)
    env = {
        **os.environ,
        **_worker_env(fake, SVAI_LOCK_RENEW_S="0.4"),
        "PYTHONPATH": str(ROOT),
    }
    log = tmp_path / "worker.log"

    def results() -> int:
        return len(fake.live_docs("svai", "results"))

    kills_mid_run = 0
    worker = _start_worker(artifact, env, log)
    try:
        for quarter in (1, 2, 3):
            # Kill once a quarter, half, three quarters of the results are in (plus a random few
            # milliseconds): always mid-run, at a different point in a job each time.
            target = len(rows) * quarter // 4
            _wait(lambda: results() >= target, 20, "progress")  # noqa: B023
            time.sleep(rng.uniform(0.0, 0.03))
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
            kills_mid_run += results() < len(rows)
            worker = _start_worker(artifact, env, log)
        _wait(
            lambda: fake.pending("jobs") == 0 and len(fake.queues["jobs"].dead_letters) == 4,
            30,
            "the queue to drain",
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0
    finally:
        worker.kill()
        worker.wait()
    assert kills_mid_run == 3, log.read_text()[-2000:]
    _check_outcome(fake, artifact, "k", rows)
    redelivered = [m for m in fake.queues["jobs"].completed if m.delivery_count > 1]
    assert redelivered, "no lock expired: the kills did not land mid-job"


def test_function_app_worker_role_runs_each_job_once_and_raises_on_poison(
    fake: FakeAzure, artifact: Path, tmp_path: Path
) -> None:
    # A Functions worker (Flex Consumption): the host receives from Service Bus and calls the
    # trigger; a raise abandons the message, so Service Bus redelivers and then dead-letters it.
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {**fake.env(), "SVAI_SERVICEBUS_QUEUE": "jobs"}.items():
            patch.setenv(key, value)
        # The worker's zip carries the model, as the serving role's does.
        functions = _functions(_function_app(tmp_path / "worker", artifact, "worker", patch))
        assert set(functions) == {"work"}
        work, binding = functions["work"]
        assert binding["type"] == "serviceBusTrigger"
        assert (binding["queueName"], binding["connection"]) == (
            "%SVAI_SERVICEBUS_QUEUE%",
            "ServiceBusConnection",
        )
        rows = _rows(5, seed=11)
        for i, row in enumerate(rows):
            work(func.ServiceBusMessage(body=_job(f"fn{i}", row)))
        work(func.ServiceBusMessage(body=_job("fn2", rows[2])))  # a duplicate delivery
        for body in POISON:
            with pytest.raises(Exception):  # noqa: B017 - any raise abandons the message
                work(func.ServiceBusMessage(body=body))
    docs = {d["request_id"]: d for d in fake.live_docs("svai", "results")}
    assert {k: d["writes"] for k, d in docs.items()} == {f"fn{i}": 1 for i in range(5)}
    labels = _labels(artifact, rows)
    assert [json.loads(docs[f"fn{i}"]["outputs"])["label"] for i in range(5)] == [
        [label] for label in labels
    ]
