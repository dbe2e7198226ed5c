"""Start-time model fetch: parallel ranged GETs streamed to local disk, digest checked before load.

Large weights are not packaged: the deployment keeps them in its own bucket, keyed by digest, and
the runtime fetches them when it starts. The object is split into ``chunk`` byte ranges read by
``parallel`` connections; each range is written at its offset as it arrives (``os.pwrite``), so
memory holds at most ``parallel`` buffers of 1 MiB, not chunks. The file is hashed before it
is renamed into place, and a file with the wrong digest is never loaded.

Stdlib only (``http.client``): the cloud layer hands in a function that signs each request
(S3 SigV4, a metadata-server or managed-identity bearer token), so this module knows no cloud.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.parse
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DownloadError", "Ranged", "download"]

Sign = Callable[[str, str, Mapping[str, str]], Mapping[str, str]]
"""``(method, url, headers) -> headers to add`` (authorisation, dates, content hashes)."""

_BUFFER = 1 << 20
_ATTEMPTS = 3


class DownloadError(Exception):
    """The object could not be read, or its bytes are not the pinned ones."""


@dataclass(frozen=True, slots=True)
class Ranged:
    """How to read one object: its URL, size, digest, and the request signer."""

    url: str
    size: int
    sha256: str
    sign: Sign
    chunk: int = 8 << 20
    parallel: int = 8


def download(spec: Ranged, target: Path) -> Path:
    """Fetch ``spec`` into ``target`` (atomically) and return it; reuse a verified ``target``.

    Raises:
        DownloadError: a range failed ``_ATTEMPTS`` times, or the digest does not match.
    """
    if target.is_file() and target.stat().st_size == spec.size and _digest(target) == spec.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    fd = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, spec.size)
        starts = range(0, spec.size, spec.chunk)
        with ThreadPoolExecutor(max_workers=max(1, spec.parallel)) as pool:
            for _ in pool.map(lambda start: _read_range(spec, fd, start), starts):
                pass
    except BaseException:
        os.close(fd)
        partial.unlink(missing_ok=True)
        raise
    os.close(fd)
    actual = _digest(partial)
    if actual != spec.sha256:
        partial.unlink(missing_ok=True)
        raise DownloadError(f"model fetch: sha256 {actual} is not the pinned {spec.sha256}")
    os.replace(partial, target)
    return target


def _read_range(spec: Ranged, fd: int, start: int) -> None:
    end = min(start + spec.chunk, spec.size) - 1
    last: Exception | None = None
    for _ in range(_ATTEMPTS):
        try:
            _get(spec, fd, start, end)
            return
        except (OSError, http.client.HTTPException, DownloadError) as exc:
            last = exc
    raise DownloadError(f"model fetch: bytes {start}-{end} failed {_ATTEMPTS} times: {last}")


def _get(spec: Ranged, fd: int, start: int, end: int) -> None:
    parts = urllib.parse.urlsplit(spec.url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.netloc, timeout=60)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Range": f"bytes={start}-{end}", "Host": parts.netloc}
    headers.update(spec.sign("GET", spec.url, headers))
    try:
        conn.request("GET", path, headers=headers)
        reply = conn.getresponse()
        if reply.status not in (200, 206):
            raise DownloadError(f"model fetch: HTTP {reply.status}: {reply.read(300)!r}")
        offset = start
        while offset <= end:
            data = reply.read(min(_BUFFER, end + 1 - offset))
            if not data:
                raise DownloadError(f"model fetch: connection closed at byte {offset}")
            os.pwrite(fd, data, offset)
            offset += len(data)
    finally:
        conn.close()


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BUFFER):
            digest.update(block)
    return digest.hexdigest()
