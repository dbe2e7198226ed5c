"""The fallback model in the artifact: a project file or folder, or a pinned remote one fetched.

``model.fallback.model`` takes the same forms as ``model.artifact``. Whatever the form, the
fallback ships inside the package -- it must answer when the main model, its store or the
network fails, so it cannot depend on them at serve time. A project file or folder keeps its
path; a remote one (pinned: ``?versionId=``, ``#generation``, an ``hf://`` commit) is fetched
through the build's model cache (:func:`svai.build.fetch.fetch_artifact`, progress bar and
digest record included) and ships under ``fallback/``.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from svai.build.artifact import safe_source
from svai.build.fetch import fetch_artifact
from svai.errors import UsageError
from svai.spec.paths import project_path
from svai.spec.resolve import ResolvedSpec
from svai.spec.source import parse_source

__all__ = ["FALLBACK_DIR", "fallback_files", "fallback_path"]

FALLBACK_DIR = "fallback"
"""Where a fetched fallback ships in the artifact."""

_FIELD = "model.fallback.model"


def fallback_path(spec: ResolvedSpec) -> str | None:
    """The artifact-relative path the runtime loads the fallback model from (``None``: none).

    It needs no download: a remote folder ships as ``fallback/``, a remote file as
    ``fallback/<its name>``.
    """
    where = spec.model.fallback_model
    if where is None:
        return None
    source = parse_source(where)
    if source.scheme == "local":
        return str(PurePosixPath(where.rstrip("/")))
    if source.folder or not source.path:
        return FALLBACK_DIR
    return f"{FALLBACK_DIR}/{source.path.rsplit('/', 1)[-1]}"


def fallback_files(spec: ResolvedSpec, base_dir: Path) -> dict[str, Path]:
    """Artifact-relative path -> source file of every file of the fallback model.

    Raises:
        UsageError: a project path that escapes the project or is not a file or folder, or a
            remote fallback that cannot be fetched (missing, digest changed).
        ToolMissingError: the store's SDK or credentials are missing.
    """
    where, packaged = spec.model.fallback_model, fallback_path(spec)
    if where is None or packaged is None:
        return {}
    source = parse_source(where)
    if source.scheme == "local":
        folder = project_path(base_dir, packaged, _FIELD)
        if not folder.is_dir():
            return {packaged: safe_source(base_dir, packaged, _FIELD)}
        return {
            f"{packaged}/{relative}": safe_source(base_dir, f"{packaged}/{relative}", _FIELD)
            for relative in _files(folder)
        }
    fetched = fetch_artifact(source, None).path
    if fetched.is_dir():
        return {f"{packaged}/{relative}": fetched / relative for relative in _files(fetched)}
    return {packaged: fetched}


def _files(folder: Path) -> list[str]:
    """Every regular file under ``folder``, as sorted POSIX paths relative to it."""
    found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    if not found:
        raise UsageError(f"{_FIELD}: {folder} holds no files")
    return found
