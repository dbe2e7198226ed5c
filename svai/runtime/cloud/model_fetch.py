"""Start-time model fetch: the weights a build left out of the package, from the deployment's bucket.

``svai build`` with ``model.fetch: start`` writes ``model.source`` into ``svai_runtime.json``:
the store (``s3``, ``gs``, ``azure``), the variable that names the deployment's bucket (the
backend sets it), the model's digest and one entry per file (path, sha256, bytes). Each file is
the object ``models/sha256/<sha256>`` in that bucket. :func:`read_config` takes ``source`` out of
the config before the runtime parses it, points ``model.path`` at the local copy, and returns
the fetch to run before the model loads (on the server's load thread, so liveness answers while
the weights arrive). Every file is read by parallel ranged GETs
(:mod:`svai.runtime.core.download`) and hashed before it is renamed into place: a file whose
digest is not the pinned one is never loaded, so the service never becomes ready with it.

Identity, with no SDK on the cold-start path: S3 requests are SigV4-signed with the keys in the
environment (Lambda, tests) or the container credentials endpoint (ECS); Cloud Storage requests
carry the metadata server's token (none against ``STORAGE_EMULATOR_HOST``); Azure Blob requests
carry the managed identity's token, where ``IDENTITY_ENDPOINT`` is set.

The local copy lives under ``$SVAI_MODEL_CACHE`` (default ``/tmp/svai-models``) as
``<model sha256>/<path>``; a verified copy there is reused, not fetched again.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from svai.runtime.cloud.aws_credentials import resolve_credentials
from svai.runtime.cloud.sigv4 import aws_region, s3_signer
from svai.runtime.core.config import RuntimeConfig, parse_config, read_config_file
from svai.runtime.core.errors import ConfigError

if TYPE_CHECKING:
    from svai.runtime.core.download import Sign

# The HTTP clients (http.client, and with it ssl) load on the model's thread when the fetch runs,
# not before the server opens its port.

__all__ = ["CACHE_ENV", "Fetch", "read_config"]

CACHE_ENV = "SVAI_MODEL_CACHE"

_DEFAULT_CACHE = "/tmp/svai-models"  # the one place every platform lets the service write

_PREFIX = "models/sha256/"

_BLOB_VERSION = "2021-08-06"


@dataclass(frozen=True, slots=True)
class _File:
    path: str
    sha256: str
    bytes: int


@dataclass(frozen=True, slots=True)
class Fetch:
    """The files to fetch before the model loads, and where they go."""

    store: str
    bucket: str
    root: Path
    files: tuple[_File, ...]
    env: Mapping[str, str]

    @property
    def bytes(self) -> int:
        """Total size of the model's files."""
        return sum(f.bytes for f in self.files)

    def __call__(self) -> float:
        """Fetch every file into ``root`` (reusing verified copies); return the seconds taken.

        Raises:
            DownloadError: a file could not be read, or its digest is not the pinned one.
            ConfigError: the service identity's credentials are missing.
        """
        from svai.runtime.core.download import Ranged, download

        started = time.perf_counter()
        sign = _signer(self.store, self.env)
        for item in self.files:
            ranged = Ranged(self._url(_PREFIX + item.sha256), item.bytes, item.sha256, sign)
            download(ranged, self.root.joinpath(*item.path.split("/")))
        return time.perf_counter() - started

    def _url(self, key: str) -> str:
        env = self.env
        if self.store == "s3":
            if endpoint := env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL"):
                return f"{endpoint.rstrip('/')}/{self.bucket}/{key}"
            return f"https://{self.bucket}.s3.{aws_region(env)}.amazonaws.com/{key}"
        if self.store == "gs":
            host = env.get("STORAGE_EMULATOR_HOST", "https://storage.googleapis.com").rstrip("/")
            name = urllib.parse.quote(key, safe="")
            return f"{host}/download/storage/v1/b/{self.bucket}/o/{name}?alt=media"
        return f"{self.bucket.rstrip('/')}/{key}"  # an Azure container's URL


def read_config(
    path: str | os.PathLike[str], env: Mapping[str, str] = os.environ
) -> tuple[RuntimeConfig, Fetch | None]:
    """Read ``svai_runtime.json``; with a ``model.source``, also the fetch that must run first.

    Raises:
        ConfigError: the file is missing or invalid, or the bucket variable is not set.
    """
    data, base_dir = read_config_file(path)
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or model.get("source") is None:
        return parse_config(data, base_dir=base_dir), None
    # Parsed here, not by the config: the rest of the runtime sees a local model path.
    source = model.pop("source")
    fetch = _fetch(source, env)
    model["path"] = str(fetch.root.joinpath(*str(model.get("path", "")).split("/")))
    return parse_config(data, base_dir=base_dir), fetch


def _fetch(source: Any, env: Mapping[str, str]) -> Fetch:
    try:
        store = source["store"]
        bucket_env = source["bucket_env"]
        digest = source["sha256"]
        files = tuple(
            _File(str(f["path"]), str(f["sha256"]), int(f["bytes"])) for f in source["files"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"model.source: expected store, bucket_env, sha256, files ({exc!r})"
        ) from None
    if store not in ("s3", "gs", "azure"):
        raise ConfigError(f"model.source.store: {store!r} is not one of s3, gs, azure")
    bucket = env.get(str(bucket_env), "")
    if not bucket:
        raise ConfigError(
            f"model.source: the model is fetched at start from the deployment's bucket, and "
            f"{bucket_env} (the bucket; the deployment sets it) is not set"
        )
    if any(f.path.startswith("/") or ".." in f.path.split("/") for f in files):
        raise ConfigError("model.source.files: paths must stay inside the model folder")
    root = Path(env.get(CACHE_ENV) or _DEFAULT_CACHE) / str(digest)
    return Fetch(store, bucket, root, files, env)


def _signer(store: str, env: Mapping[str, str]) -> Sign:
    if store == "s3":
        return s3_signer(
            resolve_credentials(env, "model.source: the start-time fetch"), aws_region(env)
        )
    if store == "gs":
        if env.get("STORAGE_EMULATOR_HOST"):
            return _no_auth
        from svai.runtime.cloud.gcp import MetadataTokens

        tokens = MetadataTokens.from_environment(env)
        return lambda _m, _u, _h: {"Authorization": f"Bearer {tokens.token()}"}
    version = {"x-ms-version": _BLOB_VERSION}
    if not env.get("IDENTITY_ENDPOINT"):
        return lambda _m, _u, _h: version  # a public container (the Azurite tests)
    from svai.runtime.cloud.azure import ManagedIdentityTokens

    identity = ManagedIdentityTokens.from_environment(env)
    resource = "https://storage.azure.com/"
    return lambda _m, _u, _h: {**version, "Authorization": f"Bearer {identity.token(resource)}"}


def _no_auth(_method: str, _url: str, _headers: Mapping[str, str]) -> Mapping[str, str]:
    return {}
