"""The model objects a start-time-fetch build asks its deployment to hold (``model.fetch: start``).

``svai build`` writes them into the target's ``manifest.json`` (``start_fetch``): each file of the
model as the object ``models/sha256/<sha256>`` and the local file to upload
(:mod:`svai.build.placement`). Each backend uploads them into the deployment's artifact bucket,
grants the model's service read on exactly those objects, and sets ``SVAI_MODEL_BUCKET``; the
runtime fetches them at start (:mod:`svai.runtime.cloud.model_fetch`). A build folder without
that entry (or no build yet: ``svai plan``) asks for nothing.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BUCKET_ENV", "ModelObject", "model_objects"]


BUCKET_ENV = "SVAI_MODEL_BUCKET"


@dataclass(frozen=True, slots=True)
class ModelObject:
    """One object of the model: its key in the bucket, digest, size and the file to upload."""

    key: str
    sha256: str
    bytes: int
    upload: str


def model_objects(build_dir: str) -> tuple[ModelObject, ...]:
    """The ``start_fetch`` objects of the build in ``build_dir`` (none without such a build)."""
    try:
        manifest = json.loads((Path(build_dir) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    entry = manifest.get("start_fetch") if isinstance(manifest, dict) else None
    if not isinstance(entry, dict):
        return ()
    return tuple(
        ModelObject(
            str(o["key"]),
            str(o["sha256"]),
            int(o["bytes"]),
            posixpath.normpath(posixpath.join(build_dir, str(o["upload"]))),
        )
        for o in entry.get("objects", [])
    )
