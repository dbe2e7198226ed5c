"""AWS credentials for the runtime's stdlib clients, found the way the AWS SDKs find them.

The start-time model fetch signs its S3 requests itself (:mod:`svai.runtime.cloud.sigv4`) to
keep boto3 off the cold path, so it also finds its credentials itself, in the SDKs' order:

1. ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (``AWS_SESSION_TOKEN``): Lambda, tests.
2. The container credentials endpoint: ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` or
   ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`` (on ``169.254.170.2``), with
   ``AWS_CONTAINER_AUTHORIZATION_TOKEN`` when set: ECS and Fargate tasks.
3. The instance metadata service, IMDSv2 only (a session token first, then the role's
   credentials): EC2 hosts, which is where a SageMaker endpoint's container may get its
   execution role. ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` moves it (tests);
   ``AWS_EC2_METADATA_DISABLED=true`` turns it off.

References: the AWS SDKs and Tools reference guide, "Container credential provider" and "IMDS
credential provider"; the EC2 user guide, "Use IMDSv2".
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from svai.runtime.cloud.sigv4 import Credentials, credentials_from_environment
from svai.runtime.core.errors import ConfigError

__all__ = ["resolve_credentials"]

_CONTAINER_HOST = "http://169.254.170.2"
_IMDS = "http://169.254.169.254"
_IMDS_TOKEN_TTL_S = "21600"
_TIMEOUT_S = 2.0


def resolve_credentials(env: Mapping[str, str], purpose: str) -> Credentials:
    """Return the first credentials the SDKs' chain yields.

    Args:
        env: The process environment.
        purpose: What needs them, for the error (``"model.source"``).

    Raises:
        ConfigError: no source in the chain answered, naming each one tried.
    """
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return credentials_from_environment(env)
    container = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") or (
        _CONTAINER_HOST + env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]
        if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        else None
    )
    if container:
        token = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
        headers = {"Authorization": token} if token else {}
        try:
            body = _read(container, headers)
        except OSError as exc:  # urllib's HTTPError and URLError are OSErrors
            raise ConfigError(f"{purpose}: the container credentials endpoint: {exc}") from None
        return _from_json(body, f"{purpose}: the container endpoint")
    tried = "AWS_ACCESS_KEY_ID, the container endpoint (AWS_CONTAINER_CREDENTIALS_*)"
    if env.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
        raise ConfigError(f"{purpose}: no AWS credentials ({tried}; IMDS disabled)")
    base = env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT", _IMDS).rstrip("/")
    try:
        token = _read(
            f"{base}/latest/api/token",
            {"X-aws-ec2-metadata-token-ttl-seconds": _IMDS_TOKEN_TTL_S},
            method="PUT",
        ).decode()
        auth = {"X-aws-ec2-metadata-token": token}
        roles = f"{base}/latest/meta-data/iam/security-credentials/"
        role = _read(roles, auth).decode().split("\n")[0].strip()
        if not role:
            raise ConfigError(f"{purpose}: the instance has no IAM role")
        return _from_json(_read(roles + role, auth), f"{purpose}: IMDS")
    except OSError as exc:
        raise ConfigError(
            f"{purpose}: no AWS credentials ({tried}, the instance metadata service: {exc})"
        ) from None


def _read(url: str, headers: Mapping[str, str], method: str = "GET") -> bytes:
    # urllib.request imports http.client, which imports ssl (~10 ms): not before the server has
    # bound its port, and not at all on a platform that hands keys in the environment.
    import urllib.request

    request = urllib.request.Request(url, headers=dict(headers), method=method)
    with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as reply:
        body: bytes = reply.read()
    return body


def _from_json(body: bytes, where: str) -> Credentials:
    try:
        data = json.loads(body)
        return Credentials(data["AccessKeyId"], data["SecretAccessKey"], data.get("Token"))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{where} answered without credentials ({exc!r})") from None
