"""The runtime core's Service, driven directly (no HTTP): real ONNX model, real hooks."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from svai.runtime.core import Request, Service, SqliteStore
from svai.runtime.core import service as service_module
from svai.runtime.core.batching import MicroBatcher
from svai.runtime.core.errors import (
    ConfigError,
    IdempotencyConflictError,
    InvalidInputError,
    ModelError,
    ModelRefusedError,
)
from svai.runtime.core.messages import canonical_json

COUNTING_PRE = """
    import time
    from pathlib import Path

    def prepare(payload):
        with open(Path(__file__).with_name("calls.log"), "a") as fh:
            fh.write("x\\n")
        if payload.get("sleep"):
            time.sleep(payload["sleep"])
        if payload.get("explode"):
            raise RuntimeError("model input pipeline broke")
        return {"inputs": payload["inputs"]}
"""
RULES = """
    def answer(payload):
        return {"label": [0] * len(payload["inputs"]), "source": "rules"}
"""


def rows(x: np.ndarray) -> list[list[float]]:
    return [[float(v) for v in r] for r in x]


def calls(config_path: Path) -> int:
    log = config_path.with_name("calls.log")
    return len(log.read_text().splitlines()) if log.exists() else 0


def entered(config_path: Path, timeout_s: float = 30.0) -> None:
    """Wait until the model's preprocess has run once (the first attempt is in flight)."""
    deadline = time.monotonic() + timeout_s
    while calls(config_path) == 0:
        assert time.monotonic() < deadline, "the first attempt never reached the model"
        time.sleep(0.01)


def body(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def post(service: Service, payload: Any, **headers: str) -> tuple[int, dict[str, str], Any]:
    resp = service.handle(Request(body(payload), "application/json", headers))
    return resp.status, dict(resp.headers), json.loads(resp.body)


@pytest.fixture
def loaded(new_service: Any) -> Any:
    services: list[Service] = []

    def load(config_path: Path, sink: Any = None) -> Service:
        svc = new_service(config_path, sink)
        svc.load()
        services.append(svc)
        return svc

    yield load
    for svc in services:
        svc.close()


def test_predictions_match_sklearn(make_artifact: Any, digits: Any, loaded: Any) -> None:
    svc = loaded(make_artifact())
    status, headers, out = post(svc, {"inputs": rows(digits.x_test)})
    assert status == 200
    assert headers["x-svai-model-version"] == "digits-v1"
    assert out["outputs"]["label"] == digits.labels.tolist()
    np.testing.assert_allclose(out["outputs"]["probabilities"], digits.probas, atol=1e-5)
    assert out["fallback"] is False and out["model_version"] == "digits-v1"
    # one row without the batch axis is accepted as a batch of one
    status, _, one = post(svc, {"inputs": rows(digits.x_test[:1])[0]})
    assert status == 200 and one["outputs"]["label"] == digits.labels[:1].tolist()
    # the lower-level call used by queue workers gives the same answer
    pred = svc.predict({"inputs": rows(digits.x_test[:5])})
    assert pred.outputs["label"] == digits.labels[:5].tolist()
    assert len(pred.input_hash) == 64


@pytest.mark.parametrize(
    ("raw", "status", "path"),
    [
        (b"{not json", 400, None),
        (b'{"inputs": [[NaN]]}', 400, None),
        (b'{"rows": []}', 422, "$.inputs"),
        (b'{"inputs": [[1, 2, 3]]}', 422, "$.inputs"),
        (b'{"inputs": [[1, 2], [3]]}', 422, "$.inputs"),
        (b'{"inputs": {"wrong_name": [[1]]}}', 422, "$.inputs.wrong_name"),
        (b'{"inputs": []}', 422, "$.inputs"),
    ],
)
def test_bad_payloads_are_4xx_with_a_path(
    make_artifact: Any, loaded: Any, raw: bytes, status: int, path: str | None
) -> None:
    svc = loaded(make_artifact())
    resp = svc.handle(Request(raw, "application/json"))
    assert resp.status == status
    error = json.loads(resp.body)["error"]
    assert error.get("path") == path


def test_content_type_and_size_are_checked(make_artifact: Any, loaded: Any) -> None:
    svc = loaded(make_artifact({"api": {"max_payload_bytes": 100}}))
    assert svc.handle(Request(b"{}", "text/plain")).status == 415
    assert svc.handle(Request(b"{}", None)).status == 415
    assert svc.handle(Request(b"{}", "application/json; charset=utf-8")).status == 422
    # The media type is what precedes the first ";", however many parameters follow.
    assert svc.handle(Request(b"{}", "Application/JSON; charset=utf-8; v=1")).status == 422
    # The limit is inclusive: 100 bytes reach validation (no inputs: 422), 101 do not.
    assert svc.handle(Request(b"{}" + b" " * 98, "application/json")).status == 422
    assert svc.handle(Request(b"{}" + b" " * 99, "application/json")).status == 413
    assert svc.handle(Request(b" " * 101, "application/json")).status == 413


def test_schema_violation_names_the_field(make_artifact: Any, digits: Any, loaded: Any) -> None:
    schema = {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "inputs": {
                "type": "array",
                "items": {
                    "type": "array",
                    "minItems": 64,
                    "maxItems": 64,
                    "items": {"type": "number", "minimum": 0, "maximum": 16},
                },
            }
        },
        "additionalProperties": False,
    }
    svc = loaded(make_artifact({"api": {"input_schema": schema}}))
    x = rows(digits.x_test[:2])
    x[1][7] = 99.0
    status, _, out = post(svc, {"inputs": x})
    assert status == 422
    assert out["error"]["path"] == "$.inputs[1][7]"
    status, _, out = post(svc, {"inputs": rows(digits.x_test[:2]), "debug": True})
    assert (status, out["error"]["path"]) == (422, "$.debug")


def test_pickle_is_refused_unless_trusted_with_matching_hash(
    make_artifact: Any, digits: Any, loaded: Any
) -> None:
    model = {"path": str(digits.pickle_path), "framework": "pickle"}
    with pytest.raises(ModelRefusedError, match="trust_pickle"):
        loaded(make_artifact({"model": model}))
    with pytest.raises(ModelRefusedError, match="trust_pickle"):
        loaded(make_artifact({"model": {**model, "trust_pickle": True}}))
    wrong = {**model, "trust_pickle": True, "sha256": "0" * 64}
    with pytest.raises(ModelRefusedError, match="does not match"):
        loaded(make_artifact({"model": wrong}))
    # the extension alone is enough to count as a pickle, whatever the framework says
    with pytest.raises(ModelRefusedError):
        loaded(make_artifact({"model": {"path": str(digits.pickle_path)}}))
    trusted = {**model, "trust_pickle": True, "sha256": "sha256:" + digits.pickle_sha256}
    svc = loaded(make_artifact({"model": trusted}))
    status, _, out = post(svc, {"inputs": rows(digits.x_test)})
    assert status == 200 and out["outputs"]["label"] == digits.labels.tolist()


def test_onnx_hash_pin_is_checked(make_artifact: Any, loaded: Any) -> None:
    with pytest.raises(ModelRefusedError, match="does not match"):
        loaded(make_artifact({"model": {"sha256": "ab" * 32}}))


def test_hooks_cannot_escape_the_artifact_dir(
    make_artifact: Any, loaded: Any, tmp_path: Path
) -> None:
    (tmp_path / "outside.py").write_text("def f(p):\n    return p\n")
    with pytest.raises(ConfigError, match="outside the artifact"):
        loaded(make_artifact({"hooks": {"preprocess": "../outside.py:f"}}))
    with pytest.raises(ConfigError, match="no file"):
        loaded(make_artifact({"hooks": {"preprocess": "missing:f"}}))


def test_cache_hit_miss_and_tenant_scoping(make_artifact: Any, digits: Any, loaded: Any) -> None:
    path = make_artifact(
        {"cache": {"ttl_s": 60}, "hooks": {"preprocess": "pre:prepare"}}, {"pre.py": COUNTING_PRE}
    )
    svc = loaded(path)
    payload = {"inputs": rows(digits.x_test[:3])}
    first = post(svc, payload)
    second = post(svc, payload)
    assert first[1]["x-svai-cache"] == "miss" and second[1]["x-svai-cache"] == "hit"
    assert second[2]["outputs"] == first[2]["outputs"] and second[2]["cached"] is True
    assert calls(path) == 1
    # key order does not matter (canonical JSON); another tenant does not share the entry
    post(svc, {"inputs": payload["inputs"]})
    assert calls(path) == 1
    third = post(svc, payload, **{"x-svai-tenant": "acme"})
    assert third[1]["x-svai-cache"] == "miss" and calls(path) == 2


def test_shared_sqlite_store_and_outage(
    make_artifact: Any, digits: Any, loaded: Any, tmp_path: Path, lines: Any
) -> None:
    db = tmp_path / "cache.db"
    cfg = {"cache": {"ttl_s": 60, "store": f"sqlite:///{db}"}}
    payload = {"inputs": rows(digits.x_test[:2])}
    a = loaded(make_artifact(cfg))
    assert post(a, payload)[1]["x-svai-cache"] == "miss"
    # a second instance (empty LRU) finds the result in the shared store
    b = loaded(make_artifact(cfg))
    status, headers, out = post(b, payload)
    assert (status, headers["x-svai-cache"]) == (200, "hit")
    assert out["outputs"]["label"] == digits.labels[:2].tolist()
    # store outage: its connection is gone; requests still succeed, just uncached
    c = loaded(make_artifact(cfg), lines)
    assert isinstance(c.cache.store, SqliteStore)  # type: ignore[union-attr]
    c.cache.store.close()  # type: ignore[union-attr]
    other = {"inputs": rows(digits.x_test[5:7])}
    status, headers, out = post(c, other)
    assert (status, headers["x-svai-cache"]) == (200, "miss")
    assert out["outputs"]["label"] == digits.labels[5:7].tolist()
    assert c.telemetry.counters["cache_store_errors"] >= 1
    assert any("cache store unavailable" in r.get("message", "") for r in lines.records)
    assert post(c, other)[1]["x-svai-cache"] == "hit"  # the in-process LRU still works


def test_idempotency_key_runs_the_model_once(make_artifact: Any, digits: Any, loaded: Any) -> None:
    path = make_artifact({"hooks": {"preprocess": "pre:prepare"}}, {"pre.py": COUNTING_PRE})
    svc = loaded(path)
    payload = {"inputs": rows(digits.x_test[:2])}
    first = post(svc, payload, **{"idempotency-key": "order-1"})
    again = post(svc, payload, **{"idempotency-key": "order-1"})
    assert first[0] == again[0] == 200
    assert again[2]["outputs"] == first[2]["outputs"]
    assert again[1]["idempotent-replayed"] == "true"
    assert calls(path) == 1
    conflict = post(svc, {"inputs": rows(digits.x_test[3:4])}, **{"idempotency-key": "order-1"})
    assert conflict[0] == 422 and conflict[2]["error"]["code"] == "idempotency_key_reused"
    post(svc, payload, **{"idempotency-key": "order-2"})
    assert calls(path) == 2


def test_concurrent_duplicates_wait_for_the_first(
    make_artifact: Any, digits: Any, loaded: Any
) -> None:
    path = make_artifact(
        {"hooks": {"preprocess": "pre:prepare"}, "concurrency": {"max_concurrency": 4}},
        {"pre.py": COUNTING_PRE},
    )
    svc = loaded(path)
    payload = {"inputs": rows(digits.x_test[:2]), "sleep": 0.4}
    futures = [
        svc.submit(Request(body(payload), headers={"idempotency-key": "k"})) for _ in range(4)
    ]
    responses = [f.result(timeout=10) for f in futures]
    assert [r.status for r in responses] == [200] * 4
    assert len({json.loads(r.body)["outputs"]["label"].__repr__() for r in responses}) == 1
    assert calls(path) == 1


def test_failed_first_attempt_is_not_stored(make_artifact: Any, digits: Any, loaded: Any) -> None:
    path = make_artifact({"hooks": {"preprocess": "pre:prepare"}}, {"pre.py": COUNTING_PRE})
    svc = loaded(path)
    bad = {"inputs": rows(digits.x_test[:1]), "explode": True}
    assert post(svc, bad, **{"idempotency-key": "k"})[0] == 500
    assert post(svc, bad, **{"idempotency-key": "k"})[0] == 500
    assert calls(path) == 2  # the retry ran again


def test_fallback_rules_when_the_model_fails(make_artifact: Any, digits: Any, loaded: Any) -> None:
    path = make_artifact(
        {"hooks": {"preprocess": "pre:prepare"}, "fallback": {"rules": "rules:answer"}},
        {"pre.py": COUNTING_PRE, "rules.py": RULES},
    )
    svc = loaded(path)
    status, headers, out = post(svc, {"inputs": rows(digits.x_test[:3]), "explode": True})
    assert status == 200
    assert out["fallback"] is True and headers["x-svai-fallback"] == "true"
    assert out["outputs"] == {"label": [0, 0, 0], "source": "rules"}
    status, headers, out = post(svc, {"inputs": rows(digits.x_test[:3])})
    assert out["fallback"] is False and "x-svai-fallback" not in headers
    assert out["outputs"]["label"] == digits.labels[:3].tolist()


FLAKY_PRE = """
    from pathlib import Path

    def prepare(payload):
        if Path(__file__).with_name("broken").exists():
            raise RuntimeError("model input pipeline broke")
        return payload
"""


def test_a_fallback_answer_is_never_cached_nor_replayed(
    make_artifact: Any, digits: Any, loaded: Any
) -> None:
    path = make_artifact(
        {
            "cache": {"ttl_s": 60},
            "hooks": {"preprocess": "pre:prepare"},
            "fallback": {"rules": "rules:answer"},
        },
        {"pre.py": FLAKY_PRE, "rules.py": RULES},
    )
    broken = path.with_name("broken")
    broken.touch()
    svc = loaded(path)
    payload = {"inputs": rows(digits.x_test[:2])}
    key = {"idempotency-key": "order-1"}
    _, headers, out = post(svc, payload, **key)
    assert out["fallback"] is True and out["outputs"]["source"] == "rules"
    _, headers, out = post(svc, payload)  # same payload, no key: the cache holds nothing
    assert headers["x-svai-cache"] == "miss" and out["fallback"] is True
    broken.unlink()  # the model recovers: the client's retry gets the model's answer
    _, headers, out = post(svc, payload, **key)
    assert (out["fallback"], out["cached"]) == (False, False)
    assert "idempotent-replayed" not in headers
    assert out["outputs"]["label"] == digits.labels[:2].tolist()
    _, headers, again = post(svc, payload, **key)  # and that answer is the one kept
    assert headers["idempotent-replayed"] == "true" and again["outputs"] == out["outputs"]


def test_fallback_model_on_timeout(make_artifact: Any, digits: Any, loaded: Any) -> None:
    # The small model was trained on x / 16; a post hook is not applied to fallback answers,
    # so send pre-scaled rows to both and compare with the small model's own predictions.
    path = make_artifact(
        {
            "hooks": {"preprocess": "pre:prepare"},
            "fallback": {"model": str(digits.fallback_path)},
            "api": {"timeout_s": 0.3},
        },
        {"pre.py": COUNTING_PRE},
    )
    svc = loaded(path)
    scaled = rows(digits.x_test / 16.0)
    status, headers, out = post(svc, {"inputs": scaled, "sleep": 1.0})
    assert status == 200 and out["fallback"] is True and headers["x-svai-fallback"] == "true"
    assert out["outputs"]["label"] == digits.fallback_labels.tolist()


def test_timeout_without_fallback_is_504_and_frees_the_slot(
    make_artifact: Any, digits: Any, loaded: Any
) -> None:
    path = make_artifact(
        {
            "hooks": {"preprocess": "pre:prepare"},
            "api": {"timeout_s": 0.3},
            "concurrency": {"max_concurrency": 1, "queue_size": 0},
        },
        {"pre.py": COUNTING_PRE},
    )
    svc = loaded(path)
    status, _, out = post(svc, {"inputs": rows(digits.x_test[:1]), "sleep": 2.0})
    assert status == 504 and out["error"]["code"] == "timeout"
    assert svc.outstanding == 0
    status, _, out = post(svc, {"inputs": rows(digits.x_test[:1])})  # the stuck worker is replaced
    assert status == 200 and out["outputs"]["label"] == digits.labels[:1].tolist()


def test_overload_is_answered_at_once_with_retry_after(
    make_artifact: Any, digits: Any, loaded: Any
) -> None:
    path = make_artifact(
        {
            "hooks": {"preprocess": "pre:prepare"},
            "concurrency": {"max_concurrency": 1, "queue_size": 1, "retry_after_s": 2},
        },
        {"pre.py": COUNTING_PRE},
    )
    svc = loaded(path)
    slow = body({"inputs": rows(digits.x_test[:1]), "sleep": 0.5})
    futures = [svc.submit(Request(slow)) for _ in range(6)]
    rejected = [f.result() for f in futures[2:]]  # already resolved: no waiting
    assert all(f.done() for f in futures[2:])
    assert {r.status for r in rejected} == {503}
    assert all(r.headers["retry-after"] == "2" for r in rejected)
    assert [f.result(timeout=10).status for f in futures[:2]] == [200, 200]


def test_batching_gives_identical_outputs(make_artifact: Any, digits: Any, loaded: Any) -> None:
    plain = loaded(make_artifact())
    batched = loaded(
        make_artifact(
            {
                "batching": {"enabled": True, "max_batch": 8, "max_wait_ms": 5},
                "concurrency": {"max_concurrency": 4},
            }
        )
    )
    payloads = [body({"inputs": rows(digits.x_test[i : i + 1 + i % 3])}) for i in range(24)]
    expected = [json.loads(plain.handle(Request(p)).body)["outputs"] for p in payloads]
    with ThreadPoolExecutor(8) as pool:
        got = list(
            pool.map(lambda p: json.loads(batched.handle(Request(p)).body)["outputs"], payloads)
        )
    assert got == expected
    assert batched.batcher is not None and batched.batcher.items == 24


def test_batcher_dispatches_at_once_when_idle(make_artifact: Any, digits: Any, loaded: Any) -> None:
    # With a one-minute max wait and a 5 s deadline, any waiting when idle would be a 504.
    svc = loaded(
        make_artifact(
            {
                "batching": {"enabled": True, "max_batch": 64, "max_wait_ms": 60_000},
                "api": {"timeout_s": 5},
            }
        )
    )
    for i in range(3):
        status, _, out = post(svc, {"inputs": rows(digits.x_test[i : i + 1])})
        assert status == 200 and out["outputs"]["label"] == digits.labels[i : i + 1].tolist()
    assert svc.batcher is not None and svc.batcher.batches == 3


def test_batcher_groups_requests_queued_behind_a_busy_model(
    digits: Any, make_artifact: Any, loaded: Any
) -> None:
    model = loaded(make_artifact()).model
    gate = threading.Event()
    sizes: list[int] = []

    def run_batch(batch: Any) -> list[Any]:
        sizes.append(len(batch))
        if len(sizes) == 1:
            gate.wait(10)  # hold the model busy while others queue up
        return model.run_batch(batch)

    batcher: MicroBatcher[Any, Any] = MicroBatcher(
        run_batch, max_batch=8, max_wait_s=0.0, max_runners=1
    )
    feeds = [model.to_feeds(rows(digits.x_test[i : i + 1])) for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(batcher.submit, feeds[0])
        while not sizes:
            threading.Event().wait(0.005)
        rest = [pool.submit(batcher.submit, f) for f in feeds[1:]]
        while batcher.queued < 5:
            threading.Event().wait(0.005)
        gate.set()
        results = [first.result(10)] + [r.result(10) for r in rest]
    assert sizes == [1, 5]
    assert [r["label"][0] for r in results] == digits.labels[:6].tolist()


def test_request_logs_carry_version_id_hash_and_cold_start(
    make_artifact: Any, digits: Any, loaded: Any, lines: Any
) -> None:
    svc = loaded(make_artifact(), lines)
    post(svc, {"inputs": rows(digits.x_test[:1])}, **{"x-request-id": "req-1"})
    post(svc, {"inputs": rows(digits.x_test[:1])}, **{"x-request-id": "bad id\r\nx"})
    first, second = lines.requests()
    assert first["request_id"] == "req-1" and first["cold_start"] is True
    assert second["cold_start"] is False and second["request_id"] != "bad id\r\nx"
    assert first["input_hash"] == second["input_hash"] and len(first["input_hash"]) == 64
    assert first["model_version"] == "digits-v1" and first["status"] == 200
    emf = first["_aws"]["CloudWatchMetrics"][0]
    assert emf["Dimensions"] == [["service", "model_version"], ["service"]]
    assert {m["Name"] for m in emf["Metrics"]} <= set(first)
    assert any(r.get("message") == "model loaded" for r in lines.records)


def test_not_ready_before_load(make_artifact: Any, new_service: Any) -> None:
    svc = new_service(make_artifact())
    assert svc.ready is False
    resp = svc.handle(Request(b"{}"))
    assert resp.status == 503 and "retry-after" in resp.headers
    with pytest.raises(Exception, match="not ready"):
        svc.predict({"inputs": [[0.0] * 64]})


def test_predict_raises_typed_errors_and_logs(make_artifact: Any, loaded: Any, lines: Any) -> None:
    svc = loaded(make_artifact(), lines)
    with pytest.raises(InvalidInputError) as err:
        svc.predict({"inputs": [[1.0]]}, request_id="job-7")
    assert err.value.status == 422 and err.value.path == "$.inputs"
    pred = svc.predict({"inputs": [[0.0] * 64]}, request_id="job-8", idempotency_key="m-1")
    again = svc.predict({"inputs": [[0.0] * 64]}, request_id="job-9", idempotency_key="m-1")
    assert again.replayed and again.outputs == pred.outputs
    logged = {r["request_id"]: r for r in lines.requests()}
    assert logged["job-7"]["status"] == 422 and logged["job-7"]["error"] == "invalid_input"
    assert logged["job-8"]["status"] == 200 and logged["job-8"]["input_hash"] == pred.input_hash


def test_fallback_after_answers_before_the_request_timeout(
    make_artifact: Any, digits: Any, loaded: Any
) -> None:
    # The spec's `fallback.after`: the rules answer once the model has had its budget, long
    # before the 30 s request timeout; a model within its budget answers itself.
    path = make_artifact(
        {
            "hooks": {"preprocess": "pre:prepare"},
            "fallback": {"rules": "rules:answer", "after_s": 0.3},
            "api": {"timeout_s": 30.0},
        },
        {"pre.py": COUNTING_PRE, "rules.py": RULES},
    )
    svc = loaded(path)
    status, headers, out = post(svc, {"inputs": rows(digits.x_test[:2]), "sleep": 3.0})
    assert status == 200 and out["fallback"] is True and headers["x-svai-fallback"] == "true"
    assert out["outputs"] == {"label": [0, 0], "source": "rules"}
    status, _, out = post(svc, {"inputs": rows(digits.x_test[:2])})
    assert status == 200 and out["fallback"] is False
    assert out["outputs"]["label"] == digits.labels[:2].tolist()


def test_fallback_after_without_a_fallback_is_refused(make_artifact: Any) -> None:
    from svai.runtime.core import load_config
    from svai.runtime.core.errors import ConfigError

    path = make_artifact({"fallback": {"after_s": 0.3}})
    with pytest.raises(ConfigError, match=r"fallback\.after_s: needs fallback\.rules"):
        load_config(path)


REFUSING_PRE = """
    def prepare(payload):
        tx = payload["tx"]
        if tx.get("amount", 0) < 0:
            from svai.runtime.core.errors import InvalidInput

            raise InvalidInput("$.tx.amount", "must not be negative")
        scale = float(tx["age"]) / 700.0  # float() of a 400-digit integer overflows
        return {"inputs": [[v * min(scale, 1.0) for v in row] for row in payload["inputs"]]}
"""


@pytest.mark.parametrize(
    ("tx", "path", "says"),
    [
        ({"age": int("9" * 400)}, "$", "too large"),  # valid JSON, and valid for `minimum: 0`
        ({"age": "four"}, "$", "could not convert"),  # ValueError
        ({"age": None}, "$", "NoneType"),  # TypeError
        ({"age": 700, "amount": -5}, "$.tx.amount", "must not be negative"),  # InvalidInput
    ],
)
def test_an_input_the_pre_hook_refuses_is_422_never_the_fallback(
    make_artifact: Any, digits: Any, loaded: Any, tx: dict[str, Any], path: str, says: str
) -> None:
    svc = loaded(
        make_artifact(
            {"hooks": {"preprocess": "pre:prepare"}, "fallback": {"rules": "rules:answer"}},
            {"pre.py": REFUSING_PRE, "rules.py": RULES},
        )
    )
    status, headers, out = post(svc, {"inputs": rows(digits.x_test[:1]), "tx": tx})
    assert status == 422 and "x-svai-fallback" not in headers
    assert out["error"]["code"] == "invalid_input" and out["error"]["path"] == path
    assert says in out["error"]["message"]
    status, headers, out = post(svc, {"inputs": rows(digits.x_test[:1]), "tx": {"age": 700}})
    assert status == 200 and out["fallback"] is False
    assert out["outputs"]["label"] == digits.labels[:1].tolist()


def test_rate_limits_per_tenant_and_overall_answer_429_with_retry_after(
    make_artifact: Any, digits: Any, loaded: Any, lines: Any
) -> None:
    cfg = {"rate_limit": {"rps": 0.5, "burst": 6, "tenant_rps": 0.5, "tenant_burst": 4}}
    svc = loaded(make_artifact(cfg), lines)
    payload = {"inputs": rows(digits.x_test[:1])}
    tenant_a = [post(svc, payload, **{"x-svai-tenant": "a"}) for _ in range(5)]
    assert [r[0] for r in tenant_a] == [200] * 4 + [429]
    status, headers, out = tenant_a[4]
    assert headers["retry-after"] == "2"  # one token per 2 s at 0.5 rps
    assert out["error"]["code"] == "rate_limited"
    assert out["error"]["message"] == "rate limit of tenant 'a' reached"
    # Tenant b has a bucket of its own; the overall one (6) stops it after two.
    tenant_b = [post(svc, payload, **{"x-svai-tenant": "b"}) for _ in range(3)]
    assert [r[0] for r in tenant_b] == [200, 200, 429]
    assert tenant_b[2][2]["error"]["message"] == "rate limit of this instance reached"
    status, headers, out = post(svc, payload)  # no tenant: the overall limit only
    assert status == 429 and headers["retry-after"] == "2"
    assert [r["status"] for r in lines.requests()].count(200) == 6  # no refusal reached a worker


def test_each_prediction_says_its_version_input_hash_and_model_time(
    make_artifact: Any, digits: Any, loaded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = loaded(make_artifact({"cache": {"ttl_s": 60}}))
    payload = {"inputs": rows(digits.x_test[:2])}
    digest = hashlib.sha256(canonical_json(payload)).hexdigest()
    # The model's time is read from the service's clock: 0.25 s between its two readings.
    readings = iter([100.0, 100.25])
    clock = SimpleNamespace(
        perf_counter=lambda: next(readings), monotonic=time.monotonic, time=time.time
    )
    monkeypatch.setattr(service_module, "time", clock)
    computed = svc.predict(payload)
    monkeypatch.undo()
    assert (computed.model_version, computed.input_hash) == ("digits-v1", digest)
    assert computed.model_ms == 250.0 and not computed.cached
    hit = svc.predict(payload)
    assert (hit.model_version, hit.input_hash, hit.cached, hit.model_ms) == (
        "digits-v1",
        digest,
        True,
        0.0,
    )
    keyed = svc.predict({"inputs": rows(digits.x_test[2:3])}, idempotency_key="k")
    assert (
        keyed.input_hash
        == hashlib.sha256(canonical_json({"inputs": rows(digits.x_test[2:3])})).hexdigest()
    )
    replay = svc.predict({"inputs": rows(digits.x_test[2:3])}, idempotency_key="k")
    assert replay.replayed and replay.model_ms == 0.0 and replay.outputs == keyed.outputs
    assert replay.model_version == "digits-v1"
    with pytest.raises(IdempotencyConflictError) as refused:
        svc.predict(payload, idempotency_key="k")
    assert str(refused.value) == "idempotency key was already used with a different payload"


def test_every_request_hands_back_its_batcher_announcement(
    make_artifact: Any, digits: Any, loaded: Any
) -> None:
    """A request that will not reach the batcher (a cache hit, a replay) withdraws its notice.

    Otherwise the batcher waits its max_wait for every such request before it runs a batch.
    """
    svc = loaded(
        make_artifact(
            {"cache": {"ttl_s": 60}, "batching": {"enabled": True, "max_wait_ms": 5}},
        )
    )
    assert svc.batcher is not None
    payload = body({"inputs": rows(digits.x_test[:1])})
    for headers in ({}, {}, {"idempotency-key": "a"}, {"idempotency-key": "a"}):
        # A miss, a cache hit, a keyed first run, its replay.
        assert svc.submit(Request(payload, headers=headers)).result(timeout=30).status == 200
        assert svc.batcher.announced == 0, headers
    other = body({"inputs": rows(digits.x_test[1:2])})
    response = svc.submit(Request(other, headers={"idempotency-key": "b"})).result(timeout=30)
    assert response.status == 200 and svc.batcher.announced == 0


def test_a_duplicate_waits_for_the_first_attempt_no_longer_than_the_request_timeout(
    make_artifact: Any, digits: Any, loaded: Any
) -> None:
    path = make_artifact(
        {
            "hooks": {"preprocess": "pre:prepare"},
            "concurrency": {"max_concurrency": 2},
            "api": {"timeout_s": 0.3},
        },
        {"pre.py": COUNTING_PRE},
    )
    svc = loaded(path)
    slow = {"inputs": rows(digits.x_test[:1]), "sleep": 3}
    first = svc.submit(Request(body(slow), headers={"idempotency-key": "k"}))
    entered(path)  # the first attempt holds the key
    with pytest.raises(TimeoutError):
        svc.predict(slow, idempotency_key="k")
    first.result(timeout=30)


def test_a_duplicate_of_a_failed_first_attempt_gets_its_error(
    make_artifact: Any, digits: Any, loaded: Any
) -> None:
    path = make_artifact(
        {"hooks": {"preprocess": "pre:prepare"}, "concurrency": {"max_concurrency": 2}},
        {"pre.py": COUNTING_PRE},
    )
    svc = loaded(path)
    failing = {"inputs": rows(digits.x_test[:1]), "sleep": 0.5, "explode": True}
    first = svc.submit(Request(body(failing), headers={"idempotency-key": "k"}))
    entered(path)  # the first attempt holds the key
    with pytest.raises(Exception, match="model input pipeline broke") as waited:
        svc.predict(failing, idempotency_key="k")
    assert first.result(timeout=30).status == 500
    assert calls(path) == 1 and not isinstance(waited.value, TypeError)


def test_drift_counts_the_request_body_on_the_plain_and_the_keyed_path(
    make_artifact: Any, digits: Any, loaded: Any, lines: Any
) -> None:
    # Every request's own body is summarised, with or without an idempotency key; a replayed
    # duplicate is not a new request and is not counted again.
    column = "inputs.*.20"
    drift = {
        "enabled": True,
        "sample_rate": 1.0,
        "min_samples": 1000,  # no line before close: one window holds every request
        "features": {column: {"edges": [4.0, 8.0, 12.0]}},
        "prediction": {"name": "label.*", "edges": [5.0]},
    }
    svc = loaded(make_artifact({"drift": drift}), lines)
    plain, keyed = rows(digits.x_test[:2]), rows(digits.x_test[2:5])
    assert post(svc, {"inputs": plain})[0] == 200
    assert post(svc, {"inputs": keyed}, **{"idempotency-key": "k"})[0] == 200
    assert post(svc, {"inputs": keyed}, **{"idempotency-key": "k"})[1]["idempotent-replayed"]
    svc.close()
    (line,) = [r for r in lines.records if r.get("message") == "drift"]
    sent = [r[20] for r in plain + keyed]
    summary = line["features"][column]
    assert line["drift_samples"] == 2
    assert (summary["count"], summary["missing"], summary["sum"]) == (5, 0, sum(sent))
    assert summary["bins"] == [sum(1 for v in sent if lo <= v < hi) for lo, hi in BINS_20]
    assert line["prediction"]["count"] == 5


BINS_20 = ((-np.inf, 4.0), (4.0, 8.0), (8.0, 12.0), (12.0, np.inf))


def test_a_duplicate_of_a_first_attempt_that_used_the_fallback_is_told_so(
    make_artifact: Any, digits: Any, loaded: Any
) -> None:
    # The fallback's answer goes to the first caller only: a duplicate waiting on it gets a model
    # error that says why (and a retry after it runs the model again, see the test above).
    path = make_artifact(
        {
            "hooks": {"preprocess": "pre:prepare"},
            "fallback": {"rules": "rules:answer"},
            "concurrency": {"max_concurrency": 2},
        },
        {"pre.py": COUNTING_PRE, "rules.py": RULES},
    )
    svc = loaded(path)
    failing = {"inputs": rows(digits.x_test[:1]), "sleep": 0.5, "explode": True}
    first = svc.submit(Request(body(failing), headers={"idempotency-key": "k"}))
    entered(path)  # the first attempt holds the key
    with pytest.raises(ModelError, match=r"^the first attempt used the fallback$"):
        svc.predict(failing, idempotency_key="k")
    answer = first.result(timeout=30)
    assert answer.status == 200 and json.loads(answer.body)["fallback"] is True
    assert calls(path) == 1


def test_a_keyed_answer_is_replayed_by_another_instance_through_the_shared_store(
    make_artifact: Any, digits: Any, loaded: Any, tmp_path: Path
) -> None:
    cfg = {"cache": {"ttl_s": 60, "store": f"sqlite:///{tmp_path / 'shared.db'}"}}
    cfg |= {"hooks": {"preprocess": "pre:prepare"}}
    a_path, b_path = (make_artifact(cfg, {"pre.py": COUNTING_PRE}) for _ in range(2))
    payload = {"inputs": rows(digits.x_test[:2])}
    status, _, first = post(loaded(a_path), payload, **{"idempotency-key": "order-1"})
    assert status == 200 and calls(a_path) == 1
    b = loaded(b_path)
    status, headers, again = post(b, payload, **{"idempotency-key": "order-1"})
    assert (status, headers["idempotent-replayed"]) == (200, "true")
    assert again["outputs"] == first["outputs"] and calls(b_path) == 0
    other = {"inputs": rows(digits.x_test[3:4])}
    status, _, out = post(b, other, **{"idempotency-key": "order-1"})
    assert status == 422 and out["error"]["code"] == "idempotency_key_reused"
