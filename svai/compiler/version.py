"""The model version id: one content hash over everything that changes what the model answers.

Artifact + pre/post-processing code + included files + resolved config (declared requirements
included) + prompt templates → ``v-<12 hex>``.
Local files are hashed by content; a remote artifact by its pin (``model.sha256``, or the location
with the store's version: :func:`svai.spec.source.pin_key`; the spec refuses an unpinned one).
Paths are hashed relative to the spec folder, so the id does not depend on where the
project is checked out; every file is found through the path policy of :mod:`svai.spec.paths`, so
nothing outside the project (a symbolic link out of it) is ever read into the id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from svai.spec.paths import included_files, project_file, project_path
from svai.spec.resolve import ResolvedSpec
from svai.spec.source import pin_key

__all__ = ["measurement_key", "model_version"]

_CHUNK = 1 << 20
_LATER_FIELDS = {
    "include": (),
    "requirements": (),
    "sha256": None,
    "allow_moving_revision": False,
    "fetch": "auto",
    "engine": "auto",
}


# Declared figures about the model (what svai bench measures) and where it is fetched: they
# change the version, but not what a measurement of the artifact measured.
_DECLARED_FIGURES = ("size_bytes", "memory_bytes", "load_time_s", "inference_time_s", "fetch")


def model_version(spec: ResolvedSpec, base_dir: Path) -> str:
    """Return the version id of ``spec`` whose relative paths resolve against ``base_dir``.

    Raises:
        UsageError: a referenced local file (pre/post-processing code, templates) is missing,
            or a local path leaves the project folder through a symbolic link.
    """
    return f"v-{_digest(spec, base_dir, ())}"


def measurement_key(spec: ResolvedSpec, base_dir: Path) -> str:
    """Return the key of what ``svai bench`` measures: the version less the declared figures.

    A change of ``model.memory`` (or size, load or inference time) makes a new version but
    measures the same artifact, so the measurements keep applying.

    Raises:
        UsageError: as :func:`model_version`.
    """
    return f"m-{_digest(spec, base_dir, _DECLARED_FIGURES)}"


def _digest(spec: ResolvedSpec, base_dir: Path, drop: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    model = spec.model
    if not model.source.remote:
        artifact = project_path(base_dir, model.artifact, "model.artifact")
        if artifact.is_dir():
            _feed_folder(digest, base_dir, model.artifact, artifact)
        else:
            _feed(digest, "artifact", artifact if artifact.is_file() else None, model.artifact)
    else:
        _feed_text(digest, "artifact", pin_key(model.source, model.sha256))
    for label, entry in (("preprocess", model.preprocess), ("postprocess", model.postprocess)):
        if entry is not None:
            hook = project_file(base_dir, entry.split(":", 1)[0], f"model.{label}")
            _feed(digest, label, hook, entry)
    if model.fallback_rules is not None:
        rules = project_file(
            base_dir, model.fallback_rules.split(":", 1)[0], "model.fallback.rules"
        )
        _feed(digest, "fallback", rules, model.fallback_rules)
    if spec.api.input_schema is not None:
        schema = project_file(base_dir, spec.api.input_schema, "api.input_schema")
        _feed(digest, "input-schema", schema, spec.api.input_schema)
    for template in model.prompt_templates:
        path = project_file(base_dir, template, "model.prompt_templates")
        _feed(digest, "template", path, template)
    for relative, path in included_files(base_dir, model.include):
        _feed(digest, "include", path, relative)
    fields = dataclasses.asdict(model)
    del fields["source"]  # derived from artifact and revision (and hashed above as the pin)
    for name in drop:
        del fields[name]
    # Fields added after version ids were first issued count only when set, so upgrading svai
    # does not give every unchanged spec a new version (and a release) of its own.
    for later, default in _LATER_FIELDS.items():
        if later in fields and fields[later] == default:
            del fields[later]
    config = {
        "model": fields,
        "api": dataclasses.asdict(spec.api),
        "cache": dataclasses.asdict(spec.cache),
    }
    _feed_text(digest, "config", json.dumps(config, sort_keys=True, default=str))
    return digest.hexdigest()[:12]


def _feed_text(digest: hashlib._Hash, label: str, text: str) -> None:
    data = text.encode()
    digest.update(f"{label}\0{len(data)}\0".encode())
    digest.update(data)


def _feed(digest: hashlib._Hash, label: str, path: Path | None, name: str) -> None:
    _feed_text(digest, label, name)
    if path is None:
        # A local artifact that is not built yet: the id still covers its name and the config,
        # and changes once the file exists.
        _feed_text(digest, f"{label}-content", "<absent>")
        return
    _feed_text(digest, f"{label}-content", _content_digest(path))


def _feed_folder(digest: hashlib._Hash, base_dir: Path, relative: str, folder: Path) -> None:
    """A model folder (``save_pretrained``): every file by its path inside it and its content."""
    _feed_text(digest, "artifact", relative)
    for path in sorted(p for p in folder.rglob("*") if not p.is_dir()):
        inner = path.relative_to(folder).as_posix()
        checked = project_file(base_dir, f"{relative}/{inner}", "model.artifact")
        _feed(digest, "artifact-file", checked, inner)


def _content_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, read once per process while the file stays the same.

    One command asks for the version several times (measurements, plan, build, release); a
    model can be gigabytes. The memo is keyed on the file's identity, size and modification
    time, so a rewritten file is read again.
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    known = _DIGESTS.get(key)
    if known is None:
        file_digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                file_digest.update(chunk)
        known = _DIGESTS[key] = file_digest.hexdigest()
    return known


_DIGESTS: dict[tuple[str, int, int, int], str] = {}
