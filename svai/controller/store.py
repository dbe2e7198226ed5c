"""The deployment's bucket as a small key -> bytes store: S3, Cloud Storage or Azure Blob.

A location is ``s3://BUCKET/PREFIX``, ``gs://BUCKET/PREFIX`` or
``https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX``. Each store's own SDK reaches it with
its usual credentials and endpoint settings (``AWS_ENDPOINT_URL``, ``STORAGE_EMULATOR_HOST``,
``AZURE_STORAGE_CONNECTION_STRING``), which is how the tests reach moto, gcp-storage-emulator
and Azurite on 127.0.0.1.

A write can be made conditional on the object being as it was read (:meth:`Bucket.read` gives
its tag: the S3 ETag, the Cloud Storage generation, the Blob ETag) or absent, so two writers
that read the same state cannot both win: S3 ``If-Match`` / ``If-None-Match: *``, Cloud Storage
``ifGenerationMatch`` (``0``: absent), Blob ``If-Match`` / ``If-None-Match: *``. The loser gets
:class:`Conflict`.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from typing import Any, Protocol

from svai.errors import DeployError, ToolMissingError, UsageError

__all__ = ["ABSENT", "Bucket", "Conflict", "Location", "open_bucket", "parse"]

ABSENT = ""
"""The tag :meth:`Bucket.read` gives an absent object; writing with it means: only if absent."""


class Conflict(DeployError):
    """A conditional write lost: the object changed (or appeared) since it was read."""


@dataclass(frozen=True, slots=True)
class Location:
    """A parsed bucket location.

    Attributes:
        scheme: ``s3``, ``gs`` or ``azure``.
        bucket: The bucket (S3, GCS) or container (Azure).
        prefix: Key prefix, without leading or trailing slashes (may be empty).
        account: The Azure storage account (empty elsewhere).
    """

    scheme: str
    bucket: str
    prefix: str
    account: str = ""

    def key(self, name: str) -> str:
        """The full key of ``name`` under the prefix."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def url(self, name: str) -> str:
        """``name``'s location, for messages."""
        if self.scheme == "azure":
            host = f"https://{self.account}.blob.core.windows.net"
            return f"{host}/{self.bucket}/{self.key(name)}"
        return f"{self.scheme}://{self.bucket}/{self.key(name)}"


def parse(url: str) -> Location:
    """Parse a bucket location.

    Raises:
        UsageError: not an ``s3://``, ``gs://`` or Azure Blob ``https://`` location.
    """
    parts = urllib.parse.urlsplit(url)
    path = parts.path.strip("/")
    if parts.scheme in ("s3", "gs") and parts.netloc:
        return Location(parts.scheme, parts.netloc, path)
    host = parts.netloc.split(".", 1)
    if parts.scheme == "https" and len(host) == 2 and host[1] == "blob.core.windows.net" and path:
        container, _, prefix = path.partition("/")
        return Location("azure", container, prefix, host[0])
    raise UsageError(
        f"release state location {url!r}: expected s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or "
        "https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX"
    )


class Bucket(Protocol):
    """Read and write whole objects."""

    location: Location

    def get(self, name: str) -> bytes | None:
        """The object ``name`` under the prefix, or ``None`` when there is none."""
        ...

    def read(self, name: str) -> tuple[bytes | None, str]:
        """The object ``name`` and its tag (:data:`ABSENT` when there is none)."""
        ...

    def put(self, name: str, data: bytes, *, if_tag: str | None = None) -> None:
        """Write the object ``name`` under the prefix (replacing it).

        Args:
            name: The object's name under the prefix.
            data: Its new bytes.
            if_tag: Write only if the object still has this tag (:meth:`read`'s), or, with
                :data:`ABSENT`, only if there is none; ``None``: unconditionally.

        Raises:
            Conflict: the condition failed; nothing was written.
        """
        ...

    def names(self, folder: str) -> list[str]:
        """The names (relative to the prefix) of the objects directly in ``folder``, sorted."""
        ...


def _conflict(location: Location, name: str) -> Conflict:
    return Conflict(f"{location.url(name)} changed since it was read; nothing was written")


def _relative(location: Location, keys: list[str]) -> list[str]:
    start = len(location.key(""))
    return sorted(k[start:] for k in keys)


def open_bucket(url: str) -> Bucket:
    """A client of the bucket at ``url`` with the store's usual credentials.

    Raises:
        UsageError: an unknown location.
        ToolMissingError: the store's SDK or credentials are missing (the message names them).
    """
    location = parse(url)
    if location.scheme == "s3":
        return _S3(location)
    if location.scheme == "gs":
        return _Gcs(location)
    return _Blob(location)


def _require(module: str, package: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module.split(".")[0]) is None:
        raise ToolMissingError(f"the release state store needs {package}: pip install {package}")


class _S3:
    def __init__(self, location: Location) -> None:
        _require("boto3", "boto3")
        import boto3

        session = boto3.Session()
        if session.get_credentials() is None:
            raise ToolMissingError(
                f"no AWS credentials to reach {location.url('')}; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
            )
        self.location = location
        self.client: Any = session.client("s3")

    def get(self, name: str) -> bytes | None:
        return self.read(name)[0]

    def read(self, name: str) -> tuple[bytes | None, str]:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(
                Bucket=self.location.bucket, Key=self.location.key(name)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None, ABSENT
            raise DeployError(f"reading {self.location.url(name)} failed: {exc}") from None
        data: bytes = answer["Body"].read()
        return data, str(answer["ETag"])

    def put(self, name: str, data: bytes, *, if_tag: str | None = None) -> None:
        from botocore.exceptions import ClientError

        condition: dict[str, str] = {}
        if if_tag is not None:
            condition = {"IfMatch": if_tag} if if_tag != ABSENT else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(
                Bucket=self.location.bucket,
                Key=self.location.key(name),
                Body=data,
                ContentType="application/json",
                **condition,
            )
        except ClientError as exc:
            # 409 ConditionalRequestConflict: a concurrent conditional write is in flight.
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise _conflict(self.location, name) from None
            raise DeployError(f"writing {self.location.url(name)} failed: {exc}") from None

    def names(self, folder: str) -> list[str]:
        from botocore.exceptions import ClientError

        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=self.location.key(folder + "/"), Delimiter="/"
        )
        try:
            keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        except ClientError as exc:
            raise DeployError(f"listing {self.location.url(folder)} failed: {exc}") from None
        return _relative(self.location, keys)


class _Gcs:
    def __init__(self, location: Location) -> None:
        _require("google.cloud.storage", "google-cloud-storage")
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
                return None, ABSENT
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
            raise _conflict(self.location, name) from None
        except GoogleAPIError as exc:
            raise DeployError(f"writing {self.location.url(name)} failed: {exc}") from None

    def names(self, folder: str) -> list[str]:
        from google.api_core.exceptions import GoogleAPIError

        prefix = self.location.key(folder + "/")
        try:
            keys = [b.name for b in self.bucket.list_blobs(prefix=prefix, delimiter="/")]
        except GoogleAPIError as exc:
            raise DeployError(f"listing {self.location.url(folder)} failed: {exc}") from None
        return _relative(self.location, keys)


class _Blob:
    def __init__(self, location: Location) -> None:
        _require("azure.storage.blob", "azure-storage-blob")
        from azure.storage.blob import BlobServiceClient

        connection = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
        if f"AccountName={location.account};" in f"{connection};":
            service = BlobServiceClient.from_connection_string(connection)
        else:
            _require("azure.identity", "azure-identity")
            from azure.identity import DefaultAzureCredential

            url = f"https://{location.account}.blob.core.windows.net"
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
            return None, ABSENT
        except AzureError as exc:
            raise DeployError(f"reading {self.location.url(name)} failed: {exc}") from None
        return data, str(download.properties.etag)

    def put(self, name: str, data: bytes, *, if_tag: str | None = None) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError

        condition: dict[str, Any] = {"overwrite": True}
        if if_tag == ABSENT:
            condition = {"overwrite": False}  # If-None-Match: *
        elif if_tag is not None:
            condition |= {"etag": if_tag, "match_condition": MatchConditions.IfNotModified}
        try:
            self.container.upload_blob(self.location.key(name), data, **condition)
        except (ResourceModifiedError, ResourceExistsError):
            raise _conflict(self.location, name) from None
        except AzureError as exc:
            raise DeployError(f"writing {self.location.url(name)} failed: {exc}") from None

    def names(self, folder: str) -> list[str]:
        from azure.core.exceptions import AzureError

        prefix = self.location.key(folder + "/")
        try:
            keys = [b.name for b in self.container.walk_blobs(name_starts_with=prefix)]
        except AzureError as exc:
            raise DeployError(f"listing {self.location.url(folder)} failed: {exc}") from None
        return _relative(self.location, [k for k in keys if not k.endswith("/")])
