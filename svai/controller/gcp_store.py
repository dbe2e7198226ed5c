"""GCP's release state store: a Cloud Storage bucket (``gs://BUCKET/PREFIX``), ADC credentials."""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

from svai.controller import store
from svai.errors import DeployError, ToolMissingError

__all__ = ["Store", "parse"]

_CLOUD = "gcp"
_SCHEME = "gs"


def parse(parts: urllib.parse.SplitResult) -> store.Location | None:
    """The location ``parts`` names in this cloud's store, or ``None``: another's."""
    return store.bucket_location(parts, _SCHEME, _CLOUD)


class _Gcs:
    """The release state in Cloud Storage (generation conditions: ``ifGenerationMatch``)."""

    def __init__(self, location: store.Location) -> None:
        store.require("google.cloud.storage", "google-cloud-storage")
        import google.auth
        from google.auth.credentials import AnonymousCredentials
        from google.auth.exceptions import DefaultCredentialsError
        from google.cloud import storage

        credentials: Any
        project: str | None
        if os.environ.get("STORAGE_EMULATOR_HOST"):
            credentials, project = AnonymousCredentials(), "-"  # type: ignore[no-untyped-call]
        else:
            try:
                credentials, project = google.auth.default()
            except DefaultCredentialsError:
                raise ToolMissingError(
                    f"no Google Cloud credentials to reach {location.url('')}; run `gcloud auth "
                    "application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"
                ) from None
        self.location = location
        self.bucket: Any = storage.Client(project=project or "-", credentials=credentials).bucket(
            location.bucket
        )

    def get(self, name: str) -> bytes | None:
        return self.read(name)[0]

    def read(self, name: str) -> tuple[bytes | None, str]:
        from google.api_core.exceptions import GoogleAPIError, NotFound, PreconditionFailed

        try:
            # The generation first, then exactly that generation's bytes.
            blob = self.bucket.get_blob(self.location.key(name))
            if blob is None:
                return None, store.ABSENT
            generation = blob.generation  # before the download, which may rewrite it
            data: bytes = blob.download_as_bytes(if_generation_match=generation)
        except (NotFound, PreconditionFailed):  # replaced or deleted in between: read again
            return self.read(name)
        except GoogleAPIError as exc:
            raise DeployError(f"reading {self.location.url(name)} failed: {exc}") from None
        return data, str(generation)

    def put(self, name: str, data: bytes, *, if_tag: str | None = None) -> None:
        from google.api_core.exceptions import GoogleAPIError, PreconditionFailed

        # Generation 0 is Cloud Storage's "no live object".
        condition = {} if if_tag is None else {"if_generation_match": int(if_tag or 0)}
        try:
            blob = self.bucket.blob(self.location.key(name))
            blob.upload_from_string(data, content_type="application/json", **condition)
        except PreconditionFailed:
            raise store.conflict(self.location, name) from None
        except GoogleAPIError as exc:
            raise DeployError(f"writing {self.location.url(name)} failed: {exc}") from None

    def names(self, folder: str) -> list[str]:
        from google.api_core.exceptions import GoogleAPIError

        prefix = self.location.key(folder + "/")
        try:
            keys = [b.name for b in self.bucket.list_blobs(prefix=prefix, delimiter="/")]
        except GoogleAPIError as exc:
            raise DeployError(f"listing {self.location.url(folder)} failed: {exc}") from None
        return store.relative(self.location, keys)


Store = _Gcs
"""This cloud's :class:`~svai.controller.store.Bucket`, made with a location."""
