"""The iris job artifact that the async-pattern tests share (AWS, GCP and Azure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from optimize_conftest import build_iris_artifact

IRIS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "inputs": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
        }
    },
}
"""Rows of four iris features: a submit with another shape is refused before it is queued."""


def build_job_artifact(folder: Path, *, api: dict[str, Any] | None = None, **config: Any) -> Path:
    """Write an iris artifact for the async pattern: ``IRIS_SCHEMA`` and ``Idempotency-Key``.

    Args:
        folder: Where to write (created).
        api: Extra ``api`` settings, merged over the input schema.
        **config: Other top-level config sections.

    Returns:
        The folder.
    """
    return build_iris_artifact(
        folder,
        api={"input_schema": IRIS_SCHEMA, **(api or {})},
        idempotency={"header": "Idempotency-Key"},
        **config,
    )
