"""Queue attachments in the HTTP server: chosen by ``SVAI_QUEUE_KIND``, refused when unknown."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from svai.runtime.core import Response, Service
from svai.runtime.core.errors import ConfigError
from svai.runtime.server.attach import worker_attachment
from svai.runtime.server.http import HttpServer, Routes
from svai.runtime.server.main import serve as serve_forever


def test_no_kind_means_no_attachment(
    make_artifact: Callable[..., Path], new_service: Callable[..., Service]
) -> None:
    assert worker_attachment(new_service(make_artifact()), {}) is None


def test_an_unknown_kind_stops_the_server_with_exit_code_2(
    make_artifact: Callable[..., Path], new_service: Callable[..., Service], lines: Any
) -> None:
    service = new_service(make_artifact(), lines)
    with pytest.raises(ConfigError, match="pubsub-push, servicebus"):
        worker_attachment(service, {"SVAI_QUEUE_KIND": "sqs"})
    code = serve_forever(service, "127.0.0.1", 0, {"SVAI_QUEUE_KIND": "sqs"}, install_signals=False)
    assert code == 2
    assert any(r.get("message") == "bad queue settings" for r in lines.records)


def test_extra_routes_get_method_headers_and_body(
    make_artifact: Callable[..., Path], new_service: Callable[..., Service]
) -> None:
    seen: list[tuple[str, str, bytes]] = []

    def echo(method: str, headers: Mapping[str, str], body: bytes) -> Response:
        seen.append((method, headers.get("x-probe", ""), body))
        return Response(204, b"")

    routes = Routes()
    routes.handlers["/_svai/test"] = echo
    server = HttpServer(new_service(make_artifact()), routes, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("POST", "/_svai/test", body=b'{"a": 1}', headers={"X-Probe": "p"})
        assert conn.getresponse().status == 204
        conn.close()
        assert seen == [("POST", "p", b'{"a": 1}')]
    finally:
        server.begin_drain()
