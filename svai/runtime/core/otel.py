"""OpenTelemetry export of requests: one span each, and request metrics, over OTLP/HTTP.

``observability.tracing: otel`` turns it on in the container server (:mod:`svai.runtime.server`),
which attaches it after the port is bound, so the SDK's imports never delay the first listen.
It observes :class:`~svai.runtime.core.telemetry.Telemetry` (the EMF lines stay as they are):

* a span per request, named ``svai.request`` (``svai.generation`` for the OpenAI routes), timed
  from the request's arrival to its answer, with ``svai.request_id``, ``svai.model_version``,
  ``http.response.status_code`` and ``svai.cold_start`` as attributes; status ``ERROR`` on a 5xx;
* the histograms ``svai.request.latency`` and ``svai.request.model_time`` (ms) and the counter
  ``svai.requests``, by model version, status code and cold start; for generations, the
  ``svai.generation.ttft``/``tpot`` histograms and ``svai.generation.tokens`` counter.

The exporters read the standard variables: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the per-signal
``..._TRACES_ENDPOINT``/``..._METRICS_ENDPOINT``), ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_BSP_SCHEDULE_DELAY``, ``OTEL_METRIC_EXPORT_INTERVAL``, ``OTEL_RESOURCE_ATTRIBUTES``. The
providers are the exporter's own, not the process-wide globals, so a user's hooks keep theirs.

``opentelemetry-sdk`` and ``opentelemetry-exporter-otlp-proto-http`` are installed into the
image only when the spec asks for ``otel`` (:mod:`svai.build.target`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from svai.runtime.core.telemetry import Telemetry

__all__ = ["attach_otel", "attach_otel_in_background"]


def attach_otel_in_background(telemetry: Telemetry) -> Callable[[], None]:
    """:func:`attach_otel` on a thread of its own; return the shutdown (it waits for that thread).

    Requests answered before the SDK is up (it imports in a fraction of the model's load) are
    logged but not exported. Without the SDK the server serves on, with an ``ERROR`` event.
    """
    stops: list[Callable[[], None]] = []

    def attach() -> None:
        try:
            stops.append(attach_otel(telemetry))
        except ImportError as exc:
            telemetry.event("opentelemetry unavailable", level="ERROR", error=str(exc))
            return
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318")
        telemetry.event("opentelemetry exporting", endpoint=endpoint)

    thread = threading.Thread(target=attach, name="svai-otel", daemon=True)
    thread.start()

    def shutdown() -> None:
        thread.join()
        for stop in stops:
            stop()

    return shutdown


def attach_otel(telemetry: Telemetry) -> Callable[[], None]:
    """Export every request ``telemetry`` sees as an OTel span and metrics; return the shutdown.

    The shutdown flushes what is buffered (spans, and the metrics of the current interval) and
    stops the exporters; the server calls it after draining.

    Raises:
        ImportError: the OpenTelemetry SDK or its OTLP/HTTP exporter is not installed.
    """
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode
    from opentelemetry.util.types import AttributeValue

    resource = Resource.create(
        {"service.name": telemetry.service, "service.version": telemetry.model_version}
    )
    tracing = TracerProvider(resource=resource)
    tracing.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    metering = MeterProvider(
        resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())]
    )
    tracer = tracing.get_tracer("svai.runtime")
    meter = metering.get_meter("svai.runtime")
    latency = meter.create_histogram("svai.request.latency", unit="ms")
    model_time = meter.create_histogram("svai.request.model_time", unit="ms")
    requests = meter.create_counter("svai.requests", unit="{request}")
    ttft = meter.create_histogram("svai.generation.ttft", unit="ms")
    tpot = meter.create_histogram("svai.generation.tpot", unit="ms")
    tokens = meter.create_counter("svai.generation.tokens", unit="{token}")

    def observe(kind: str, fields: dict[str, Any]) -> None:
        # Telemetry calls this once the answer is sent: the span is drawn back to the arrival.
        end = time.time_ns()
        status = int(fields["status"])
        labels: dict[str, AttributeValue] = {
            "svai.model_version": telemetry.model_version,
            "http.response.status_code": status,
            "svai.cold_start": bool(fields.get("cold_start", False)),
        }
        span = tracer.start_span(
            f"svai.{kind}",
            kind=SpanKind.SERVER,
            start_time=end - int(fields["latency_ms"] * 1e6),
            attributes={
                **labels,
                "svai.request_id": fields["request_id"],
                "svai.cache": str(fields.get("cache")),
                "svai.fallback": bool(fields.get("fallback", False)),
            },
        )
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR, str(fields.get("error") or status)))
        span.end(end_time=end)
        latency.record(fields["latency_ms"], labels)
        requests.add(1, labels)
        if kind == "request":
            model_time.record(fields["model_ms"], labels)
            return
        for histogram, key in ((ttft, "ttft_ms"), (tpot, "tpot_ms")):
            if fields.get(key) is not None:
                histogram.record(fields[key], labels)
        for direction in ("in", "out"):
            tokens.add(fields.get(f"tokens_{direction}", 0), {**labels, "direction": direction})

    telemetry.observers.append(observe)

    def shutdown() -> None:
        telemetry.observers.remove(observe)
        tracing.shutdown()
        metering.shutdown()

    return shutdown
