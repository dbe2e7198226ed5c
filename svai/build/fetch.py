"""Build-time fetch of a remote model: the user's credentials, a progress bar, a verified cache.

The cache is content-addressed: ``<cache>/models/sha256/<hex>/`` holds a verified file under its
store name (so its suffix still tells its format), or the tree of a folder whose *manifest
digest* is ``<hex>`` (:func:`manifest_digest`). Nothing enters it before
its digest is checked, so an interrupted download leaves only a scratch file that the next build
discards and restarts. A spec pinned by ``sha256`` hits the cache with no network at all; one
pinned by the store's version (S3 ``versionId``, generation, blob version, hub commit) finds its
digest in ``<cache>/models/pins/``, recorded by the first fetch. The cache lives under
``$SVAI_CACHE_DIR``, else ``$XDG_CACHE_HOME/svai``, else ``~/.cache/svai``.

A digest mismatch or a missing object is a :class:`~svai.errors.UsageError` (exit 2) naming
``model.artifact`` and the location; missing credentials or SDK a
:class:`~svai.errors.ToolMissingError` (exit 3) naming what to set.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from svai.errors import UsageError
from svai.spec.source import Source

__all__ = ["Fetched", "cache_root", "fetch_artifact", "file_digest", "manifest_digest"]

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Fetched:
    """A verified artifact in the cache.

    Attributes:
        path: the cached file, or folder.
        sha256: the file's digest, or the folder's manifest digest.
        bytes: total size.
        cached: found in the cache (no bytes were downloaded).
    """

    path: Path
    sha256: str
    bytes: int
    cached: bool


def cache_root() -> Path:
    """The folder svai keeps downloads in (``SVAI_CACHE_DIR`` overrides it)."""
    if explicit := os.environ.get("SVAI_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "svai"


def file_digest(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_digest(folder: Path) -> str:
    """The digest that pins a folder: SHA-256 of its sorted ``<sha256> <size> <path>`` lines.

    The same files under the same relative paths give the same digest wherever they are stored.
    """
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        lines.append(f"{file_digest(path)} {path.stat().st_size} {relative}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def fetch_artifact(source: Source, sha256: str | None, *, stream: TextIO | None = None) -> Fetched:
    """Return the verified local copy of a remote artifact, downloading it if it is not cached.

    Args:
        source: the pinned location.
        sha256: ``model.sha256`` (required to match when given).
        stream: where the progress bar goes (default: standard error).

    Raises:
        UsageError: the object is missing, or its digest is not the pinned one.
        ToolMissingError: the store's SDK or the user's credentials are missing.
    """
    models = cache_root() / "models"
    pin = models / "pins" / f"{hashlib.sha256(source.uri.encode()).hexdigest()}.json"
    name = "" if source.folder else source.path.rsplit("/", 1)[-1]
    known = sha256 or _read_pin(pin)
    if known is not None and (hit := _cached(models, known, name)) is not None:
        return hit
    from svai.build.sources import open_store

    store = open_store(source)
    objects = store.objects()
    total = sum(o.size for o in objects)
    (models / "tmp").mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="fetch-", dir=models / "tmp"))
    try:
        bar = _Bar(source.uri, total, stream or sys.stderr)
        tree = scratch / "tree"
        for obj in objects:
            target = tree / (obj.relative or name)
            target.parent.mkdir(parents=True, exist_ok=True)
            store.download(obj, target, bar.advance)
        bar.close()
        actual = manifest_digest(tree) if source.folder else file_digest(tree / name)
        if sha256 is not None and actual != sha256:
            raise UsageError(
                f"model.artifact: {source.uri}: sha256 is {actual}, the spec pins {sha256}; "
                "the object changed, or the pin is wrong"
            )
        final = models / "sha256" / actual
        final.parent.mkdir(parents=True, exist_ok=True)
        if not final.exists():
            os.replace(tree, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if sha256 is None:
        pin.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(pin, json.dumps({"uri": source.uri, "sha256": actual, "bytes": total}))
    hit = _cached(models, actual, name)
    assert hit is not None  # just moved into place
    return Fetched(hit.path, actual, total, cached=False)


def _cached(models: Path, digest: str, name: str) -> Fetched | None:
    """The cache entry of ``digest``: the folder, or the file under ``name`` in it."""
    entry = models / "sha256" / digest
    if not entry.is_dir():
        return None
    if not name:
        size = sum(p.stat().st_size for p in entry.rglob("*") if p.is_file())
        return Fetched(entry, digest, size, cached=True)
    path = entry / name
    if not path.is_file():
        # The same bytes cached under another store name: link them under this one too.
        others = [p for p in entry.iterdir() if p.is_file()]
        if not others:
            return None
        try:
            os.link(others[0], path)
        except OSError:
            shutil.copyfile(others[0], path)
    return Fetched(path, digest, path.stat().st_size, cached=True)


def _read_pin(pin: Path) -> str | None:
    try:
        digest = json.loads(pin.read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError):
        return None
    return digest if isinstance(digest, str) else None


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


class _Bar:
    """A one-line progress bar: redrawn in place on a terminal, one closing line otherwise."""

    _WIDTH = 30

    def __init__(self, label: str, total: int, stream: TextIO) -> None:
        self.label, self.total, self.stream = label, max(total, 1), stream
        self.done = 0
        self.started = time.monotonic()
        self.shown = -1.0
        self.live = stream.isatty()

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self.live and now - self.shown >= 0.1:
            self.shown = now
            self._draw("\r")

    def close(self) -> None:
        self._draw("\r" if self.live else "")
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, prefix: str) -> None:
        share = min(self.done / self.total, 1.0)
        filled = int(share * self._WIDTH)
        rate = self.done / max(time.monotonic() - self.started, 1e-6) / 1e6
        self.stream.write(
            f"{prefix}fetch {self.label} [{'#' * filled}{'.' * (self._WIDTH - filled)}] "
            f"{share:4.0%} {self.done / 1e6:,.1f}/{self.total / 1e6:,.1f} MB {rate:,.1f} MB/s"
        )
        self.stream.flush()
