"""The Lambda in front of a SageMaker endpoint: HTTP API → ``InvokeEndpoint`` → HTTP response.

Set the function's handler to ``svai.runtime.entry.sagemaker_proxy.handler``; svai's AWS
backend does, and sets ``SVAI_ENDPOINT_NAME`` and ``SVAI_MAX_PAYLOAD_BYTES``. The endpoint's
container runs svai's HTTP server, which validates the payload and answers ``/invocations``; the
proxy refuses oversize bodies before calling it and hands the container's own status (a 4xx
with the field path, say) back to the caller unchanged, instead of SageMaker's generic 424.
``GET .../openapi.json`` answers the deployment's document from the proxy's own zip (the
endpoint has no GET path a caller can reach).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from svai.runtime.cloud.aws import is_transient
from svai.runtime.core.retry import Backoff, retry
from svai.runtime.entry.lambda_events import (
    BadEventError,
    classify_event,
    config_path,
    error_body,
    http_call,
    simple_response,
)
from svai.runtime.entry.openapi import MISSING, is_openapi, read_document

__all__ = [
    "EndpointProxy",
    "endpoint_failure",
    "endpoint_settings",
    "handler",
    "invoke_request",
    "throttled",
    "wants_stream",
]

_GENERATION = ("/v1/chat/completions", "/v1/completions")
_FORWARDED_HEADERS = ("content-type", "x-request-id", "idempotency-key", "x-svai-tenant")


class EndpointProxy:
    """Forwards HTTP events to one SageMaker endpoint.

    Args:
        client: A boto3 ``sagemaker-runtime`` client.
        endpoint: The endpoint name.
        max_payload_bytes: Larger bodies get 413 without reaching the endpoint.
        artifact: The folder of the proxy's zip, where ``openapi.json`` is (``None``: 404).
    """

    def __init__(
        self,
        client: Any,
        endpoint: str,
        max_payload_bytes: int,
        artifact: Path | None = None,
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.max_payload_bytes = max_payload_bytes
        self.artifact = artifact
        self._backoff = Backoff()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> EndpointProxy:
        """Build the proxy from the function's environment."""
        import boto3  # provided by the Lambda runtime

        where = config_path(environ)
        return cls(
            boto3.client("sagemaker-runtime"),
            *endpoint_settings(environ),
            where if where.is_dir() else where.parent,
        )

    def dispatch(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Answer one HTTP event."""
        kind = classify_event(event)
        if kind not in ("http_v1", "http_v2"):
            return simple_response(
                400, error_body("bad_event", "expected an HTTP event"), "http_v2"
            )
        try:
            call = http_call(event, kind, "x-request-id")
        except BadEventError as exc:
            return simple_response(400, error_body("bad_request", str(exc)), kind)
        if is_openapi(call.method, call.path):
            return self._openapi(kind)
        if call.method != "POST":
            return simple_response(405, error_body("method_not_allowed", call.method), kind)
        body = call.request.body
        if len(body) > self.max_payload_bytes:
            message = f"{len(body)} bytes > {self.max_payload_bytes}"
            return simple_response(413, error_body("payload_too_large", message), kind)
        if call.path in _GENERATION and wants_stream(body):
            # This path buffers (API Gateway, InvokeEndpoint): streams take the function URL.
            where = os.environ.get("SVAI_STREAM_URL", "the deployment's aws_stream_url")
            message = f"this URL answers whole; send stream: true to {where}{call.path}"
            return simple_response(400, error_body("streaming_unsupported", message), kind)
        request = invoke_request(self.endpoint, body, call.request.headers)
        try:
            reply = retry(
                lambda: self.client.invoke_endpoint(**request),
                retryable=throttled,
                backoff=self._backoff,
            )
        except Exception as exc:
            return endpoint_failure(exc, kind)
        payload = reply["Body"].read()
        out = {
            "statusCode": 200,
            "headers": {"content-type": reply.get("ContentType", "application/json")},
            "body": payload.decode("utf-8"),
            "isBase64Encoded": False,
        }
        return out

    def _openapi(self, kind: Any) -> dict[str, Any]:
        document = None if self.artifact is None else read_document(self.artifact)
        if document is None:
            return simple_response(404, error_body("not_found", MISSING), kind)
        return simple_response(200, document, kind)

    def handler(self) -> Any:
        """Return the Lambda handler function."""
        return self.dispatch


def wants_stream(body: bytes) -> bool:
    """Whether an OpenAI request body asks for a streamed answer (``stream: true``)."""
    try:
        decoded = json.loads(body)
    except ValueError:
        return False  # the container answers the 400
    return isinstance(decoded, dict) and decoded.get("stream") is True


def invoke_request(endpoint: str, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """``InvokeEndpoint``'s arguments for ``body``, with the caller's ids as custom attributes."""
    attributes = ";".join(f"{h}={headers[h]}" for h in _FORWARDED_HEADERS[1:] if h in headers)
    request: dict[str, Any] = {
        "EndpointName": endpoint,
        "Body": body,
        "ContentType": headers.get("content-type", "application/json"),
        "Accept": "application/json",
    }
    if attributes:
        request["CustomAttributes"] = attributes[:1024]
    return request


def throttled(exc: BaseException) -> bool:
    """Whether a failed endpoint call is worth retrying (throttled, or a transient failure)."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in ("ThrottlingException", "ServiceUnavailable") or (not code and is_transient(exc))


def endpoint_settings(environ: Mapping[str, str]) -> tuple[str, int]:
    """The endpoint's name and the largest body a caller may send, as the backend sets them."""
    return environ["SVAI_ENDPOINT_NAME"], int(environ.get("SVAI_MAX_PAYLOAD_BYTES", 6_000_000))


def endpoint_failure(exc: Exception, kind: Any) -> dict[str, Any]:
    """The caller's answer for a failed endpoint call (the container's own status when it had one)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return simple_response(502, error_body("endpoint_unreachable", repr(exc)), kind)
    error = response.get("Error", {})
    code = str(error.get("Code", ""))
    if code == "ModelError":
        # The container answered with an error: hand its status and body back unchanged.
        status = int(response.get("OriginalStatusCode") or 502)
        original = response.get("OriginalMessage") or error.get("Message", "")
        try:
            body = json.loads(original)
        except ValueError:
            body = error_body("model_error", str(original))
        return simple_response(status, body if isinstance(body, dict) else {"error": body}, kind)
    if code == "ValidationError":
        return simple_response(400, error_body("bad_request", str(error.get("Message", ""))), kind)
    if code in ("ThrottlingException", "ServiceUnavailable", "ModelNotReadyException"):
        message = str(error.get("Message", code))
        return simple_response(503, error_body("unavailable", message), kind, {"retry-after": "1"})
    return simple_response(
        502, error_body("endpoint_error", f"{code}: {error.get('Message', '')}"), kind
    )


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point; the client is built on first use."""
    global _PROXY
    if _PROXY is None:
        _PROXY = EndpointProxy.from_environment()
    return _PROXY.dispatch(event, context)


_PROXY: EndpointProxy | None = None
