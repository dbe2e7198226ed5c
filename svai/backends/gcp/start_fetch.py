"""GCP side of the start-time fetch: the model objects in the artifacts bucket, read on exactly them.

Called from the lowering: the objects are uploaded by digest beside the other artifacts, and a
service's ``artifact.read`` grant is narrowed by an IAM condition to exactly those objects (the
bucket uses uniform bucket-level access, where conditions apply).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from svai.backends.gcp import naming
from svai.backends.gcp import tokens as T
from svai.backends.gcp.blueprint import FileSource
from svai.backends.gcp.context import LoweringContext
from svai.backends.start_fetch import ModelObject

__all__ = ["add_model_objects", "model_read_condition"]


def add_model_objects(ctx: LoweringContext) -> None:
    """Upload each of the build's model objects by its digest (nothing without a build)."""
    bucket = naming.bucket_name(ctx.project, ctx.app)
    for obj in ctx.model_objects:
        ctx.add(
            f"model-{obj.sha256[:16]}",
            T.BUCKET_OBJECT,
            {"bucket": bucket, "name": obj.key, "source": FileSource(obj.upload)},
            "artifacts",
        )


def model_read_condition(bucket: str, objects: Sequence[ModelObject]) -> dict[str, Any] | None:
    """The IAM condition that limits a bucket grant to the model's objects (``None``: none)."""
    if not objects:
        return None
    names = [f'resource.name == "projects/_/buckets/{bucket}/objects/{o.key}"' for o in objects]
    return {"title": "only the model's objects", "expression": " || ".join(sorted(names))}
