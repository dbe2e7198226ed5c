"""AWS secrets resolve at cold start under the same names GCP and Azure use (issue #24).

A moto server on 127.0.0.1 plays Secrets Manager; the Lambda app is built the way the handler
module builds it, with ``SVAI_SECRET_FEATURE_STORE_TOKEN`` set to the secret's name, as svai's
AWS backend sets it. The pre-processing hook reads ``os.environ["FEATURE_STORE_TOKEN"]`` when it
is imported and on every call, as it would on Cloud Run or Container Apps, where the platform
injects the value under that name (``tests/backends/test_gcp_lowering.py`` and
``tests/backends/test_azure_program.py`` assert those bindings in the plans).
"""

from __future__ import annotations

import copy
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from optimize_conftest import build_iris_artifact
from test_lambda_handler import HTTP_API_V2

from svai.runtime.cloud.secrets import AwsSecrets
from svai.runtime.core.errors import ConfigError
from svai.runtime.entry.emulator import LocalContext
from svai.runtime.entry.lambda_app import LambdaApp

HOOK = """
import os

from svai.runtime.core.errors import InvalidInput

AT_IMPORT = os.environ["FEATURE_STORE_TOKEN"]


def prepare(payload):
    if payload["token"] != os.environ["FEATURE_STORE_TOKEN"]:
        raise InvalidInput("$.token", "not the feature store token")
    return {"inputs": [[5.9, 3.0, 5.1, 1.8]]}
"""

SECRET = "prod/fraud/feature-store-token"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FEATURE_STORE_TOKEN", raising=False)  # restored (absent) afterwards
    return env


def _secrets_client(url: str) -> Any:
    return boto3.client("secretsmanager", endpoint_url=url, region_name="us-east-1")


def _call(handler: Any, token: str) -> int:
    event = copy.deepcopy(HTTP_API_V2)
    event["body"] = json.dumps({"token": token})
    return int(handler(event, LocalContext())["statusCode"])


def test_a_hook_reads_the_aws_secret_under_its_own_name(
    aws_env: dict[str, str], moto_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = _secrets_client(moto_url)
    arn = client.create_secret(Name=SECRET, SecretString="tok-1")["ARN"]
    build_iris_artifact(tmp_path, hooks={"preprocess": "features:prepare"})
    (tmp_path / "features.py").write_text(HOOK)
    env = {**aws_env, "SVAI_CONFIG": str(tmp_path), "SVAI_SECRET_FEATURE_STORE_TOKEN": arn}

    app = LambdaApp.from_environment({**env, "SVAI_SECRETS_TTL_S": "0"})
    try:
        handler = app.handler()
        assert os.environ["FEATURE_STORE_TOKEN"] == "tok-1"
        assert _call(handler, "tok-1") == 200
        assert _call(handler, "wrong") == 422
        # Rotation: with the TTL run out, the next invocation reads the new value.
        client.put_secret_value(SecretId=arn, SecretString="tok-2")
        assert _call(handler, "tok-2") == 200
        assert _call(handler, "tok-1") == 422
    finally:
        app.service.close()
    out = capsys.readouterr()
    assert "tok-1" not in out.out + out.err and "tok-2" not in out.out + out.err


def test_the_cache_holds_values_for_the_ttl(aws_env: dict[str, str], moto_url: str) -> None:
    client = _secrets_client(moto_url)
    client.create_secret(Name="cached", SecretString="v1")
    now = [0.0]
    secrets = AwsSecrets(
        {**aws_env, "SVAI_SECRET_CACHED": "cached", "SVAI_SECRETS_TTL_S": "60"},
        clock=lambda: now[0],
    )
    target: dict[str, str] = {}
    assert secrets.export(target) and target == {"CACHED": "v1"}
    client.put_secret_value(SecretId="cached", SecretString="v2")
    now[0] = 59.0
    assert not secrets.export(target) and target["CACHED"] == "v1"
    now[0] = 60.0
    assert secrets.export(target) and target["CACHED"] == "v2"


def test_a_missing_secret_is_a_config_error_naming_the_reference(
    aws_env: dict[str, str],
) -> None:
    secrets = AwsSecrets({**aws_env, "SVAI_SECRET_NOPE": "no/such/secret"})
    with pytest.raises(
        ConfigError,
        match=r"SVAI_SECRET_NOPE \(no/such/secret\).*HTTP \d+ ResourceNotFoundException",
    ):
        secrets.export({})


def test_no_references_means_no_requests() -> None:
    # No credentials and no endpoint: reading anything would raise.
    assert not AwsSecrets({"PATH": "/bin"}).export({})


def test_the_container_server_resolves_them_too(
    aws_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # SageMaker runs the server process: an unreadable reference stops it before it serves.
    from svai.runtime.server.main import main

    build_iris_artifact(tmp_path)
    monkeypatch.setenv("SVAI_SECRET_FEATURE_STORE_TOKEN", "missing/token")
    assert main(["--config", str(tmp_path), "--port", "0"]) == 2
    assert "SVAI_SECRET_FEATURE_STORE_TOKEN (missing/token)" in capsys.readouterr().err
