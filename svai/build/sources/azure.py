"""``https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH``: azure-storage-blob.

Credentials, in order: ``AZURE_STORAGE_CONNECTION_STRING`` (for this account; it may name
another blob endpoint, such as Azurite's on 127.0.0.1 in the tests), ``AZURE_STORAGE_KEY``,
``AZURE_STORAGE_SAS_TOKEN``, then azure-identity's ``DefaultAzureCredential`` when installed.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from svai.build.sources import Obj, Progress, require
from svai.errors import ToolMissingError, UsageError
from svai.spec.source import Source

__all__ = ["BlobStore", "open_store"]

_PARALLEL = 8


def open_store(source: Source) -> BlobStore:
    """A blob container client with the first credentials found.

    Raises:
        ToolMissingError: azure-storage-blob is missing or no credentials are found.
    """
    require("azure.storage.blob", "azure-storage-blob", "Azure Blob")
    from azure.storage.blob import BlobServiceClient

    account = source.account
    container = source.container.split("/", 1)[1]
    connection = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
    if f"AccountName={account};" in f"{connection};":
        service = BlobServiceClient.from_connection_string(connection)
    else:
        url = f"https://{account}.blob.core.windows.net"
        credential = _credential(source, account)
        service = BlobServiceClient(url, credential=credential)
    return BlobStore(source, service.get_container_client(container))


def _credential(source: Source, account: str) -> Any:
    if key := os.environ.get("AZURE_STORAGE_KEY"):
        return {"account_name": account, "account_key": key}
    if sas := os.environ.get("AZURE_STORAGE_SAS_TOKEN"):
        return sas
    if importlib.util.find_spec("azure.identity") is not None:
        from azure.identity import DefaultAzureCredential

        # A build runs on a developer's or CI's machine: no instance metadata service to ask.
        return DefaultAzureCredential(exclude_managed_identity_credential=True)
    raise ToolMissingError(
        f"model.artifact: no Azure credentials to read {source.uri}; set "
        f"AZURE_STORAGE_CONNECTION_STRING (for account {account}), AZURE_STORAGE_KEY or "
        "AZURE_STORAGE_SAS_TOKEN, or `pip install azure-identity` and `az login`"
    )


class BlobStore:
    """One pinned blob or blob directory."""

    def __init__(self, source: Source, container: Any) -> None:
        """Wrap ``container`` (an azure ``ContainerClient``) for ``source``."""
        self.source = source
        self.container = container

    def objects(self) -> list[Obj]:
        """The blob (its size from its properties) or every blob under the directory.

        Raises:
            UsageError: nothing is there.
            ToolMissingError: the credentials are refused.
        """
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

        path = self.source.path
        try:
            if not self.source.folder:
                blob = self.container.get_blob_client(path)
                props = blob.get_blob_properties(version_id=self.source.version)
                return [Obj("", path, int(props.size))]
            found = [
                Obj(b.name[len(path) :], b.name, int(b.size))
                for b in self.container.list_blobs(name_starts_with=path)
                if not b.name.endswith("/")
            ]
        except ClientAuthenticationError as exc:
            raise _denied(self.source, exc) from None
        except HttpResponseError as exc:
            raise _refused(self.source, exc) from None
        if not found:
            raise UsageError(f"model.artifact: {self.source.uri}: no blobs under this directory")
        return sorted(found, key=lambda o: o.relative)

    def download(self, obj: Obj, target: Path, progress: Progress) -> None:
        """Download with the SDK's parallel ranged reads into ``target``.

        Raises:
            UsageError: the blob vanished.
            ToolMissingError: the credentials are refused.
        """
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

        blob = self.container.get_blob_client(obj.key)
        seen = [0]

        def hook(current: int, _total: int | None) -> None:
            progress(current - seen[0])
            seen[0] = current

        try:
            stream = blob.download_blob(
                version_id=self.source.version, max_concurrency=_PARALLEL, progress_hook=hook
            )
            with target.open("wb") as out:  # seekable: the parallel reads land out of order
                stream.readinto(out)
        except ClientAuthenticationError as exc:
            raise _denied(self.source, exc) from None
        except HttpResponseError as exc:
            raise _refused(self.source, exc) from None


def _denied(source: Source, exc: Exception) -> ToolMissingError:
    return ToolMissingError(
        f"model.artifact: {source.uri}: no Azure credentials were accepted ({exc}); `az login` "
        "as someone with Storage Blob Data Reader on it, or set "
        "AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN"
    )


def _refused(source: Source, exc: Any) -> Exception:
    if getattr(exc, "status_code", None) == 404:
        return UsageError(f"model.artifact: {source.uri}: no such blob")
    if getattr(exc, "status_code", None) in (401, 403):
        return _denied(source, exc)
    return UsageError(f"model.artifact: {source.uri}: Blob Storage refused the read ({exc})")
