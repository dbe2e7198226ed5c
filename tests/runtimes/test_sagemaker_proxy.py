"""The Lambda proxy in front of a SageMaker endpoint, against a local SageMaker-runtime emulator.

The emulator speaks the real ``InvokeEndpoint`` wire protocol on 127.0.0.1 (the one boto3 uses)
and hands each body to a real svai runtime, as SageMaker hosting does with the container's
``/invocations``; container errors come back as SageMaker's ``ModelError`` (HTTP 424).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from optimize_conftest import build_iris_artifact

from svai.runtime.core import Request, Service, load_config
from svai.runtime.entry.sagemaker_proxy import EndpointProxy

boto3 = pytest.importorskip("boto3")

SCHEMA = {
    "type": "object",
    "required": ["inputs"],
    "properties": {"inputs": {"type": "array", "items": {"type": "array", "minItems": 4}}},
}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    artifact = build_iris_artifact(tmp_path_factory.mktemp("sm"), api={"input_schema": SCHEMA})
    service = Service.from_config(load_config(artifact))
    service.load()
    seen: list[dict[str, Any]] = []

    class Hosting(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            name = self.path.split("/")[2]
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(
                {
                    "endpoint": name,
                    "attributes": self.headers.get("X-Amzn-SageMaker-Custom-Attributes"),
                }
            )
            reply = service.handle(Request(body, self.headers.get("Content-Type"), {}))
            if reply.status == 200:
                self._send(200, reply.body, {"Content-Type": "application/json"})
                return
            error = {
                "ErrorCode": "CLIENT_ERROR_FROM_MODEL",
                "OriginalStatusCode": reply.status,
                "OriginalMessage": reply.body.decode(),
                "Message": f"Received client error ({reply.status}) from primary",
            }
            self._send(424, json.dumps(error).encode(), {"x-amzn-ErrorType": "ModelError"})

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hosting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = boto3.client(
        "sagemaker-runtime",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    yield {"proxy": EndpointProxy(client, "scorer-api", 2048), "seen": seen}
    server.shutdown()
    service.close()


def event(body: str, method: str = "POST", **headers: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": "/predict",
        "headers": {"content-type": "application/json", **headers},
        "requestContext": {"http": {"method": method, "path": "/predict"}, "requestId": "gw"},
        "body": body,
        "isBase64Encoded": False,
    }


def test_a_prediction_passes_through(endpoint: dict[str, Any]) -> None:
    reply = endpoint["proxy"].dispatch(
        event('{"inputs": [[5.1, 3.5, 1.4, 0.2]]}', **{"x-request-id": "r-1"})
    )
    assert reply["statusCode"] == 200
    assert json.loads(reply["body"])["outputs"]["label"] == [0]
    assert endpoint["seen"][-1] == {"endpoint": "scorer-api", "attributes": "x-request-id=r-1"}


def test_the_containers_4xx_reaches_the_caller_with_its_field_path(
    endpoint: dict[str, Any],
) -> None:
    reply = endpoint["proxy"].dispatch(event('{"inputs": [[1, 2]]}'))
    assert reply["statusCode"] == 422
    assert json.loads(reply["body"])["error"]["path"].startswith("$.inputs[0]")


def test_oversize_and_wrong_method_never_reach_the_endpoint(endpoint: dict[str, Any]) -> None:
    before = len(endpoint["seen"])
    big = json.dumps({"inputs": [[1.0, 2.0, 3.0, 4.0]] * 200})
    assert endpoint["proxy"].dispatch(event(big))["statusCode"] == 413
    assert endpoint["proxy"].dispatch(event("{}", method="GET"))["statusCode"] == 405
    assert len(endpoint["seen"]) == before


def test_a_body_of_exactly_the_limit_is_passed_on_and_one_byte_more_is_not(
    endpoint: dict[str, Any],
) -> None:
    body = '{"inputs": [[5.1, 3.5, 1.4, 0.2]]}'
    at_limit = body + " " * (2048 - len(body))  # the proxy's max_payload_bytes
    before = len(endpoint["seen"])
    assert endpoint["proxy"].dispatch(event(at_limit + " "))["statusCode"] == 413
    assert len(endpoint["seen"]) == before
    assert endpoint["proxy"].dispatch(event(at_limit))["statusCode"] == 200
    assert len(endpoint["seen"]) == before + 1


def test_stream_true_on_the_buffering_path_is_a_400_naming_the_stream_url(
    endpoint: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVAI_STREAM_URL", "https://abc.lambda-url.us-east-1.on.aws")
    before = len(endpoint["seen"])
    chat = event('{"messages": [{"role": "user", "content": "hi"}], "stream": true}')
    chat["rawPath"] = "/v1/chat/completions"
    reply = endpoint["proxy"].dispatch(chat)
    assert reply["statusCode"] == 400
    error = json.loads(reply["body"])["error"]
    assert error["code"] == "streaming_unsupported"
    assert "https://abc.lambda-url.us-east-1.on.aws/v1/chat/completions" in error["message"]
    assert len(endpoint["seen"]) == before  # never reached the endpoint
