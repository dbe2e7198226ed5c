"""The one path policy: which files a spec may name, the same for every command.

Paths in ``svai.yaml`` are relative to the folder that holds it, the *project*. The model refuses
absolute paths and ``..`` as syntax (``invalid-value``, located); this module refuses what syntax
cannot see: a path that leaves the project once symbolic links are followed (the file is a link,
or a folder on the way is). Every command applies it, so no file outside the project is hashed
into a model version, measured or packaged:

- the loader reports each escape at the line of the field that names it (``path-escapes``), so
  ``validate``, ``plan``, ``check``, ``build`` and ``diff`` all stop there with a location;
- every reader of a project file (:func:`svai.compiler.version.model_version`, the measurements,
  the packager's ``safe_source``) goes through :func:`project_path` / :func:`project_file`, which
  apply the same rule again at the moment the file is read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from svai.errors import UsageError
from svai.spec.model import Spec

__all__ = ["escape", "included_files", "local_paths", "project_file", "project_path"]

KeyPath = tuple[str | int, ...]


def local_paths(spec: Spec) -> Iterator[tuple[KeyPath, str]]:
    """Yield ``(key path in svai.yaml, relative path)`` for every local file ``spec`` names.

    Entry points (``src/pre.py:prepare``) yield their file; remote artifacts (``s3://``...) none.
    """
    model = spec.model
    if "://" not in model.artifact:
        yield ("model", "artifact"), model.artifact
    for key in ("preprocess", "postprocess"):
        entry = getattr(model, key)
        if entry is not None:
            yield ("model", key), entry.split(":", 1)[0]
    if model.fallback is not None:
        if model.fallback.rules is not None:
            yield ("model", "fallback", "rules"), model.fallback.rules.split(":", 1)[0]
        if model.fallback.model is not None and "://" not in model.fallback.model:
            yield ("model", "fallback", "model"), model.fallback.model
    for index, template in enumerate(model.prompt_templates):
        yield ("model", "prompt_templates", index), template
    for index, included in enumerate(model.include):
        yield ("model", "include", index), included
    if spec.api.input_schema is not None:
        yield ("api", "input_schema"), spec.api.input_schema
    if spec.observability.drift.baseline is not None:
        yield ("observability", "drift", "baseline"), spec.observability.drift.baseline
    if spec.rollout.gates is not None:
        yield ("rollout", "gates", "eval_set"), spec.rollout.gates.eval_set
        if spec.rollout.gates.scorer is not None:
            yield ("rollout", "gates", "scorer"), spec.rollout.gates.scorer.split(":", 1)[0]


def escape(base_dir: Path, relative: str) -> str | None:
    """Say why ``relative`` may not be used in the project ``base_dir``; ``None`` when it may.

    The file need not exist (a model that is not built yet is fine); what is refused is a path
    that is absolute, climbs with ``..``, names no file, or reaches outside ``base_dir`` through
    a symbolic link. The message names the link and its target as written, not where a checkout
    happens to live, so it reads the same for a work tree and for a revision read from git.
    """
    pure = PurePosixPath(relative)
    if pure.is_absolute() or Path(relative).is_absolute() or ".." in pure.parts:
        return f"`{relative}` must be a relative path inside the project folder"
    parts = [p for p in pure.parts if p != "."]
    if not parts:
        return f"`{relative}` does not name a file"
    root = base_dir.resolve()
    current = root
    for done, part in enumerate(parts, 1):
        current = current / part
        if not current.is_symlink():
            continue
        try:
            target, resolved = os.readlink(current), current.resolve(strict=False)
        except (OSError, RuntimeError):  # a loop: resolve() raises RuntimeError before 3.13
            return f"`{relative}` goes through a symbolic link that loops"
        if not resolved.is_relative_to(root):
            if done == len(parts):
                return f"`{relative}` is a symbolic link to `{target}`, outside the project folder"
            link = "/".join(parts[:done])
            return (
                f"`{relative}` goes through `{link}`, a symbolic link to `{target}`, outside the "
                "project folder"
            )
    return None


def project_path(base_dir: Path, relative: str, field: str) -> Path:
    """Return ``relative`` resolved inside the project ``base_dir``; the file may not exist.

    Raises:
        UsageError: ``field: why`` when :func:`escape` refuses the path.
    """
    reason = escape(base_dir, relative)
    if reason is not None:
        raise UsageError(f"{field}: {reason} (project folder {base_dir.resolve()})")
    return base_dir.resolve().joinpath(*PurePosixPath(relative).parts).resolve()


def project_file(base_dir: Path, relative: str, field: str) -> Path:
    """Return the regular file ``relative`` resolved inside the project ``base_dir``.

    Raises:
        UsageError: the path is refused by :func:`escape`, or is not a file.
    """
    path = project_path(base_dir, relative, field)
    if not path.is_file():
        if path.exists():
            raise UsageError(f"{field}: {relative} is not a file (looked in {base_dir})")
        raise UsageError(f"{field}: {relative} does not exist (looked in {base_dir})")
    return path


def included_files(base_dir: Path, entries: Iterable[str]) -> list[tuple[str, Path]]:
    """Expand ``model.include``: each file, or every file under each folder, sorted.

    Returns ``(relative POSIX path, resolved file)`` pairs, each path once. Every file passes
    :func:`escape`, so a link inside an included folder cannot pull in a file from outside.

    Raises:
        UsageError: an entry that does not exist, or a file the policy refuses.
    """
    found: dict[str, Path] = {}
    for entry in entries:
        path = project_path(base_dir, entry, "model.include")
        if path.is_file():
            found[PurePosixPath(entry).as_posix().removeprefix("./")] = path
            continue
        if not path.is_dir():
            raise UsageError(f"model.include: `{entry}` does not exist (looked in {base_dir})")
        root = base_dir.resolve()
        for file in sorted(p for p in path.rglob("*") if p.is_file() or p.is_symlink()):
            relative = file.relative_to(root) if file.is_relative_to(root) else None
            if relative is None or "__pycache__" in relative.parts:
                continue
            found[relative.as_posix()] = project_file(
                base_dir, relative.as_posix(), "model.include"
            )
    return sorted(found.items())
