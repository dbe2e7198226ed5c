"""One JSON call over HTTPS with a bearer token: what the GCP and Azure readers need of REST."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from svai.errors import DeployError

__all__ = ["call"]

TIMEOUT_S = 30.0


def call(
    url: str,
    token: str,
    what: str,
    *,
    body: dict[str, Any] | None = None,
    method: str | None = None,
) -> dict[str, Any]:
    """GET ``url`` (or POST ``body`` as JSON) with ``token``; the JSON object answered.

    ``method`` sends ``body`` another way (``PATCH``). An empty answer (``202 Accepted``) is
    ``{}``.

    Raises:
        svai.errors.DeployError: the service refused, failed or answered something not JSON;
            the message starts with ``what``.
    """
    data = None if body is None else json.dumps(body).encode()
    verb = method or ("GET" if body is None else "POST")
    request = urllib.request.Request(url, data=data, method=verb)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            raw = answer.read()
            payload = json.loads(raw) if raw.strip() else {}
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        raise DeployError(f"{what} failed: HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DeployError(f"{what} failed: {exc}") from None
    if not isinstance(payload, dict):
        raise DeployError(f"{what} answered {type(payload).__name__}, not a JSON object")
    return payload
