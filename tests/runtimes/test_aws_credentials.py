"""The runtime's AWS credential chain against loopback endpoints that follow the documented REST.

IMDSv2: ``PUT /latest/api/token`` with a TTL header returns a session token; every metadata
``GET`` without that token is 401; ``/latest/meta-data/iam/security-credentials/`` lists the
role, and ``.../<role>`` returns its credentials as JSON. The container endpoint returns the
same JSON, and checks ``Authorization`` when a token is configured.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from svai.runtime.cloud.aws_credentials import resolve_credentials
from svai.runtime.core.errors import ConfigError

ROLE = "svai-endpoint-role"
CREDS = {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret", "Token": "session"}


class _Metadata(BaseHTTPRequestHandler):
    token = "imds-session-token"
    container_token: str | None = None
    seen: ClassVar[list[str]] = []

    def log_message(self, *_args: object) -> None:
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        self.seen.append(f"PUT {self.path}")
        if self.path != "/latest/api/token" or not self.headers.get(
            "X-aws-ec2-metadata-token-ttl-seconds"
        ):
            return self._send(400, b"")
        self._send(200, self.token.encode())

    def do_GET(self) -> None:
        self.seen.append(f"GET {self.path}")
        if self.path.startswith("/creds"):  # the container endpoint
            if self.container_token and self.headers.get("Authorization") != self.container_token:
                return self._send(403, b"")
            return self._send(200, json.dumps(CREDS).encode())
        if self.headers.get("X-aws-ec2-metadata-token") != self.token:
            return self._send(401, b"")  # IMDSv1 (no token) is refused, as with HttpTokens=required
        base = "/latest/meta-data/iam/security-credentials/"
        if self.path == base:
            return self._send(200, ROLE.encode())
        if self.path == base + ROLE:
            return self._send(200, json.dumps({"Code": "Success", **CREDS}).encode())
        self._send(404, b"")


@pytest.fixture
def metadata() -> Iterator[str]:
    _Metadata.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metadata)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_environment_keys_come_first() -> None:
    got = resolve_credentials({"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}, "x")
    assert (got.key, got.secret, got.token) == ("a", "b", None)


def test_imdsv2_takes_a_session_token_then_the_roles_credentials(metadata: str) -> None:
    got = resolve_credentials({"AWS_EC2_METADATA_SERVICE_ENDPOINT": metadata}, "x")
    assert (got.key, got.secret, got.token) == ("ASIAEXAMPLE", "secret", "session")
    assert _Metadata.seen[0] == "PUT /latest/api/token"


def test_the_container_endpoint_sends_its_authorization_token(metadata: str) -> None:
    _Metadata.container_token = "Bearer abc"
    try:
        env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{metadata}/creds"}
        with pytest.raises(ConfigError):
            resolve_credentials(env, "x")  # 403 without the token
        got = resolve_credentials({**env, "AWS_CONTAINER_AUTHORIZATION_TOKEN": "Bearer abc"}, "x")
        assert got.key == "ASIAEXAMPLE"
    finally:
        _Metadata.container_token = None


def test_no_source_names_what_was_tried(metadata: str) -> None:
    with pytest.raises(ConfigError, match="IMDS disabled"):
        resolve_credentials({"AWS_EC2_METADATA_DISABLED": "true"}, "model.source")
    with pytest.raises(ConfigError, match=r"AWS_ACCESS_KEY_ID.*instance metadata"):
        resolve_credentials({"AWS_EC2_METADATA_SERVICE_ENDPOINT": metadata + "/nothing"}, "m")
