"""``GET /openapi.json`` for every entry point: the deployment's document, as ``svai build`` wrote it.

The HTTP server, the Lambda handler and the Cloud Run / Azure function shims answer it from the
same file (``openapi.json`` beside ``svai_runtime.json``), byte for byte, so a client can read the
request and response formats from whichever front the deployment has.
"""

from __future__ import annotations

from svai.runtime.core import Response, Service

__all__ = ["OPENAPI_FILE", "is_openapi", "openapi_response"]

OPENAPI_FILE = "openapi.json"

_MISSING = b'{"error": {"code": "not_found", "message": "no openapi.json in this build"}}'


def is_openapi(method: str, path: str) -> bool:
    """Whether a request asks for the document (a stage or route prefix before it is fine)."""
    return method == "GET" and path.rstrip("/").endswith("/" + OPENAPI_FILE)


def openapi_response(service: Service) -> Response:
    """200 with the document, or 404 for an artifact built before svai wrote one."""
    headers = {"x-svai-model-version": service.version}
    try:
        return Response(200, service.cfg.resolve(OPENAPI_FILE).read_bytes(), headers)
    except OSError:
        return Response(404, _MISSING, headers)
