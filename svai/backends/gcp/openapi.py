"""The OpenAPI 2.0 document API Gateway serves in front of the Cloud Run services.

API Gateway only reads OpenAPI 2.0. The document carries the auth scheme (API key or JWT), the
per-consumer quota (API keys only: API Gateway meters quotas per consumer project, which it
learns from the key), and one ``x-google-backend`` per route, so the gateway calls the private
service with an ID token of its own service account. Rendering is pure and deterministic (sorted
JSON, which is also valid YAML).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from svai.ir import Entry

__all__ = ["QUOTA_METRIC", "jwks_uri", "render_openapi"]

QUOTA_METRIC = "svai-requests"
_PATH_PARAM = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)}")
_GOOGLE_ISSUERS = {
    "https://accounts.google.com": "https://www.googleapis.com/oauth2/v3/certs",
    "accounts.google.com": "https://www.googleapis.com/oauth2/v3/certs",
}


def jwks_uri(issuer: str) -> str:
    """Return the JWKS URI of ``issuer`` (the OIDC well-known location unless Google's)."""
    return _GOOGLE_ISSUERS.get(issuer, issuer.rstrip("/") + "/.well-known/jwks.json")


def render_openapi(title: str, version: str, entry: Entry, backends: Mapping[str, str]) -> str:
    """Return the gateway's OpenAPI document as sorted JSON.

    Args:
        title: API title (the deployment name).
        version: Model version shown in ``info.version``.
        entry: The plan's API layer: auth, rate limit, timeout, routes.
        backends: Base URL of the service serving each role (``api``, ``submit``, ``status``).

    Returns:
        The document text; the gateway config takes it base64-encoded.
    """
    doc: dict[str, Any] = {
        "swagger": "2.0",
        "info": {"title": title, "version": version[:63] or "0"},
        "schemes": ["https"],
        "produces": ["application/json"],
        "paths": {},
    }
    security_name = None
    if entry.auth == "api-key":
        security_name = "api_key"
        doc["securityDefinitions"] = {
            "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}
        }
        per_minute = max(1, round(entry.rate_limit_rps * 60))
        doc["x-google-management"] = {
            "metrics": [
                {
                    "name": QUOTA_METRIC,
                    "displayName": "svai requests",
                    "valueType": "INT64",
                    "metricKind": "DELTA",
                }
            ],
            "quota": {
                "limits": [
                    {
                        "name": "svai-requests-per-minute",
                        "metric": QUOTA_METRIC,
                        "unit": "1/min/{project}",
                        "values": {"STANDARD": per_minute},
                    }
                ]
            },
        }
    elif entry.auth == "jwt":
        security_name = "jwt"
        issuer = entry.jwt_issuer or ""
        doc["securityDefinitions"] = {
            "jwt": {
                "authorizationUrl": "",
                "flow": "implicit",
                "type": "oauth2",
                "x-google-issuer": issuer,
                "x-google-jwks_uri": jwks_uri(issuer),
                "x-google-audiences": entry.jwt_audience or "",
            }
        }
    for method, path, role in sorted(entry.routes):
        operation: dict[str, Any] = {
            "operationId": _operation_id(method, path),
            "x-google-backend": {
                # A templated path is appended by the gateway; a fixed one is the whole address.
                "address": backends[role].rstrip("/") + ("" if "{" in path else path),
                "deadline": float(entry.timeout_s),
                "path_translation": "APPEND_PATH_TO_ADDRESS" if "{" in path else "CONSTANT_ADDRESS",
            },
            "responses": {"200": {"description": "OK"}},
        }
        params = [
            {"in": "path", "name": name, "required": True, "type": "string"}
            for name in _PATH_PARAM.findall(path)
        ]
        if params:
            operation["parameters"] = params
        if security_name is not None:
            operation["security"] = [{security_name: []}]
        if entry.auth == "api-key":
            operation["x-google-quota"] = {"metricCosts": {QUOTA_METRIC: 1}}
        doc["paths"].setdefault(path, {})[method.lower()] = operation
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "root"
    return f"{method.lower()}_{words}"
