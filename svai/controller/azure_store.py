"""Azure's release state store: a Blob container, a connection string or the default credential.

A location is ``https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX``.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

from svai.controller import store
from svai.errors import DeployError

__all__ = ["Store", "parse"]

_CLOUD = "azure"
_HOST = "blob.core.windows.net"


def parse(parts: urllib.parse.SplitResult) -> store.Location | None:
    """The location ``parts`` names in this cloud's store, or ``None``: another's."""
    host = parts.netloc.split(".", 1)
    path = parts.path.strip("/")
    if parts.scheme == "https" and len(host) == 2 and host[1] == _HOST and path:
        container, _, prefix = path.partition("/")
        root = f"https://{parts.netloc}/{container}"
        return store.Location(_CLOUD, root, container, prefix, host[0])
    return None


class _Blob:
    """The release state in Azure Blob (ETag conditions: ``If-Match``, ``If-None-Match: *``)."""

    def __init__(self, location: store.Location) -> None:
        store.require("azure.storage.blob", "azure-storage-blob")
        from azure.storage.blob import BlobServiceClient

        connection = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
        if f"AccountName={location.account};" in f"{connection};":
            service = BlobServiceClient.from_connection_string(connection)
        else:
            store.require("azure.identity", "azure-identity")
            from azure.identity import DefaultAzureCredential

            url = f"https://{location.account}.{_HOST}"
            service = BlobServiceClient(url, credential=DefaultAzureCredential())
        self.location = location
        self.container: Any = service.get_container_client(location.bucket)

    def get(self, name: str) -> bytes | None:
        return self.read(name)[0]

    def read(self, name: str) -> tuple[bytes | None, str]:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            download = self.container.download_blob(self.location.key(name))
            data: bytes = download.readall()
        except ResourceNotFoundError:
            return None, store.ABSENT
        except AzureError as exc:
            raise DeployError(f"reading {self.location.url(name)} failed: {exc}") from None
        return data, str(download.properties.etag)

    def put(self, name: str, data: bytes, *, if_tag: str | None = None) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError

        condition: dict[str, Any] = {"overwrite": True}
        if if_tag == store.ABSENT:
            condition = {"overwrite": False}  # If-None-Match: *
        elif if_tag is not None:
            condition |= {"etag": if_tag, "match_condition": MatchConditions.IfNotModified}
        try:
            self.container.upload_blob(self.location.key(name), data, **condition)
        except (ResourceModifiedError, ResourceExistsError):
            raise store.conflict(self.location, name) from None
        except AzureError as exc:
            raise DeployError(f"writing {self.location.url(name)} failed: {exc}") from None

    def names(self, folder: str) -> list[str]:
        from azure.core.exceptions import AzureError

        prefix = self.location.key(folder + "/")
        try:
            keys = [b.name for b in self.container.walk_blobs(name_starts_with=prefix)]
        except AzureError as exc:
            raise DeployError(f"listing {self.location.url(folder)} failed: {exc}") from None
        return store.relative(self.location, [k for k in keys if not k.endswith("/")])


Store = _Blob
"""This cloud's :class:`~svai.controller.store.Bucket`, made with a location."""
