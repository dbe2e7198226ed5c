"""Byte-stable serialisation of ONNX models.

Converters stamp their own name and version into a model, and protobuf map order is not fixed
unless asked for, so the same model converted twice (or on two machines) can differ in bytes.
svai hashes artifacts into one version id, so every ONNX file it writes goes through here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import onnx

__all__ = ["PRODUCER_NAME", "canonicalize", "save_model", "sha256_file"]

PRODUCER_NAME = "svai"
PRODUCER_VERSION = "1"
GRAPH_NAME = "svai_model"


def canonicalize(
    model: onnx.ModelProto, *, metadata: Mapping[str, str] | None = None
) -> onnx.ModelProto:
    """Return a copy of ``model`` with every run-dependent field fixed.

    Producer name/version, doc strings and the graph name are replaced by constants, and the
    metadata is replaced by ``metadata`` sorted by key, so that the serialised bytes depend only
    on the graph and its weights.

    Args:
        model: The model to normalise (left untouched).
        metadata: Key/value pairs to store in ``metadata_props`` (for the runtime's loader).

    Returns:
        The normalised copy.
    """
    out = onnx.ModelProto()
    out.CopyFrom(model)
    out.producer_name = PRODUCER_NAME
    out.producer_version = PRODUCER_VERSION
    out.domain = ""
    out.model_version = 0
    out.doc_string = ""
    out.graph.name = GRAPH_NAME
    out.graph.doc_string = ""
    for node in out.graph.node:
        node.doc_string = ""
    del out.metadata_props[:]
    for key in sorted(metadata or {}):
        prop = out.metadata_props.add()
        prop.key = key
        prop.value = (metadata or {})[key]
    return out


def save_model(
    model: onnx.ModelProto,
    path: str | os.PathLike[str],
    *,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Canonicalise ``model`` and write it to ``path`` with deterministic serialisation.

    Args:
        model: The model to write.
        path: Destination file; its parent directory must exist.
        metadata: Key/value pairs stored in the model (see :func:`canonicalize`).

    Returns:
        The path written.
    """
    target = Path(path)
    data = canonicalize(model, metadata=metadata).SerializeToString(deterministic=True)
    target.write_bytes(data)
    return target


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex SHA-256 of a file, read in chunks.

    Args:
        path: The file to hash.

    Returns:
        The lowercase hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
