"""AWS Lambda event shapes <-> the runtime core's ``Request`` / ``Response``.

Pure translation, no I/O and no AWS SDK, so every shape is unit-tested from the documented JSON:

* API Gateway HTTP API and Lambda function URLs send payload format 2.0 (``version: "2.0"``,
  ``requestContext.http.method``, lower-case ``headers`` with repeated values comma-joined,
  ``cookies`` apart) and take ``{statusCode, headers, body, isBase64Encoded, cookies}`` back;
* API Gateway REST APIs send format 1.0 (``httpMethod``, ``headers`` in any case, plus
  ``multiValueHeaders``) and take ``{statusCode, headers, multiValueHeaders, body,
  isBase64Encoded}`` back;
* SQS batches (``Records[*].eventSource == "aws:sqs"``) go to the queue worker;
* anything else that is a JSON object with ``inputs`` is a direct invocation (``aws lambda
  invoke``), answered with the decoded body.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from svai.runtime.core import Request, Response

__all__ = [
    "BadEventError",
    "EventKind",
    "HttpCall",
    "classify_event",
    "config_path",
    "direct_result",
    "error_body",
    "http_call",
    "proxy_response",
    "simple_response",
]

EventKind = Literal["http_v2", "http_v1", "sqs", "direct", "unknown"]


def classify_event(event: Any) -> EventKind:
    """Tell which trigger produced ``event``.

    Args:
        event: The decoded Lambda event.

    Returns:
        ``http_v2`` (HTTP API or function URL), ``http_v1`` (REST API), ``sqs``, ``direct``
        (an object carrying ``inputs``) or ``unknown``.
    """
    if not isinstance(event, dict):
        return "unknown"
    if event.get("version") == "2.0" and isinstance(event.get("requestContext"), dict):
        return "http_v2"
    if "httpMethod" in event and "requestContext" in event:
        return "http_v1"
    records = event.get("Records")
    if (
        isinstance(records, list)
        and records
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    ):
        return "sqs"
    if "inputs" in event or "instances" in event:
        return "direct"
    return "unknown"


class HttpCall:
    """The parts of an HTTP event the entry point needs.

    Attributes:
        kind: ``http_v1`` or ``http_v2`` (decides the response shape).
        method: Upper-case HTTP method.
        path: The request path.
        request: The core request (body decoded from base64 when flagged).
    """

    __slots__ = ("kind", "method", "path", "request")

    def __init__(self, kind: EventKind, method: str, path: str, request: Request) -> None:
        self.kind = kind
        self.method = method
        self.path = path
        self.request = request


class BadEventError(ValueError):
    """The event claims a base64 body that is not valid base64."""


def http_call(event: Mapping[str, Any], kind: EventKind, request_id_header: str) -> HttpCall:
    """Turn an API Gateway / function URL event into the core's ``Request``.

    The gateway's own request id becomes the request id when the client sent none, so logs,
    metrics and the response line up with API Gateway's access logs.

    Args:
        event: An ``http_v1`` or ``http_v2`` event.
        kind: Its kind, from :func:`classify_event`.
        request_id_header: The runtime config's request id header name (lower case).

    Returns:
        The method, path and core request.

    Raises:
        BadEventError: ``isBase64Encoded`` is true but the body is not base64.
    """
    context = event.get("requestContext") or {}
    if kind == "http_v2":
        method = str((context.get("http") or {}).get("method", "GET"))
        path = str(event.get("rawPath") or (context.get("http") or {}).get("path") or "/")
    else:
        method = str(event.get("httpMethod", "GET"))
        path = str(event.get("path") or "/")
    headers = _lower_headers(event)
    gateway_id = context.get("requestId")
    if request_id_header not in headers and isinstance(gateway_id, str):
        headers[request_id_header] = gateway_id
    raw = event.get("body")
    body: bytes
    if raw is None:
        body = b""
    elif event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(str(raw), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadEventError(f"body is flagged base64 but does not decode: {exc}") from None
    else:
        body = str(raw).encode("utf-8")
    request = Request(body, headers.get("content-type"), headers, protocol="auto")
    return HttpCall(kind, method.upper(), path, request)


def _lower_headers(event: Mapping[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    # v1 events repeat headers in multiValueHeaders; the single-value map holds the last one.
    for name, values in (event.get("multiValueHeaders") or {}).items():
        if isinstance(values, list) and values:
            headers[str(name).lower()] = ",".join(str(v) for v in values)
    for name, value in (event.get("headers") or {}).items():
        if value is not None:
            headers.setdefault(str(name).lower(), str(value))
    return headers


def proxy_response(response: Response, kind: EventKind) -> dict[str, Any]:
    """Build the proxy-integration result for ``response``.

    Args:
        response: The core's response.
        kind: ``http_v1`` or ``http_v2``.

    Returns:
        ``{statusCode, headers, body, isBase64Encoded}`` (plus ``multiValueHeaders`` for v1,
        ``cookies`` for v2), with a UTF-8 text body: the core only answers JSON.
    """
    headers = {"content-type": response.content_type, **dict(response.headers)}
    result: dict[str, Any] = {
        "statusCode": response.status,
        "headers": headers,
        "body": response.body.decode("utf-8"),
        "isBase64Encoded": False,
    }
    if kind == "http_v1":
        result["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    else:
        result["cookies"] = []
    return result


def direct_result(response: Response) -> dict[str, Any]:
    """Answer a direct invocation: the decoded JSON body, plus ``statusCode`` on errors.

    Args:
        response: The core's response.

    Returns:
        The body as an object (``statusCode`` added when it is not 200).
    """
    body = json.loads(response.body)
    if response.status != 200 and isinstance(body, dict):
        body["statusCode"] = response.status
    return body if isinstance(body, dict) else {"outputs": body}


def simple_response(
    status: int,
    payload: Mapping[str, Any],
    kind: EventKind,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A proxy response for answers the entry point gives itself (health, 405, bad event).

    Args:
        status: HTTP status.
        payload: JSON body.
        kind: ``http_v1`` or ``http_v2``.
        headers: Extra headers.

    Returns:
        The proxy-integration result.
    """
    body = json.dumps(dict(payload), separators=(",", ":")).encode()
    return proxy_response(Response(status, body, dict(headers or {})), kind)


def error_body(code: str, message: str, path: str | None = None) -> dict[str, Any]:
    """The error body every svai entry point answers with (the core's shape).

    Args:
        code: Stable machine-readable code (``payload_too_large``).
        message: What went wrong, for people.
        path: JSON path of the offending field, when there is one.

    Returns:
        ``{"error": {"code", "message"[, "path"]}}``.
    """
    error: dict[str, Any] = {"code": code, "message": message}
    if path:
        error["path"] = path
    return {"error": error}


def config_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where a function's runtime config is: ``SVAI_CONFIG``, else the Lambda task root, else ".".

    Args:
        environ: The environment to read.

    Returns:
        A config file or an artifact folder.
    """
    explicit = environ.get("SVAI_CONFIG")
    if explicit:
        return Path(explicit)
    return Path(environ.get("LAMBDA_TASK_ROOT") or ".")
