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

Addresses and identity, with no SDK on the cold-start path, are the deployment bucket's
(:class:`svai.runtime.cloud.objects.Bucket`, which the claim check uses too).

The local copy lives under ``$SVAI_MODEL_CACHE`` (default ``/tmp/svai-models``) as
``<model sha256>/<path>``; a verified copy there is reused, not fetched again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svai.runtime.cloud.objects import STORES, Bucket
from svai.runtime.core.config import RuntimeConfig, parse_config, read_config_file
from svai.runtime.core.errors import ConfigError

# The HTTP clients (http.client, and with it ssl) load on the model's thread when the fetch runs,
# not before the server opens its port.

__all__ = ["CACHE_ENV", "Fetch", "read_config"]

CACHE_ENV = "SVAI_MODEL_CACHE"

_DEFAULT_CACHE = "/tmp/svai-models"  # the one place every platform lets the service write

_PREFIX = "models/sha256/"


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
        bucket = Bucket(self.store, self.bucket, self.env)
        sign = bucket.signer()
        for item in self.files:
            ranged = Ranged(bucket.url(_PREFIX + item.sha256), item.bytes, item.sha256, sign)
            download(ranged, self.root.joinpath(*item.path.split("/")))
        return time.perf_counter() - started


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
    if store not in STORES:
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
