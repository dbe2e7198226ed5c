"""``observability.tracing: otel``: a served model's spans and metrics reach an OTLP receiver.

The receiver is a real HTTP server on 127.0.0.1 that decodes OTLP/HTTP protobuf with
``opentelemetry-proto``; the model is served by the real server process
(``python -m svai.runtime.server``), pointed at it by ``OTEL_EXPORTER_OTLP_ENDPOINT``.
"""

from __future__ import annotations

import gzip
import http.client
import json
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from test_server_process import start, wait_for

from svai.runtime.core.config import ConfigError, load_config

_MESSAGES = {
    "/v1/traces": (
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
    ),
    "/v1/metrics": (
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
    ),
}


class Receiver:
    """An OTLP/HTTP receiver: keeps every decoded export request, by path."""

    def __init__(self) -> None:
        self.received: dict[str, list[Any]] = {path: [] for path in _MESSAGES}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                request_type, response_type = _MESSAGES[self.path]
                assert self.headers["content-type"] == "application/x-protobuf"
                receiver.received[self.path].append(request_type.FromString(body))
                answer = response_type().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """Every span received, with its resource's attributes."""
        found = []
        for export in self.received["/v1/traces"]:
            for resource_spans in export.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope in resource_spans.scope_spans:
                    found += [(resource, span) for span in scope.spans]
        return found

    def metrics(self) -> dict[str, list[Any]]:
        """Every metric received, by name."""
        found: dict[str, list[Any]] = {}
        for export in self.received["/v1/metrics"]:
            for resource_metrics in export.resource_metrics:
                for scope in resource_metrics.scope_metrics:
                    for metric in scope.metrics:
                        found.setdefault(metric.name, []).append(metric)
        return found


def _value(value: AnyValue) -> Any:
    return getattr(value, value.WhichOneof("value"))


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def _predict(port: int, payload: Any) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("POST", "/predict", json.dumps(payload), {"content-type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.headers["x-request-id"]
    finally:
        conn.close()


def _wait(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_served_model_exports_one_span_per_request_and_its_metrics(
    make_artifact: Any, digits: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # spans leave within 0.1 s
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "600000")  # metrics only at the drain
    proc, records = start(make_artifact({"observability": {"tracing": "otel"}}))
    try:
        port = wait_for(records, "listening")["port"]
        wait_for(records, "model loaded")
        assert wait_for(records, "opentelemetry exporting")["endpoint"] == receiver.url
        row = [float(v) for v in digits.x_test[0]]
        answers = [_predict(port, {"inputs": [row]}) for _ in range(3)]
        answers.append(_predict(port, {"inputs": "not rows"}))
        assert [status for status, _ in answers] == [200, 200, 200, 422]
        _wait(lambda: len(receiver.spans()) >= 4, "4 spans")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        proc.kill()
        proc.wait(5)
    # The SDK was imported after the port was bound, never before it.
    messages = [r.get("message") for r in records]
    assert messages.index("listening") < messages.index("opentelemetry exporting")

    spans = receiver.spans()
    assert len(spans) == 4
    by_id = {_attributes(span.attributes)["svai.request_id"]: (res, span) for res, span in spans}
    assert set(by_id) == {rid for _, rid in answers}
    for status, rid in answers:
        resource, span = by_id[rid]
        attributes = _attributes(span.attributes)
        assert span.name == "svai.request"
        assert span.kind == span.SPAN_KIND_SERVER
        assert attributes["svai.model_version"] == "digits-v1"
        assert attributes["http.response.status_code"] == status
        assert resource["service.version"] == "digits-v1"
        assert span.end_time_unix_nano > span.start_time_unix_nano
    log_lines = {r["request_id"]: r for r in records if r.get("message") == "request"}
    assert {rid: _attributes(s.attributes)["svai.cold_start"] for rid, (_, s) in by_id.items()} == {
        rid: log_lines[rid]["cold_start"] for rid in by_id
    }

    # The drain flushed the interval's metrics: four requests, by status code.
    metrics = receiver.metrics()
    counted: dict[int, int] = {}
    for metric in metrics["svai.requests"]:
        for point in metric.sum.data_points:
            code = _attributes(point.attributes)["http.response.status_code"]
            counted[code] = counted.get(code, 0) + point.as_int
    assert counted == {200: 3, 422: 1}
    latency = [p for m in metrics["svai.request.latency"] for p in m.histogram.data_points]
    assert sum(p.count for p in latency) == 4


def test_without_tracing_the_server_exports_nothing(
    make_artifact: Any, digits: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    proc, records = start(make_artifact())
    try:
        port = wait_for(records, "listening")["port"]
        wait_for(records, "model loaded")
        assert _predict(port, {"inputs": [[float(v) for v in digits.x_test[0]]]})[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        proc.kill()
        proc.wait(5)
    assert "opentelemetry exporting" not in [r.get("message") for r in records]
    assert receiver.received == {"/v1/traces": [], "/v1/metrics": []}


def test_an_unknown_tracing_value_is_refused(make_artifact: Any) -> None:
    with pytest.raises(ConfigError, match=r"observability\.tracing"):
        load_config(make_artifact({"observability": {"tracing": "zipkin"}}))


def test_a_failing_observer_never_fails_the_request() -> None:
    from svai.runtime.core.telemetry import Telemetry

    lines: list[str] = []
    telemetry = Telemetry("svai", "s", "v1", sink=lines.append)
    seen: list[str] = []

    def broken(kind: str, fields: dict[str, Any]) -> None:
        raise RuntimeError("exporter bug")

    telemetry.observers += [broken, lambda kind, fields: seen.append(fields["request_id"])]
    telemetry.request(
        request_id="r1",
        status=200,
        latency_ms=1.0,
        model_ms=0.5,
        input_hash=None,
        cold_start=False,
        cache="miss",
        fallback=False,
    )
    assert seen == ["r1"] and json.loads(lines[0])["request_id"] == "r1"
    assert telemetry.counters["observer_errors"] == 1
