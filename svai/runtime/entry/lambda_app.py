"""Routing of every AWS Lambda event kind to one loaded runtime core (``LambdaApp``).

Handles API Gateway (REST v1, HTTP v2), function URLs, SQS batches and direct invocations; an
HTTP ``GET .../openapi.json`` answers the deployment's OpenAPI document, any other GET readiness. The
handler module ``svai.runtime.entry.aws_lambda`` builds one ``LambdaApp`` at import time (Lambda's
init phase); this module has no import-time side effects so it can be tested and reused.
Configuration, all optional, by environment variable:

=========================  =====================================================================
``SVAI_CONFIG``            the runtime config file or artifact folder (default: the folder of
                           ``LAMBDA_TASK_ROOT``, else the working directory)
``SVAI_RESULTS_TABLE``     DynamoDB table for async results (pattern B); SQS jobs are written
                           there once per client request id
``SVAI_RESULT_TTL_S``      how long results are kept (default 7 days)
``SVAI_RETRY_BASE_S``      first visibility backoff of a failed SQS record (default 2 s)
``SVAI_RETRY_CAP_S``       largest visibility backoff (default 300 s)
``SVAI_SECRET_<NAME>``     a Secrets Manager reference, resolved into ``<NAME>`` before the hooks
                           load and re-read after ``SVAI_SECRETS_TTL_S`` (default 300 s)
=========================  =====================================================================

Logging and invocation metrics use AWS Lambda Powertools (``Logger`` with the Lambda context and
cold-start flag, ``Metrics`` with the cold-start metric, ``BatchProcessor`` for SQS partial
batch responses); per-request lines are the runtime core's CloudWatch EMF records. Measured on
the 2-core dev machine, Logger + Metrics add ~17 ms of imports after onnxruntime (cheap enough
for the cold-start budget); the batch utility adds ~40 ms and boto3 ~250 ms, so both are imported
only when an SQS event or a results table needs them (``bench/bench_lambda.py`` reports these).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.logging.logger import Logger
from aws_lambda_powertools.metrics import Metrics, MetricUnit

from svai.runtime.cloud.secrets import AwsSecrets
from svai.runtime.core import Request, Service, load_config
from svai.runtime.core.retry import Backoff
from svai.runtime.entry.jobs import PAYLOAD_BUCKET_ENV
from svai.runtime.entry.lambda_events import (
    BadEventError,
    EventKind,
    classify_event,
    config_path,
    direct_result,
    error_body,
    http_call,
    proxy_response,
    simple_response,
)
from svai.runtime.entry.openapi import is_openapi, openapi_response
from svai.runtime.entry.stores import STORES
from svai.runtime.entry.worker import QueueWorker

__all__ = ["LambdaApp"]

_ALLOWED = "GET, POST"


class LambdaApp:
    """One loaded model plus the routing of every Lambda event kind to it.

    Args:
        service: A loaded ``Service``.
        environ: Environment for the optional results table and backoff settings.
    """

    def __init__(
        self,
        service: Service,
        environ: Mapping[str, str] = os.environ,
        *,
        secrets: AwsSecrets | None = None,
    ) -> None:
        self.service = service
        self.environ = dict(environ)
        self.secrets = secrets or AwsSecrets(environ)
        observability = service.cfg.observability
        self.logger = Logger(service=observability.service)
        self.metrics = Metrics(namespace=observability.namespace, service=observability.service)
        self.metrics.set_default_dimensions(model_version=service.version)
        self._worker: QueueWorker | None = None
        self._request_id_header = service.cfg.api.request_id_header.lower()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> LambdaApp:
        """Read the config, load and warm the model: the work of Lambda's init phase.

        Args:
            environ: The environment (see the module docstring).

        Returns:
            The ready app.
        """
        secrets = AwsSecrets(environ)
        secrets.export()  # before the hooks load: they read the values under their own names
        service = Service.from_config(load_config(config_path(environ)), stores=STORES)
        service.load()
        return cls(service, environ, secrets=secrets)

    def handler(self) -> Callable[[Any, Any], Any]:
        """Return the Lambda handler, wrapped with Powertools' context logging and metrics."""

        @self.metrics.log_metrics(capture_cold_start_metric=True)
        @self.logger.inject_lambda_context(clear_state=True)
        def handle(event: Any, context: Any) -> Any:
            return self.dispatch(event, context)

        wrapped: Callable[[Any, Any], Any] = handle
        return wrapped

    def dispatch(self, event: Any, context: Any = None) -> Any:
        """Route one event by its kind and return what Lambda should answer.

        Args:
            event: The Lambda event.
            context: The Lambda context.

        Returns:
            A proxy response (HTTP events), a partial batch response (SQS), or the result
            body (direct invocation).
        """
        self.secrets.export()  # re-reads only once the TTL has run out (rotation)
        kind = classify_event(event)
        self.metrics.add_metric(name="Invocations", unit=MetricUnit.Count, value=1)
        if kind in ("http_v1", "http_v2"):
            return self._http(event, kind)
        if kind == "sqs":
            return self._sqs(event, context)
        if kind == "direct":
            body = json.dumps(event, separators=(",", ":")).encode()
            request = Request(body, "application/json", {}, protocol="auto")
            return direct_result(self.service.handle(request))
        self.logger.warning(
            "unrecognised event",
            extra={"keys": sorted(map(str, event))[:20]} if isinstance(event, dict) else {},
        )
        return {
            "statusCode": 400,
            **error_body("unknown_event", "not an HTTP, SQS or direct event"),
        }

    def _http(self, event: Mapping[str, Any], kind: EventKind) -> dict[str, Any]:
        try:
            call = http_call(event, kind, self._request_id_header)
        except BadEventError as exc:
            return simple_response(400, error_body("malformed_body", str(exc)), kind)
        if is_openapi(call.method, call.path):
            return proxy_response(openapi_response(self.service), kind)
        if call.method == "GET":
            ready = self.service.ready
            status = {
                "status": "ready" if ready else "loading",
                "model_version": self.service.version,
            }
            return simple_response(200 if ready else 503, status, kind)
        if call.method != "POST":
            message = f"{call.method} is not allowed"
            return simple_response(
                405, error_body("method_not_allowed", message), kind, {"allow": _ALLOWED}
            )
        return proxy_response(self.service.handle(call.request), kind)

    def _sqs(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        worker = self.worker()
        response = worker.handle_batch(event, context)
        records = len(event.get("Records", []))
        failures = len(response.get("batchItemFailures", []))
        self.metrics.add_metric(name="BatchRecords", unit=MetricUnit.Count, value=records)
        self.metrics.add_metric(name="BatchItemFailures", unit=MetricUnit.Count, value=failures)
        if failures:
            self.logger.warning(
                "batch items failed", extra={"failed": failures, "records": records}
            )
        return response

    def worker(self) -> QueueWorker:
        """The queue worker, built on first use (it imports boto3 only when a table is set)."""
        if self._worker is None:
            env = self.environ
            results = sqs = None
            table = env.get("SVAI_RESULTS_TABLE")
            if table:
                import boto3

                from svai.runtime.cloud.aws import ResultsStore

                results = ResultsStore(
                    boto3.client("dynamodb"),
                    table,
                    ttl_s=float(env.get("SVAI_RESULT_TTL_S", 7 * 86_400)),
                )
                sqs = boto3.client("sqs")
            backoff = Backoff(
                base_s=float(env.get("SVAI_RETRY_BASE_S", 2.0)),
                cap_s=float(env.get("SVAI_RETRY_CAP_S", 300.0)),
            )
            if results is None:
                self.logger.warning(
                    "SQS event without SVAI_RESULTS_TABLE: predictions are computed but not stored"
                )
            payloads = None
            if bucket := env.get(PAYLOAD_BUCKET_ENV):
                import boto3

                from svai.runtime.cloud.aws import S3Payloads

                payloads = S3Payloads(boto3.client("s3"), bucket)
            self._worker = QueueWorker(self.service, results, sqs, backoff, payloads=payloads)
        return self._worker
