"""Azure side of the start-time fetch: the model blobs in the artifacts container, read on them only.

Called from the lowering: each model object is uploaded by digest into the ``artifacts``
container, the service's Storage Blob Data Reader assignment carries an ABAC condition that
allows reading exactly those blobs, and the Container App learns the container's URL
(``SVAI_MODEL_BUCKET``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from svai.backends.azure.blueprint import Concat, FileSource, Ref
from svai.backends.azure.context import Context
from svai.backends.start_fetch import BUCKET_ENV, ModelObject, model_objects

__all__ = ["add_model_blobs", "model_env", "model_read_condition"]

_READ = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
_PATH = "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path]"


def add_model_blobs(ctx: Context, add: Callable[..., Ref]) -> None:
    """Upload each of the build's model objects into the artifacts container by its digest."""
    for obj in model_objects(ctx.build_dir):
        add(
            f"model:{obj.sha256[:16]}",
            "azure-native:storage:Blob",
            f"model-{obj.sha256[:16]}",
            {
                "resource_group_name": ctx.rg,
                "account_name": Ref("storage", "name"),
                "container_name": "artifacts",
                "blob_name": obj.key,
                "type": "Block",
                "source": FileSource(obj.upload),
            },
            depends_on=("container:artifacts",),
        )


def model_read_condition(objects: Sequence[ModelObject]) -> str | None:
    """The role-assignment condition that limits blob reads to the model's blobs."""
    if not objects:
        return None
    paths = " OR ".join(f"{_PATH} StringEquals '{o.key}'" for o in sorted(objects, key=str))
    return f"((!(ActionMatches{{'{_READ}'}})) OR ({paths}))"


def model_env(ctx: Context) -> list[dict[str, Any]]:
    """``SVAI_MODEL_BUCKET``: the artifacts container's URL, when the build fetches at start."""
    if not model_objects(ctx.build_dir):
        return []
    url = Concat(("https://", Ref("storage", "name"), ".blob.core.windows.net/artifacts"))
    return [{"name": BUCKET_ENV, "value": url}]
