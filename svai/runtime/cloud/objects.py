"""The deployment's bucket: one object-store client for every cloud, with no SDK.

The start-time model fetch (:mod:`svai.runtime.cloud.model_fetch`) reads objects through
:meth:`Bucket.url` and :meth:`Bucket.signer` with parallel ranged GETs; the claim check
(:mod:`svai.runtime.entry.claims`) stores and reads whole job bodies with :meth:`Bucket.put` and
:meth:`Bucket.get`. Both go through the same addressing and the same identity:

* ``s3``: the bucket's virtual-host URL (or ``AWS_ENDPOINT_URL_S3``), SigV4 with the keys in the
  environment or the container credentials endpoint;
* ``gs``: the Cloud Storage JSON API (or ``STORAGE_EMULATOR_HOST``), the metadata server's token
  (none against the emulator);
* ``azure``: the container's URL, the managed identity's token where ``IDENTITY_ENDPOINT`` is set
  (a public container otherwise, reads only).

S3 writes go through boto3 on the AWS front (:class:`svai.runtime.cloud.aws.S3Payloads`): the
signer here signs bodiless requests only.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from svai.runtime.cloud.aws_credentials import resolve_credentials
from svai.runtime.cloud.sigv4 import aws_region, s3_signer
from svai.runtime.core.errors import ConfigError
from svai.runtime.core.retry import Backoff, retry

if TYPE_CHECKING:
    from svai.runtime.core.download import Sign

# http.client (and with it ssl) loads when a request is made, not when a server imports this.

__all__ = ["STORES", "Bucket", "ObjectStoreError"]

STORES = ("s3", "gs", "azure")
"""The stores a bucket can be in."""

_BLOB_VERSION = "2021-08-06"
_TIMEOUT_S = 60.0


class ObjectStoreError(Exception):
    """The store refused a read or a write, or kept failing."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status

    @property
    def transient(self) -> bool:
        """Worth retrying: no answer, throttled, or a server error."""
        return self.status == 0 or self.status == 429 or self.status >= 500


@dataclass(frozen=True, slots=True)
class Bucket:
    """One deployment bucket.

    Attributes:
        store: ``s3``, ``gs`` or ``azure``.
        name: The bucket's name; on Azure, the container's URL.
        env: The environment (endpoints, identity).
    """

    store: str
    name: str
    env: Mapping[str, str]

    def __post_init__(self) -> None:
        if self.store not in STORES:
            raise ConfigError(f"object store {self.store!r} is not one of {', '.join(STORES)}")

    def url(self, key: str) -> str:
        """The URL that reads the object at ``key``."""
        env = self.env
        if self.store == "s3":
            if endpoint := env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL"):
                return f"{endpoint.rstrip('/')}/{self.name}/{key}"
            return f"https://{self.name}.s3.{aws_region(env)}.amazonaws.com/{key}"
        if self.store == "gs":
            name = urllib.parse.quote(key, safe="")
            return f"{self._gs_host()}/download/storage/v1/b/{self.name}/o/{name}?alt=media"
        return f"{self.name.rstrip('/')}/{key}"

    def signer(self) -> Sign:
        """The function that authorises each request to this store.

        Raises:
            ConfigError: the service identity's credentials are missing.
        """
        env = self.env
        if self.store == "s3":
            return s3_signer(resolve_credentials(env, "the deployment's bucket"), aws_region(env))
        if self.store == "gs":
            if env.get("STORAGE_EMULATOR_HOST"):
                return _no_auth
            from svai.runtime.cloud.gcp import MetadataTokens

            tokens = MetadataTokens.from_environment(env)
            return lambda _m, _u, _h: {"Authorization": f"Bearer {tokens.token()}"}
        version = {"x-ms-version": _BLOB_VERSION}
        if not env.get("IDENTITY_ENDPOINT"):
            return lambda _m, _u, _h: version  # a public container: reads only
        from svai.runtime.cloud.azure import ManagedIdentityTokens

        identity = ManagedIdentityTokens.from_environment(env)
        resource = "https://storage.azure.com/"
        return lambda _m, _u, _h: {**version, "Authorization": f"Bearer {identity.token(resource)}"}

    def get(self, key: str) -> bytes:
        """Read a whole object.

        Raises:
            ObjectStoreError: it is missing, or the store kept failing.
        """
        url = self.url(key)
        return self._send("GET", url, {}, b"", (200,))

    def put(self, key: str, data: bytes) -> None:
        """Write a whole object (the bucket's default encryption applies).

        Raises:
            ObjectStoreError: the store refused it, or kept failing.
            ConfigError: an S3 bucket (its writes go through boto3).
        """
        if self.store == "s3":
            raise ConfigError("S3 writes go through boto3 (svai.runtime.cloud.aws.S3Payloads)")
        if self.store == "gs":
            name = urllib.parse.quote(key, safe="")
            url = (
                f"{self._gs_host()}/upload/storage/v1/b/{self.name}/o?uploadType=media&name={name}"
            )
            headers = {"Content-Type": "application/octet-stream"}
        else:
            url = self.url(key)
            headers = {"x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream"}
        self._send("PUT" if self.store == "azure" else "POST", url, headers, data, (200, 201))

    def _gs_host(self) -> str:
        return self.env.get("STORAGE_EMULATOR_HOST", "https://storage.googleapis.com").rstrip("/")

    def _send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, ok: tuple[int, ...]
    ) -> bytes:
        sign = self.signer()

        def once() -> bytes:
            return _exchange(method, url, {**headers, **sign(method, url, headers)}, body, ok)

        return retry(once, retryable=_transient, attempts=4, backoff=Backoff(0.2, 5.0))


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, ObjectStoreError) and exc.transient


def _exchange(
    method: str, url: str, headers: Mapping[str, str], body: bytes, ok: tuple[int, ...]
) -> bytes:
    import http.client

    parts = urllib.parse.urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.netloc, timeout=_TIMEOUT_S)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request(method, path, body=body or None, headers=dict(headers))
        reply = conn.getresponse()
        data = reply.read()
    except (OSError, http.client.HTTPException) as exc:
        raise ObjectStoreError(f"{method} {parts.path}: {exc!r}") from None
    finally:
        conn.close()
    if reply.status not in ok:
        raise ObjectStoreError(
            f"{method} {parts.path}: HTTP {reply.status}: {data[:300]!r}", reply.status
        )
    return data


def _no_auth(_method: str, _url: str, _headers: Mapping[str, str]) -> Mapping[str, str]:
    return {}
