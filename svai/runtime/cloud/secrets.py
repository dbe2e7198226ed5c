"""AWS secrets at cold start: ``SVAI_SECRET_<NAME>`` (a Secrets Manager reference) -> ``<NAME>``.

GCP and Azure put a declared secret's value in the environment under its own name (Cloud Run's
``secret_key_ref``, a Container Apps Key Vault reference). Lambda has no such binding, so svai's
AWS backend sets ``SVAI_SECRET_<NAME>`` to the secret's name or ARN and this module resolves it
before the hooks load: a hook reading ``os.environ["FEATURE_STORE_TOKEN"]`` works on all three
clouds. Values are cached for ``SVAI_SECRETS_TTL_S`` seconds (default 300) and re-read after, so a
rotated secret reaches a warm execution environment; they are never logged, and errors name the
variable and the reference, never a value.

Why not boto3 or the Parameters and Secrets extension: one ``GetSecretValue`` is a signed JSON
POST (:mod:`svai.runtime.cloud.sigv4`), and importing boto3 costs the cold start ~250 ms on the
2-core dev machine (``lambda_app``'s docstring); the extension is a layer the deployment would
have to attach. The endpoint is ``AWS_ENDPOINT_URL_SECRETS_MANAGER``, else ``AWS_ENDPOINT_URL``,
else the regional one (the VPC interface endpoint answers the same name under private egress).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable, Mapping, MutableMapping

from svai.runtime.cloud.aws_credentials import resolve_credentials
from svai.runtime.cloud.sigv4 import Credentials, aws_region, sign_v4
from svai.runtime.core.errors import ConfigError

__all__ = ["PREFIX", "TTL_ENV", "AwsSecrets"]

PREFIX = "SVAI_SECRET_"

TTL_ENV = "SVAI_SECRETS_TTL_S"

_DEFAULT_TTL_S = 300.0

_TARGET = "secretsmanager.GetSecretValue"


class AwsSecrets:
    """The declared secrets of an AWS deployment, read from Secrets Manager and cached.

    Args:
        env: The environment holding ``SVAI_SECRET_<NAME>`` references (and the credentials).
        clock: Monotonic seconds, for the TTL.
    """

    def __init__(
        self, env: Mapping[str, str], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.refs = {
            name.removeprefix(PREFIX): ref
            for name, ref in sorted(env.items())
            if name.startswith(PREFIX) and ref
        }
        self.ttl_s = float(env.get(TTL_ENV) or _DEFAULT_TTL_S)
        self._env = dict(env)
        self._clock = clock
        self._read_at: float | None = None
        self._credentials: Credentials | None = None

    def export(self, target: MutableMapping[str, str] = os.environ) -> bool:
        """Write every secret's value into ``target`` under its name, unless the cache is fresh.

        Args:
            target: Where the values go (the process environment).

        Returns:
            True if Secrets Manager was read (first call, or the TTL ran out).

        Raises:
            ConfigError: a secret could not be read; the message names it, not its value.
        """
        now = self._clock()
        if not self.refs or (self._read_at is not None and now - self._read_at < self.ttl_s):
            return False
        values = {name: self._read(name, ref) for name, ref in self.refs.items()}
        target.update(values)
        self._read_at = now
        return True

    def _read(self, name: str, ref: str) -> str:
        import urllib.error
        import urllib.request

        env = self._env
        region = aws_region(env)
        endpoint = (
            env.get("AWS_ENDPOINT_URL_SECRETS_MANAGER")
            or env.get("AWS_ENDPOINT_URL")
            or f"https://secretsmanager.{region}.amazonaws.com"
        ).rstrip("/") + "/"
        if self._credentials is None:
            self._credentials = resolve_credentials(env, "security.secrets")
        body = json.dumps({"SecretId": ref}).encode()
        headers = {"content-type": "application/x-amz-json-1.1", "x-amz-target": _TARGET}
        when = dt.datetime.now(dt.UTC)
        headers.update(
            sign_v4(
                self._credentials, region, "secretsmanager", "POST", endpoint, headers, body, when
            )
        )
        request = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                data = json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            code = _error_code(exc.read())
            raise ConfigError(
                f"security.secrets: {PREFIX}{name} ({ref}) could not be read: HTTP {exc.code} "
                f"{code}"
            ) from None
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"security.secrets: {PREFIX}{name} ({ref}) could not be read: {type(exc).__name__}"
            ) from None
        value = data.get("SecretString") if isinstance(data, dict) else None
        if not isinstance(value, str):
            raise ConfigError(
                f"security.secrets: {PREFIX}{name} ({ref}) has no SecretString (binary secrets "
                "are not exported to the environment)"
            )
        return value


def _error_code(body: bytes) -> str:
    """The AWS error type of a JSON error reply (``ResourceNotFoundException``), or ``""``."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return str(data.get("__type", "")).rsplit("#", 1)[-1] if isinstance(data, dict) else ""
