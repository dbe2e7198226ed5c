"""``GET /openapi.json`` for every entry point: the deployment's document, as ``svai build`` wrote it.

The HTTP server, the Lambda handler and the Cloud Run / Azure function shims answer it from the
same file (``openapi.json`` beside ``svai_runtime.json``), byte for byte, so a client can read the
request and response formats from whichever front the deployment has.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from svai.runtime.core import Response, Service

__all__ = ["MISSING", "OPENAPI_FILE", "is_openapi", "openapi_response", "read_document"]

OPENAPI_FILE = "openapi.json"

MISSING = "no openapi.json in this build"
"""The 404's message, from every front."""

_MISSING = json.dumps({"error": {"code": "not_found", "message": MISSING}}).encode()


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


def read_document(folder: Path) -> dict[str, Any] | None:
    """The document in an artifact ``folder``, decoded (fronts that answer JSON objects).

    ``None`` for an artifact built before svai wrote one.
    """
    try:
        document: dict[str, Any] = json.loads(folder.joinpath(OPENAPI_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    return document
