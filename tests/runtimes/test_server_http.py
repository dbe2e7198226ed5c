"""The container HTTP server on 127.0.0.1, with a real ONNX model behind it."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from raw_http import raw_exchange, read_responses

SLOW_PRE = """
    import time

    def prepare(payload):
        time.sleep(payload.get("sleep", 0))
        return {"inputs": payload["inputs"]}
"""
SLOW_IMPORT_PRE = """
    import time

    time.sleep(1.0)  # a slow model load, as seen from outside

    def prepare(payload):
        return payload
"""


def rows(x: np.ndarray) -> list[list[float]]:
    return [[float(v) for v in r] for r in x]


def test_predict_routes_match_sklearn(make_artifact: Any, digits: Any, serve: Any) -> None:
    with serve(make_artifact()) as s:
        for path in ("/predict", "/v1/predict", "/invocations", "/score"):
            status, headers, out = s.request("POST", path, {"inputs": rows(digits.x_test)})
            assert status == 200, path
            assert headers["x-svai-model-version"] == "digits-v1"
            assert out["outputs"]["label"] == digits.labels.tolist()
            np.testing.assert_allclose(out["outputs"]["probabilities"], digits.probas, atol=1e-5)


def test_vertex_contract_with_aip_routes(make_artifact: Any, digits: Any, serve: Any) -> None:
    env = {
        "AIP_HEALTH_ROUTE": "/v1/models/digits",
        "AIP_PREDICT_ROUTE": "/v1/models/digits:predict",
    }
    with serve(make_artifact(), env=env) as s:
        assert s.request("GET", "/v1/models/digits")[0] == 200
        status, _, out = s.request(
            "POST", "/v1/models/digits:predict", {"instances": rows(digits.x_test[:4])}
        )
        assert status == 200
        assert [p["label"] for p in out["predictions"]] == digits.labels[:4].tolist()
        np.testing.assert_allclose(
            [p["probabilities"] for p in out["predictions"]], digits.probas[:4], atol=1e-5
        )
        status, _, out = s.request("POST", "/predict", {"instances": "nope"})
        assert status == 422 and out["error"]["path"] == "$.instances"


def test_health_routes_and_version_header_everywhere(make_artifact: Any, serve: Any) -> None:
    with serve(make_artifact()) as s:
        for path in ("/healthz", "/readyz", "/ping", "/health"):
            status, headers, _ = s.request("GET", path)
            assert status == 200 and headers["x-svai-model-version"] == "digits-v1", path
        status, headers, _ = s.request("GET", "/nope")
        assert status == 404 and headers["x-svai-model-version"] == "digits-v1"
        status, headers, _ = s.request("GET", "/predict")
        assert status == 405 and headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "path"),
    [
        (b"{broken", "application/json", 400, None),
        (b'{"inputs": [[1, 2]]}', "text/csv", 415, None),
        (b'{"inputs": [[1, 2]]}', "application/json", 422, "$.inputs"),
        (b'{"data": 1}', "application/json", 422, "$.inputs"),
    ],
)
def test_bad_payloads_are_4xx(
    make_artifact: Any, serve: Any, raw: bytes, content_type: str, status: int, path: str | None
) -> None:
    with serve(make_artifact()) as s:
        got, headers, out = s.request(
            "POST", "/predict", raw=raw, headers={"content-type": content_type}
        )
        assert got == status
        assert out["error"].get("path") == path
        assert headers["x-svai-model-version"] == "digits-v1"


def test_schema_violation_path_over_http(make_artifact: Any, digits: Any, serve: Any) -> None:
    schema = {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "inputs": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}
        },
    }
    with serve(make_artifact({"api": {"input_schema": schema}})) as s:
        x: list[Any] = rows(digits.x_test[:2])
        x[1][3] = "seven"
        status, _, out = s.request("POST", "/predict", {"inputs": x})
        assert status == 422 and out["error"]["path"] == "$.inputs[1][3]"


def test_oversize_body_is_refused_without_reading_it(make_artifact: Any, serve: Any) -> None:
    with serve(make_artifact({"api": {"max_payload_bytes": 10_000}})) as s:
        head = (
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000000\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            sock.sendall(head + b"[" * 4096)  # 4 KB of a declared 50 MB
            responses = read_responses(sock, 10.0)
        assert len(responses) == 1
        status, headers, body = responses[0]
        assert status == 413 and headers["connection"] == "close"
        assert json.loads(body)["error"]["code"] == "payload_too_large"
        # a chunked body over the limit is cut off too
        chunked = (
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + b"4000\r\n" + b"[" * 0x4000 + b"\r\n"
        )
        assert raw_exchange(s.port, chunked)[0][0] == 413


def test_a_body_of_exactly_the_limit_is_served_and_one_byte_more_is_not(
    make_artifact: Any, digits: Any, serve: Any
) -> None:
    body = json.dumps({"inputs": rows(digits.x_test[:1])}).encode()
    limit = len(body) + 16
    at_limit = body + b" " * 16  # JSON allows trailing whitespace
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with serve(make_artifact({"api": {"max_payload_bytes": limit}})) as s:
        for data, status in ((at_limit, 200), (at_limit + b" ", 413)):
            declared = head + f"Content-Length: {len(data)}\r\n\r\n".encode() + data
            assert raw_exchange(s.port, declared)[0][0] == status, len(data)
            # Two chunks: the running total reaches the limit only with the last byte.
            first, last = data[:-1], data[-1:]
            chunked = (
                head
                + b"Transfer-Encoding: chunked\r\n\r\n"
                + f"{len(first):x}\r\n".encode()
                + first
                + b"\r\n1\r\n"
                + last
                + b"\r\n0\r\n\r\n"
            )
            assert raw_exchange(s.port, chunked)[0][0] == status, len(data)


def test_keep_alive_pipelining_chunked_and_expect(
    make_artifact: Any, digits: Any, serve: Any
) -> None:
    with serve(make_artifact()) as s:
        conn = s.conn()
        for i in range(3):  # one connection, several requests
            conn.request(
                "POST",
                "/predict",
                json.dumps({"inputs": rows(digits.x_test[i : i + 1])}),
                {"content-type": "application/json"},
            )
            resp = conn.getresponse()
            assert resp.status == 200
            assert json.loads(resp.read())["outputs"]["label"] == digits.labels[i : i + 1].tolist()
        conn.close()
        one = json.dumps({"inputs": rows(digits.x_test[:1])}).encode()
        req = (
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (len(one), one)
        )
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            sock.sendall(req + req + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            got = read_responses(sock, 10.0, expect=3)
        assert [g[0] for g in got] == [200, 200, 200]
        assert json.loads(got[2][2]) == {"status": "alive"}
        chunks = one[:10], one[10:]
        chunked = (
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
            + b"0\r\n\r\n"
        )
        status, _, body = raw_exchange(s.port, chunked)[0]
        assert status == 200 and json.loads(body)["outputs"]["label"] == digits.labels[:1].tolist()
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            sock.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
                % len(one)
            )
            assert read_responses(sock, 10.0)[0][0] == 100
            sock.sendall(one)
            assert read_responses(sock, 10.0)[0][0] == 200


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /predict HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n{}",
        b"POST /predict HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\nContent-Type: application/json\r\n\r\n{}",
        b"POST /predict HTTP/1.1\r\nContent-Length: -1\r\nContent-Type: application/json\r\n\r\n",
    ],
)
def test_malformed_http_is_400(make_artifact: Any, serve: Any, raw: bytes) -> None:
    with serve(make_artifact()) as s:
        got = raw_exchange(s.port, raw)
        assert got and got[0][0] == 400


def test_timeout_is_504_and_the_slot_is_freed(make_artifact: Any, digits: Any, serve: Any) -> None:
    cfg = {
        "hooks": {"preprocess": "pre:prepare"},
        "api": {"timeout_s": 0.4},
        "concurrency": {"max_concurrency": 1, "queue_size": 0},
    }
    with serve(make_artifact(cfg, {"pre.py": SLOW_PRE})) as s:
        status, headers, out = s.request(
            "POST", "/predict", {"inputs": rows(digits.x_test[:1]), "sleep": 3}
        )
        assert status == 504 and out["error"]["code"] == "timeout"
        assert headers["x-svai-model-version"] == "digits-v1"
        status, _, out = s.request("POST", "/predict", {"inputs": rows(digits.x_test[:2])})
        assert status == 200 and out["outputs"]["label"] == digits.labels[:2].tolist()


def test_three_times_overload_gets_fast_503_with_retry_after(
    make_artifact: Any, digits: Any, serve: Any
) -> None:
    cfg = {
        "hooks": {"preprocess": "pre:prepare"},
        "concurrency": {"max_concurrency": 2, "queue_size": 1, "retry_after_s": 3},
    }
    with serve(make_artifact(cfg, {"pre.py": SLOW_PRE})) as s:
        payload = {"inputs": rows(digits.x_test[:1]), "sleep": 1.5}
        with ThreadPoolExecutor(9) as pool:
            results = list(pool.map(lambda _: s.request("POST", "/predict", payload), range(9)))
        ok = [r for r in results if r[0] == 200]
        refused = [r for r in results if r[0] != 200]
        assert len(ok) == 3
        assert all(r[2]["outputs"]["label"] == digits.labels[:1].tolist() for r in ok)
        assert len(refused) == 6
        assert all(r[0] == 503 and r[1]["retry-after"] == "3" for r in refused)
        assert all(r[2]["error"]["code"] == "overloaded" for r in refused)


def test_readiness_is_false_until_the_model_is_loaded(
    make_artifact: Any, digits: Any, serve: Any
) -> None:
    path = make_artifact({"hooks": {"preprocess": "pre:prepare"}}, {"pre.py": SLOW_IMPORT_PRE})
    with serve(path, ready=False) as s:
        assert s.request("GET", "/healthz")[0] == 200  # alive while loading
        status, headers, _ = s.request("GET", "/readyz")
        assert status == 503 and headers["retry-after"] == "1"
        assert s.request("GET", "/ping")[0] == 503
        status, _, out = s.request("POST", "/predict", {"inputs": rows(digits.x_test[:1])})
        assert status == 503 and out["error"]["code"] == "not_ready"
        deadline = time.monotonic() + 20
        while s.request("GET", "/readyz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert s.request("GET", "/readyz")[0] == 200
        assert s.request("POST", "/predict", {"inputs": rows(digits.x_test[:1])})[0] == 200


def test_drain_finishes_in_flight_requests(make_artifact: Any, digits: Any, serve: Any) -> None:
    cfg = {"hooks": {"preprocess": "pre:prepare"}}
    with serve(make_artifact(cfg, {"pre.py": SLOW_PRE})) as s:
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(
                s.request, "POST", "/predict", {"inputs": rows(digits.x_test[:1]), "sleep": 0.8}
            )
            deadline = time.monotonic() + 10
            while s.service.outstanding == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            code = s.server.stop()
            status, _, out = slow.result(10)
        assert status == 200 and out["outputs"]["label"] == digits.labels[:1].tolist()
        assert code == 0
        with pytest.raises(OSError):
            s.request("GET", "/healthz")


def test_rate_limits_hold_over_http_with_retry_after(
    make_artifact: Any, digits: Any, serve: Any
) -> None:
    cfg = {"rate_limit": {"tenant_rps": 1, "tenant_burst": 2}}
    with serve(make_artifact(cfg)) as s:
        payload = {"inputs": rows(digits.x_test[:1])}
        got = [s.request("POST", "/predict", payload, {"x-svai-tenant": "t"}) for _ in range(3)]
        assert [g[0] for g in got] == [200, 200, 429]
        assert got[2][1]["retry-after"] == "1" and got[2][2]["error"]["code"] == "rate_limited"
        assert s.request("POST", "/predict", payload, {"x-svai-tenant": "u"})[0] == 200
