"""Where a target's model weights live: in the package, or fetched by the runtime at start.

``model.fetch: build`` packages the prepared model; ``start`` leaves it out of the package and
writes it once per build under ``<build root>/<name>/<version>/weights/<sha256>``, outside every
target folder (so no image build context carries it). At apply, the backend uploads each file to
the deployment's own bucket as ``models/sha256/<sha256>`` and grants the service read on exactly
those objects; the runtime fetches them before it loads the model
(:mod:`svai.runtime.cloud.model_fetch`) and refuses to become ready on a digest mismatch.
``auto`` picks ``start`` for a model above the offering's ``start_fetch_above_mb`` in the
catalog (large GPU weights), and ``build`` below it or where the offering has none (functions,
which run no start-up fetch).

What the runtime needs is ``model.source`` in ``svai_runtime.json``; what the backend needs is
the manifest's ``start_fetch`` entry (object keys, digests, sizes and the local files to upload).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from svai.compiler.catalog import load_catalog
from svai.compiler.fetching import runs_server, start_fetch_refusal
from svai.compiler.recommendation import TargetRecommendation
from svai.errors import UsageError
from svai.runtime.cloud.model_fetch import CACHE_ENV
from svai.spec.resolve import ResolvedSpec

__all__ = [
    "BUCKET_ENV",
    "OBJECT_PREFIX",
    "WEIGHTS_DIR",
    "fetch_at_start",
    "manifest_entry",
    "start_fetch",
    "weights_in_cache",
    "write_weights",
]


BUCKET_ENV = "SVAI_MODEL_BUCKET"
"""The variable the backend sets to the deployment's bucket (an Azure container's URL)."""


OBJECT_PREFIX = "models/sha256/"
"""Objects are keyed by their content: ``models/sha256/<sha256>``."""


WEIGHTS_DIR = "weights"
"""Beside the target folders of one build version: the files the backends upload."""


_MB = 1_000_000


def fetch_at_start(spec: ResolvedSpec, rec: TargetRecommendation, size: int) -> bool:
    """Whether this target's runtime fetches the ``size``-byte model at start.

    Raises:
        UsageError: ``fetch: start`` on an offering that runs the model in a function (no
            start-up fetch there).
    """
    mode = spec.model.fetch
    refusal = start_fetch_refusal(spec, rec)
    if refusal is not None:
        raise UsageError(refusal)
    if mode == "auto":
        threshold = load_catalog().get(rec.choice.offering).cold_start.start_fetch_above_mb
        return runs_server(rec) and threshold is not None and size > threshold * _MB
    return mode == "start"


def start_fetch(cloud: str, digest: str, files: Mapping[str, bytes | Path]) -> dict[str, Any]:
    """``model.source`` for ``svai_runtime.json``: one entry per file, keyed by its digest.

    Args:
        cloud: the target's cloud (its bucket's store).
        digest: the model's digest (a file's sha256, or a folder's manifest digest).
        files: path in the model folder -> its bytes, or a file to read them from.
    """
    entries = []
    for relative in sorted(files):
        sha, size = _digest(files[relative])
        entries.append({"path": relative, "sha256": sha, "bytes": size})
    return {
        "store": load_catalog().builds.cloud(cloud).object_store,
        "bucket_env": BUCKET_ENV,
        "sha256": digest,
        "bytes": sum(e["bytes"] for e in entries),
        "files": entries,
    }


def manifest_entry(source: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's ``start_fetch``: what the backend uploads, and where it reads it from."""
    return {
        "bucket_env": source["bucket_env"],
        "sha256": source["sha256"],
        "bytes": source["bytes"],
        "objects": [
            {
                "key": OBJECT_PREFIX + f["sha256"],
                "sha256": f["sha256"],
                "bytes": f["bytes"],
                "upload": f"../{WEIGHTS_DIR}/{f['sha256']}",
            }
            for f in source["files"]
        ],
    }


def write_weights(version_dir: Path, files: Mapping[str, bytes | Path]) -> None:
    """Write each file once under ``<version_dir>/weights/<sha256>`` (atomically, reused)."""
    folder = version_dir / WEIGHTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for data in files.values():
        sha, size = _digest(data)
        final = folder / sha
        if final.is_file() and final.stat().st_size == size:
            continue  # content-addressed: the same name holds the same bytes
        partial = folder / f".{sha}.{os.getpid()}.part"
        if isinstance(data, Path):
            try:
                os.link(data, partial)  # the verified cache copy; no second 2 GB on disk
            except OSError:
                partial.write_bytes(data.read_bytes())
        else:
            partial.write_bytes(data)
        partial.chmod(0o644)
        os.replace(partial, final)


def _digest(data: bytes | Path) -> tuple[str, int]:
    if isinstance(data, bytes):
        return hashlib.sha256(data).hexdigest(), len(data)
    from svai.build.fetch import file_digest

    return file_digest(data), data.stat().st_size


def weights_in_cache(build_dir: Path, source: Mapping[str, Any], cache: Path) -> dict[str, str]:
    """Put the build's weights where the runtime's start-time fetch finds them verified.

    A ``fetch: start`` package leaves its weights beside the build (``weights/<sha256>``, what
    the backend uploads to the deployment's bucket). Linked into the fetch's cache as
    ``<model sha256>/<path>``, each file passes the runtime's own size and digest check and is
    not fetched; the bucket variable is set so the config reads, but nothing asks the bucket.
    ``svai eval`` and ``svai bench`` run such a package this way.
    """
    root = cache / str(source["sha256"])
    for item in source["files"]:
        weights = build_dir.parent / WEIGHTS_DIR / str(item["sha256"])
        if not weights.is_file():
            raise UsageError(f"the build's weights are missing: {weights} (build it again)")
        target = root.joinpath(*str(item["path"]).split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(weights, target)
        except OSError:
            shutil.copyfile(weights, target)
    return {CACHE_ENV: str(cache), str(source["bucket_env"]): "svai-local"}
