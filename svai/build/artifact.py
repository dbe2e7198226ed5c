"""Where a build's files go and how they are written: names, paths, reproducible archives.

Every target folder holds the same named files (``svai_runtime.json``, ``manifest.json``,
``requirements.txt``, ``function.zip`` ...). Archives are reproducible: sorted entries, fixed
timestamps and permissions. :func:`safe_source` is the one check a project file passes before a
build reads or copies it.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from svai.errors import UsageError
from svai.spec.paths import project_file

__all__ = [
    "BUILD_DIR_NAME",
    "CONFIG_NAME",
    "MANIFEST_NAME",
    "MODEL_NAME",
    "MODEL_TARBALL",
    "REQUIREMENTS_NAME",
    "ZIP_NAME",
    "FileEntry",
    "default_out_dir",
    "file_entry",
    "json_bytes",
    "safe_source",
    "tarball",
    "target_dir",
    "target_key",
    "write_file",
    "zip_bytes",
]


BUILD_DIR_NAME = ".svai/build"


CONFIG_NAME = "svai_runtime.json"


MANIFEST_NAME = "manifest.json"


MODEL_NAME = "model.onnx"


ZIP_NAME = "function.zip"


MODEL_TARBALL = "model.tar.gz"


REQUIREMENTS_NAME = "requirements.txt"


_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


_FILE_MODE = 0o644
_EXEC_MODE = 0o755


_RESERVED = {
    CONFIG_NAME,
    "openapi.json",
    "tokenizer.json",
    MANIFEST_NAME,
    MODEL_NAME,
    ZIP_NAME,
    REQUIREMENTS_NAME,
    "Dockerfile",
    ".dockerignore",
    "main.py",
    "function_app.py",
    "host.json",
}


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a built target."""

    path: str
    sha256: str
    bytes: int


def target_key(cloud: str, region: str) -> str:
    """Return the ``<cloud>-<region>`` name of a target, as ``--target`` spells it."""
    return f"{cloud}-{region}"


def default_out_dir(base_dir: Path) -> Path:
    """The default build root beside the spec: ``<spec dir>/.svai/build``."""
    return base_dir / BUILD_DIR_NAME


def target_dir(out_dir: Path, name: str, version: str, key: str) -> Path:
    """Where one target's artifact lives under the build root."""
    return out_dir / name / version / key


def safe_source(base_dir: Path, relative: str, what: str, *, copied: bool = True) -> Path:
    """Return the project file ``relative`` resolved inside ``base_dir``, or refuse it.

    Refused: absolute paths, ``..`` components, a symlink (or a link in a parent) that lands
    outside ``base_dir``, anything that is not a regular file, and — for files ``copied`` into
    the package at their own path — paths that would replace the runtime code or a generated
    file. (The model, the input schema and the eval set are read, not copied as they are.)

    Raises:
        UsageError: naming the field and the reason.
    """
    source = project_file(base_dir, relative, what)  # the one path policy (svai.spec.paths)
    parts = [p for p in PurePosixPath(relative).parts if p != "."]
    if copied and (parts[0] == "svai" or (len(parts) == 1 and parts[0] in _RESERVED)):
        raise UsageError(
            f"{what}: {relative!r} would replace a file svai generates; move it elsewhere "
            "(not under svai/, nor one of " + ", ".join(sorted(_RESERVED)) + ")"
        )
    return source


def zip_bytes(members: dict[str, bytes], executable: frozenset[str] = frozenset()) -> bytes:
    """A reproducible zip: sorted entries, fixed timestamps, fixed permissions.

    ``executable`` names the members Lambda must be able to run (mode 755, not 644).
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the permission bits below are honoured
            mode = _EXEC_MODE if name in executable else _FILE_MODE
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, members[name], compresslevel=6)
    return buffer.getvalue()


def tarball(members: dict[str, bytes]) -> bytes:
    """A reproducible tar.gz: sorted entries, zero times and owners, fixed permissions."""
    import gzip
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            info.mode = _FILE_MODE
            info.mtime = 0
            archive.addfile(info, io.BytesIO(members[name]))
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=0)


def write_file(root: Path, relative: str, data: bytes) -> None:
    """Write ``data`` at ``relative`` under ``root`` with fixed permissions, never outside it."""
    path = root.joinpath(*PurePosixPath(relative).parts)
    # Belt and braces: sources were checked, but nothing may land outside the staging folder.
    if not path.resolve().is_relative_to(root.resolve()):
        raise UsageError(f"refusing to write {relative!r} outside the build folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(_FILE_MODE)


def file_entry(relative: str, data: bytes) -> FileEntry:
    """The manifest entry of one file: path, sha256 and size."""
    return FileEntry(relative, hashlib.sha256(data).hexdigest(), len(data))


def json_bytes(value: Any) -> bytes:
    """Deterministic JSON (sorted keys, two-space indent, final newline) as bytes."""
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
