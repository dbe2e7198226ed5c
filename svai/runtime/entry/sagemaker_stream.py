"""The streaming function in front of a SageMaker endpoint: function URL -> the endpoint, streamed.

The HTTP API -> proxy Lambda path (:mod:`svai.runtime.entry.sagemaker_proxy`) buffers the whole
answer and stops at 30 s. For text generation svai's AWS backend adds this function behind a
Lambda function URL in ``InvokeMode: RESPONSE_STREAM``; its runtime loop is
:mod:`svai.runtime.entry.lambda_stream` (started by the zip's ``svai_stream_bootstrap``).

``POST /v1/chat/completions`` and ``POST /v1/completions``:

* ``stream: true`` calls ``InvokeEndpointWithResponseStream`` and writes each ``PayloadPart``
  to the caller as it arrives: the endpoint's container is svai's server, whose
  ``/invocations`` answers an OpenAI body with its server-sent events
  (:mod:`svai.runtime.server.platform`), ``data: [DONE]`` last. A ``ModelStreamError`` or
  ``InternalStreamFailure`` after the first part ends the stream with an OpenAI error event
  and ``[DONE]``, and is reported to Lambda in the response's trailers;
* otherwise ``InvokeEndpoint``, answered whole;
* errors before the first byte keep the proxy's mapping: the container's own status and body
  (a 400 naming an unsupported parameter), 503 + ``Retry-After`` when throttled, 413 above
  ``SVAI_MAX_PAYLOAD_BYTES``.

Who may call it is the spec's ``api.auth`` (``SVAI_AUTH``): ``iam`` -- the URL's ``AWS_IAM``
auth type checks the SigV4 signature, and the function refuses (403) an event that carries no
IAM caller, so a URL left open by mistake serves nobody; ``jwt`` -- the URL is open and the
function checks the bearer token as the HTTP API's authorizer would
(:mod:`svai.runtime.entry.jwt_auth`); ``none`` -- anyone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

from svai.runtime.core.generation import SSE_DONE, sse
from svai.runtime.core.retry import Backoff, retry
from svai.runtime.entry.jwt_auth import AuthError, JwtVerifier
from svai.runtime.entry.lambda_events import BadEventError, classify_event, error_body, http_call
from svai.runtime.entry.lambda_stream import Answer, serve
from svai.runtime.entry.sagemaker_proxy import (
    endpoint_failure,
    endpoint_settings,
    invoke_request,
    throttled,
    wants_stream,
)

__all__ = ["StreamingProxy", "main"]

ROUTES = ("/v1/chat/completions", "/v1/completions")
_SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache"}


class StreamFailedError(RuntimeError):
    """The endpoint's stream broke after the caller got its first bytes."""


class StreamingProxy:
    """Answers function URL events from one SageMaker endpoint, streaming when asked.

    Args:
        client: A boto3 ``sagemaker-runtime`` client.
        endpoint: The endpoint name.
        max_payload_bytes: Larger bodies get 413 without reaching the endpoint.
        auth: ``iam``, ``jwt`` or ``none`` (the spec's ``api.auth``).
        verifier: Checks bearer tokens (``jwt`` only).
    """

    def __init__(
        self,
        client: Any,
        endpoint: str,
        max_payload_bytes: int,
        auth: str,
        verifier: JwtVerifier | None = None,
    ) -> None:
        if auth == "jwt" and verifier is None:
            raise ValueError("auth jwt needs a verifier (SVAI_JWT_ISSUER, SVAI_JWT_AUDIENCE)")
        if auth not in ("iam", "jwt", "none"):
            raise ValueError(f"auth {auth!r}: a function URL serves iam, jwt or none")
        self.client = client
        self.endpoint = endpoint
        self.max_payload_bytes = max_payload_bytes
        self.auth = auth
        self.verifier = verifier
        self._backoff = Backoff()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> StreamingProxy:
        """Build the proxy from the function's environment."""
        import boto3  # the managed Python runtime's

        auth = environ.get("SVAI_AUTH", "iam")
        verifier = None
        if auth == "jwt":
            verifier = JwtVerifier(environ["SVAI_JWT_ISSUER"], environ["SVAI_JWT_AUDIENCE"])
        return cls(
            boto3.client("sagemaker-runtime"),
            *endpoint_settings(environ),
            auth,
            verifier,
        )

    def handle(self, event: Any) -> Answer:
        """Answer one function URL event."""
        kind = classify_event(event)
        if kind != "http_v2":
            return _json(400, error_body("bad_event", "expected a function URL event"))
        try:
            call = http_call(event, kind, "x-request-id")
        except BadEventError as exc:
            return _json(400, error_body("bad_request", str(exc)))
        try:
            self._authenticate(event, call.request.headers)
        except AuthError as exc:
            extra = {"www-authenticate": "Bearer"} if self.auth == "jwt" else {}
            return _json(exc.status, error_body("unauthorized", exc.message), extra)
        if call.path not in ROUTES:
            return _json(404, error_body("not_found", f"{call.path} (this URL serves {ROUTES})"))
        if call.method != "POST":
            return _json(405, error_body("method_not_allowed", call.method), {"allow": "POST"})
        body = call.request.body
        if len(body) > self.max_payload_bytes:
            message = f"{len(body)} bytes > {self.max_payload_bytes}"
            return _json(413, error_body("payload_too_large", message))
        request = invoke_request(self.endpoint, body, call.request.headers)
        rid = call.request.headers.get("x-request-id", "")
        try:
            if wants_stream(body):
                request["Accept"] = "text/event-stream"
                reply = retry(
                    lambda: self.client.invoke_endpoint_with_response_stream(**request),
                    retryable=throttled,
                    backoff=self._backoff,
                )
                return Answer(200, {**_SSE_HEADERS, "x-request-id": rid}, _parts(reply["Body"]))
            reply = retry(
                lambda: self.client.invoke_endpoint(**request),
                retryable=throttled,
                backoff=self._backoff,
            )
        except Exception as exc:  # nothing sent yet: the caller gets a status
            failed = endpoint_failure(exc, kind)
            return Answer(failed["statusCode"], failed["headers"], iter([failed["body"].encode()]))
        headers = {
            "content-type": reply.get("ContentType", "application/json"),
            "x-request-id": rid,
        }
        return Answer(200, headers, iter([reply["Body"].read()]))

    def _authenticate(self, event: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        if self.auth == "iam":
            # AWS_IAM URLs put the verified caller here; without one the URL is not AWS_IAM.
            caller = ((event.get("requestContext") or {}).get("authorizer") or {}).get("iam")
            if not isinstance(caller, dict) or not caller.get("accessKey"):
                raise AuthError(403, "this URL takes SigV4-signed calls (AuthType AWS_IAM)")
        elif self.auth == "jwt":
            assert self.verifier is not None
            self.verifier.verify(headers.get("authorization"))


def _parts(stream: Any) -> Iterator[bytes]:
    """The endpoint's payload parts as they arrive; a broken stream ends with an error event."""
    tail = b"\n\n"
    try:
        for event in stream:
            part = event.get("PayloadPart", {}).get("Bytes", b"")
            if part:
                tail = (tail + part)[-2:]
                yield part
    except Exception as exc:  # ModelStreamError / InternalStreamFailure, or the connection
        message = str(exc) or type(exc).__name__
        error = {"message": message, "type": "server_error", "param": None, "code": "stream_failed"}
        # A part may end inside an event: close it so the error event parses on its own.
        yield (b"" if tail == b"\n\n" else b"\n\n") + sse({"error": error}) + SSE_DONE
        raise StreamFailedError(message) from exc


def _json(
    status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Answer:
    body = json.dumps(dict(payload), separators=(",", ":")).encode()
    return Answer(status, {"content-type": "application/json", **(headers or {})}, iter([body]))


def main() -> None:
    """The streaming function's process: build the proxy, then serve the Runtime API."""
    serve(lambda: StreamingProxy.from_environment().handle)


if __name__ == "__main__":
    main()
