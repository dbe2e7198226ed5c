"""Structured logs and metrics as one JSON line per event, in CloudWatch EMF shape.

Every request produces one line carrying the model version, request id, input hash, status,
latency and the cold-start flag (true for the first request after the model loaded). The line is
CloudWatch Embedded Metric Format: the ``_aws`` block declares ``latency_ms``, ``model_ms`` and the
0-or-1 counts ``errors``, ``cold_starts``, ``throttles`` as metrics with ``service`` and ``model_version`` as dimensions, so CloudWatch extracts metrics from
Lambda/ECS logs with no agent; on GCP and Azure the same line is an ordinary structured log (the
``severity`` and ``message`` keys are what Cloud Logging reads). No dependency beyond the
standard library; each line is written with a single ``write`` so concurrent lines never mix.

Observers (``Telemetry.observers``) see every request's fields, whether or not lines are written:
the OpenTelemetry exporter (:mod:`svai.runtime.core.otel`) is one.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Observer", "Telemetry"]

Observer = Callable[[str, dict[str, Any]], None]
"""Called with ``"request"`` or ``"generation"`` and that request's fields, after it answered."""

_REQUEST_METRICS = [
    {"Name": "latency_ms", "Unit": "Milliseconds"},
    {"Name": "model_ms", "Unit": "Milliseconds"},
    # 0 or 1 per request: their sums are counts, read back by ``svai.signals.aws``.
    {"Name": "errors", "Unit": "Count"},
    {"Name": "cold_starts", "Unit": "Count"},
    {"Name": "throttles", "Unit": "Count"},
]
_GENERATION_METRICS = [
    {"Name": "latency_ms", "Unit": "Milliseconds"},
    {"Name": "ttft_ms", "Unit": "Milliseconds"},
    {"Name": "tpot_ms", "Unit": "Milliseconds"},
    {"Name": "queue_ms", "Unit": "Milliseconds"},
    {"Name": "tokens_in", "Unit": "Count"},
    {"Name": "tokens_out", "Unit": "Count"},
]


def _stdout_sink(line: str) -> None:
    try:
        os.write(sys.stdout.fileno(), line.encode() + b"\n")
    except (OSError, ValueError):  # stdout closed or replaced by an object without a fd
        sys.stdout.write(line + "\n")


class Telemetry:
    """Writes request and lifecycle events; keeps a few counters for ``/metrics``-style use.

    Args:
        namespace: the CloudWatch metric namespace.
        service: the service name (a metric dimension).
        model_version: the model version id (a metric dimension).
        log_requests: write one line per request (lifecycle events are always written).
        sink: where lines go (default: stdout).
    """

    def __init__(
        self,
        namespace: str,
        service: str,
        model_version: str,
        log_requests: bool = True,
        sink: Callable[[str], None] | None = None,
    ) -> None:
        self.namespace = namespace
        self.service = service
        self.model_version = model_version
        self.log_requests = log_requests
        self.sink = sink or _stdout_sink
        self.counters: dict[str, int] = {}
        self.observers: list[Observer] = []
        self._lock = threading.Lock()

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``name``."""
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def event(self, message: str, level: str = "INFO", **fields: Any) -> None:
        """Write a lifecycle event (start-up, model loaded, drain, store outage, ...)."""
        record = {
            "timestamp": round(time.time() * 1000),
            "severity": level,
            "message": message,
            "service": self.service,
            "model_version": self.model_version,
            **fields,
        }
        self.sink(json.dumps(record, default=str))

    def _observe(self, kind: str, fields: dict[str, Any]) -> None:
        """Hand a request's fields to each observer; one that fails never fails the request."""
        for observer in self.observers:
            try:
                observer(kind, fields)
            except Exception:  # an exporter's bug must not reach the serving path
                self.count("observer_errors")

    def _emf(self, metrics: list[dict[str, str]], status: int, message: str) -> dict[str, Any]:
        """The head of a per-request line: the EMF block declaring ``metrics``, and who wrote it."""
        return {
            "_aws": {
                "Timestamp": round(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        # Per version (svai promote, status) and per service (the deployment's
                        # alarms, which outlive any one version).
                        "Dimensions": [["service", "model_version"], ["service"]],
                        "Metrics": metrics,
                    }
                ],
            },
            "severity": "ERROR" if status >= 500 else "INFO",
            "message": message,
            "service": self.service,
            "model_version": self.model_version,
        }

    def metrics(self, message: str, metrics: list[dict[str, str]], **fields: Any) -> None:
        """Write a periodic line (EMF) declaring ``metrics``, whose values are among ``fields``."""
        record = self._emf(metrics, 200, message)
        record.update(fields)
        self.sink(json.dumps(record))

    def generation(self, **fields: Any) -> None:
        """Write the per-request line of a generation (EMF: TTFT, TPOT, queue time, tokens).

        ``fields`` must hold ``status``; the metric names above and ``cold_start``,
        ``finish_reason``, ``stream``, ``cache``, ``fallback`` are what the OpenAI front passes.
        """
        self.count(f"status_{fields['status'] // 100}xx")
        self._observe("generation", fields)
        if not self.log_requests:
            return
        record = self._emf(_GENERATION_METRICS, fields["status"], "generation")
        record.update(fields)
        self.sink(json.dumps(record))

    def request(
        self,
        *,
        request_id: str,
        status: int,
        latency_ms: float,
        model_ms: float,
        input_hash: str | None,
        cold_start: bool,
        cache: str,
        fallback: bool,
        error: str | None = None,
    ) -> None:
        """Write the per-request line (EMF) and update the counters."""
        self.count(f"status_{status // 100}xx")
        fields: dict[str, Any] = {
            "request_id": request_id,
            "status": status,
            "latency_ms": round(latency_ms, 3),
            "model_ms": round(model_ms, 3),
            "input_hash": input_hash,
            "cold_start": cold_start,
            "errors": int(status >= 500),
            "cold_starts": int(cold_start),
            "throttles": int(status == 429),
            "cache": cache,
            "fallback": fallback,
        }
        if error is not None:
            fields["error"] = error
        self._observe("request", fields)
        if not self.log_requests:
            return
        record = self._emf(_REQUEST_METRICS, status, "request")
        record.update(fields)
        self.sink(json.dumps(record))
