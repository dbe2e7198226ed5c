"""The SageMaker streaming function end to end: bootstrap -> Runtime API -> endpoint -> svai.

The function's real start script (``svai_stream_bootstrap``, as the build writes it into the
zip) runs as a process against a loopback Lambda Runtime API; its boto3 client calls a loopback
SageMaker runtime that answers ``InvokeEndpointWithResponseStream`` in the AWS event-stream
encoding, in front of svai's real server serving a tiny random-weight Llama on CPU. The events
are function URL events (payload format 2.0), with the IAM caller an ``AWS_IAM`` URL adds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from stream_fakes import RuntimeApi, SageMakerRuntime
from test_openai_front import Gate, Served, llama, serving  # noqa: F401 (llama: a fixture)

from svai.build.target import render
from svai.compiler.streaming import STREAM_BOOTSTRAP
from svai.runtime.entry.jwt_auth import JwtVerifier
from svai.runtime.entry.sagemaker_stream import StreamingProxy

REPO = Path(__file__).resolve().parents[3]
CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def served(llama: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:  # noqa: F811
    with serving(llama, tmp_path_factory.mktemp("art")) as s:
        yield s


@pytest.fixture(scope="module")
def sagemaker(served: Served) -> Iterator[SageMakerRuntime]:
    fake = SageMakerRuntime(served.port)
    yield fake
    fake.close()


def _aws_env(sagemaker: SageMakerRuntime) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": sagemaker.url,
    }


@pytest.fixture(scope="module")
def function(
    sagemaker: SageMakerRuntime, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RuntimeApi]:
    """The streaming function's process, started by its bootstrap script, serving ``api``."""
    api = RuntimeApi()
    script = tmp_path_factory.mktemp("task") / STREAM_BOOTSTRAP
    script.write_text(render(f"{STREAM_BOOTSTRAP}.j2"))
    script.chmod(0o755)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "LAMBDA_TASK_ROOT": str(REPO),  # the code the zip carries: svai.runtime
        "SVAI_PYTHON": sys.executable,
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "SVAI_ENDPOINT_NAME": "support-llm-api",
        "SVAI_AUTH": "iam",
        "SVAI_MAX_PAYLOAD_BYTES": "128000",
        **_aws_env(sagemaker),
    }
    process = subprocess.Popen([str(script), "/var/runtime/bootstrap"], env=env)
    try:
        yield api
    finally:
        process.terminate()
        process.wait(10)
        api.close()


def url_event(
    body: Any, *, path: str = CHAT, signed: bool = True, **headers: str
) -> dict[str, Any]:
    """A function URL event (payload format 2.0) as Lambda delivers it."""
    context: dict[str, Any] = {
        "http": {"method": "POST", "path": path},
        "requestId": "url-request",
    }
    if signed:  # what an AWS_IAM URL adds once the SigV4 signature checks out
        context["authorizer"] = {
            "iam": {"accessKey": "AKIAEXAMPLE", "accountId": "123456789012", "userArn": "u"}
        }
    return {
        "version": "2.0",
        "rawPath": path,
        "headers": {"content-type": "application/json", **headers},
        "requestContext": context,
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def chat(content: str = "hello cat", **extra: Any) -> dict[str, Any]:
    return {"model": "tiny-llama", "messages": [{"role": "user", "content": content}], **extra}


def _events(body: bytes) -> list[str]:
    return [block[len("data: ") :] for block in body.decode().split("\n\n") if block]


def test_a_stream_reaches_the_caller_part_by_part_and_ends_with_done(
    served: Served, function: RuntimeApi
) -> None:
    engine = served.service.model.engine  # type: ignore[union-attr]
    gate = Gate(engine)
    served.service.model.engine = gate  # type: ignore[union-attr]
    try:
        function.invoke("r-stream", url_event(chat(max_tokens=12, stream=True, temperature=0)))
        answer = function.answer("r-stream")
        assert answer.headers["lambda-runtime-function-response-mode"] == "streaming"
        assert (
            answer.headers["content-type"] == "application/vnd.awslambda.http-integration-response"
        )
        seen = b""
        # The engine is held after its first token: a content chunk now cannot be a whole.
        while b'"content":"' not in seen.partition(b"\0" * 8)[2]:
            part = answer.chunks.get(timeout=60)
            assert part is not None, seen
            seen += part
        assert gate.waiting.wait(30) and not answer.done.is_set()
        gate.release.set()
        assert answer.done.wait(60)
    finally:
        served.service.model.engine = engine  # type: ignore[union-attr]
    prelude, body = answer.prelude_and_body()
    assert prelude["statusCode"] == 200
    assert prelude["headers"]["content-type"] == "text/event-stream"
    events = _events(body)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    texts = [c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]]
    assert len([t for t in texts if t]) > 1
    assert not answer.trailers  # no error reported
    # The same request whole, through InvokeEndpoint: the same text (greedy decoding).
    function.invoke("r-whole", url_event(chat(max_tokens=12, temperature=0)))
    whole = function.answer("r-whole")
    assert whole.done.wait(60)
    prelude, body = whole.prelude_and_body()
    assert prelude["statusCode"] == 200
    assert json.loads(body)["choices"][0]["message"]["content"] == "".join(texts)


def test_a_stream_that_breaks_midway_ends_with_an_error_event_and_trailers(
    sagemaker: SageMakerRuntime, function: RuntimeApi
) -> None:
    sagemaker.break_after = 1
    try:
        function.invoke("r-broken", url_event(chat(max_tokens=30, stream=True, temperature=0)))
        answer = function.answer("r-broken")
        assert answer.done.wait(60)
    finally:
        sagemaker.break_after = None
    prelude, body = answer.prelude_and_body()
    assert prelude["statusCode"] == 200  # the head was sent before the break
    events = _events(body)
    assert events[-1] == "[DONE]"
    error = json.loads(events[-2])["error"]
    assert error["code"] == "stream_failed" and "the container stopped" in error["message"]
    assert answer.trailers["lambda-runtime-function-error-type"] == "Function.StreamFailedError"
    assert "lambda-runtime-function-error-body" in answer.trailers


def test_errors_before_the_first_byte_are_statuses(function: RuntimeApi) -> None:
    # An unsigned event: the URL would be AWS_IAM, so the function refuses it.
    function.invoke("r-unsigned", url_event(chat(stream=True), signed=False))
    answer = function.answer("r-unsigned")
    assert answer.done.wait(30)
    prelude, body = answer.prelude_and_body()
    assert prelude["statusCode"] == 403 and json.loads(body)["error"]["code"] == "unauthorized"
    # The container's own 400, named by field, through SageMaker's ModelError.
    function.invoke("r-bad", url_event(chat(stream=True, n=2)))
    answer = function.answer("r-bad")
    assert answer.done.wait(30)
    prelude, body = answer.prelude_and_body()
    assert prelude["statusCode"] == 400 and "n" in json.loads(body)["error"]["message"]
    function.invoke("r-path", url_event(chat(), path="/predict"))
    answer = function.answer("r-path")
    assert answer.done.wait(30)
    assert answer.prelude_and_body()[0]["statusCode"] == 404


# -- jwt: the function checks the bearer token itself (function URLs have no JWT authorizer) --


class Issuer:
    """An OpenID issuer on 127.0.0.1: discovery document and RSA key set; signs tokens."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.key.public_key().public_numbers()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    doc: dict[str, Any] = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}jwks"}
                else:
                    doc = {
                        "keys": [
                            {
                                "kty": "RSA",
                                "kid": "k1",
                                "n": _b64u(numbers.n),
                                "e": _b64u(numbers.e),
                            }
                        ]
                    }
                data = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, **claims: Any) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header = _b64u_json({"alg": "RS256", "kid": "k1", "typ": "JWT"})
        payload = _b64u_json(
            {"iss": self.url, "aud": "support-llm", "exp": 4_102_444_800, **claims}
        )
        signed = f"{header}.{payload}".encode()
        signature = self.key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64u(number: int) -> str:
    return _b64(number.to_bytes((number.bit_length() + 7) // 8, "big"))


def _b64u_json(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value).encode())


def test_jwt_auth_lets_valid_tokens_stream_and_refuses_the_rest(
    sagemaker: SageMakerRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("cryptography")
    import boto3

    issuer = Issuer()
    try:
        for name, value in _aws_env(sagemaker).items():
            monkeypatch.setenv(name, value)
        proxy = StreamingProxy(
            boto3.client("sagemaker-runtime"),
            "support-llm-api",
            128_000,
            "jwt",
            JwtVerifier(issuer.url, "support-llm"),
        )

        def status(token: str | None) -> int:
            headers = {"authorization": f"Bearer {token}"} if token else {}
            answer = proxy.handle(
                url_event(chat(max_tokens=4, stream=True), signed=False, **headers)
            )
            b"".join(answer.body)
            return answer.status

        assert status(None) == 401
        assert status("not.a.jwt") == 401
        assert status(issuer.token(exp=1_000)) == 401  # expired
        assert status(issuer.token(aud="someone-else")) == 403
        forged = issuer.token()[:-8] + "AAAAAAAA"
        assert status(forged) == 401
        answer = proxy.handle(
            url_event(
                chat(max_tokens=4, stream=True),
                signed=False,
                authorization=f"Bearer {issuer.token()}",
            )
        )
        assert answer.status == 200
        assert _events(b"".join(answer.body))[-1] == "[DONE]"
    finally:
        issuer.server.shutdown()


@pytest.mark.parametrize("route", ["/invocations", "/score", "/predict"])
def test_a_managed_endpoints_one_route_answers_openai_bodies_by_their_shape(
    served: Served, route: str
) -> None:
    # SageMaker's /invocations, Azure ML's scoring route, Vertex's predict route (rawPredict).
    status, head, events = served.post(route, chat(max_tokens=5, stream=True, temperature=0))
    assert status == 200 and head["content-type"] == "text/event-stream"
    assert events[-1] == "[DONE]" and json.loads(events[0])["object"] == "chat.completion.chunk"
    status, _, body = served.post(route, {"prompt": "the cat", "max_tokens": 3})
    assert status == 200 and body["object"] == "text_completion"
    status, _, body = served.post(route, chat(n=2))  # the OpenAI front's own 400
    assert status == 400 and "n" in body["error"]["message"]
    # A prediction body keeps the route's meaning.
    status, _, body = served.post(route, {"inputs": "hello cat"})
    assert status == 200 and "generated_text" in json.dumps(body)
