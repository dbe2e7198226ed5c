"""``gs://BUCKET/OBJECT[#GENERATION]``: google-cloud-storage with Application Default Credentials.

With ``STORAGE_EMULATOR_HOST`` set (a Cloud Storage emulator, as in the tests) the library talks
to it without sending the credentials, which must still be present: a build that works against
the emulator then also has what it needs against Cloud Storage.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from svai.build.sources import Counting, Obj, Progress, require
from svai.errors import ToolMissingError, UsageError
from svai.spec.source import Source

__all__ = ["GcsStore", "open_store"]


def open_store(source: Source) -> GcsStore:
    """A Cloud Storage client with the user's Application Default Credentials.

    Raises:
        ToolMissingError: google-cloud-storage is missing or no credentials are found.
    """
    require("google.cloud.storage", "google-cloud-storage", "gs")
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud import storage

    try:
        credentials, project = google.auth.default()
    except DefaultCredentialsError:
        raise ToolMissingError(
            f"model.artifact: no Google Cloud credentials to read {source.uri}; run "
            "`gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"
        ) from None
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]  # emulator: no tokens
    return GcsStore(source, storage.Client(project=project or "-", credentials=credentials))


class GcsStore:
    """One pinned Cloud Storage object or prefix."""

    def __init__(self, source: Source, client: Any) -> None:
        """Wrap ``client`` (a ``google.cloud.storage.Client``) for ``source``."""
        self.source = source
        self.client = client

    def objects(self) -> list[Obj]:
        """The object (its size from its metadata) or every object under the prefix.

        Raises:
            UsageError: nothing is there.
            ToolMissingError: the credentials are refused.
        """
        from google.api_core import exceptions

        bucket = self.client.bucket(self.source.container)
        name = self.source.path
        try:
            if not self.source.folder:
                generation = int(self.source.version) if self.source.version else None
                blob = bucket.get_blob(name, generation=generation)
                if blob is None:
                    raise UsageError(f"model.artifact: {self.source.uri}: no such object")
                return [Obj("", name, int(blob.size))]
            found = [
                Obj(b.name[len(name) :], b.name, int(b.size))
                for b in self.client.list_blobs(self.source.container, prefix=name)
                if not b.name.endswith("/")
            ]
        except exceptions.NotFound:
            raise UsageError(f"model.artifact: {self.source.uri}: no such object") from None
        except (exceptions.Forbidden, exceptions.Unauthorized) as exc:
            raise _denied(self.source, exc) from None
        if not found:
            raise UsageError(f"model.artifact: {self.source.uri}: no objects under this prefix")
        return sorted(found, key=lambda o: o.relative)

    def download(self, obj: Obj, target: Path, progress: Progress) -> None:
        """Stream the object's stored bytes (no decompressive transcoding) into ``target``.

        Raises:
            UsageError: the object vanished.
            ToolMissingError: the credentials are refused.
        """
        from google.api_core import exceptions

        generation = int(self.source.version) if self.source.version else None
        blob = self.client.bucket(self.source.container).blob(obj.key, generation=generation)
        try:
            with target.open("wb") as out:
                blob.download_to_file(Counting(out, progress), raw_download=True)
        except exceptions.NotFound:
            raise UsageError(f"model.artifact: {self.source.uri}: no such object") from None
        except (exceptions.Forbidden, exceptions.Unauthorized) as exc:
            raise _denied(self.source, exc) from None


def _denied(source: Source, exc: Exception) -> ToolMissingError:
    return ToolMissingError(
        f"model.artifact: {source.uri}: the Google Cloud credentials were refused ({exc}); use "
        "credentials with storage.objects.get on it (GOOGLE_APPLICATION_CREDENTIALS)"
    )
