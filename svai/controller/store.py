"""The deployment's bucket as a small key -> bytes store: S3, Cloud Storage or Azure Blob.

A location is ``s3://BUCKET/PREFIX``, ``gs://BUCKET/PREFIX`` or
``https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX``; each cloud's store is its module
``svai.controller.<cloud>_store`` (``parse`` and ``Store``). Each store's own SDK reaches it with
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

import importlib
import importlib.util
import urllib.parse
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

from svai.errors import DeployError, ToolMissingError, UsageError
from svai.spec.clouds import CLOUDS

__all__ = [
    "ABSENT",
    "Bucket",
    "Conflict",
    "Location",
    "bucket_location",
    "conflict",
    "open_bucket",
    "parse",
    "relative",
    "require",
]

ABSENT = ""
"""The tag :meth:`Bucket.read` gives an absent object; writing with it means: only if absent."""


class Conflict(DeployError):
    """A conditional write lost: the object changed (or appeared) since it was read."""


@dataclass(frozen=True, slots=True)
class Location:
    """A parsed bucket location.

    Attributes:
        cloud: The cloud whose store holds it (``svai.controller.<cloud>_store``).
        root: The location of the bucket or container itself, without the prefix.
        bucket: The bucket or container.
        prefix: Key prefix, without leading or trailing slashes (may be empty).
        account: The storage account, where the store has one (empty elsewhere).
    """

    cloud: str
    root: str
    bucket: str
    prefix: str
    account: str = ""

    def key(self, name: str) -> str:
        """The full key of ``name`` under the prefix."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def url(self, name: str) -> str:
        """``name``'s location, for messages."""
        return f"{self.root}/{self.key(name)}"


def bucket_location(parts: urllib.parse.SplitResult, scheme: str, cloud: str) -> Location | None:
    """``scheme://BUCKET/PREFIX`` in ``cloud``'s store, or ``None``: another location."""
    if parts.scheme == scheme and parts.netloc:
        root = f"{scheme}://{parts.netloc}"
        return Location(cloud, root, parts.netloc, parts.path.strip("/"))
    return None


def _stores() -> list[ModuleType]:
    """Each cloud's store module, in :data:`~svai.spec.clouds.CLOUDS` order."""
    names = (f"svai.controller.{cloud}_store" for cloud in CLOUDS)
    return [importlib.import_module(n) for n in names if importlib.util.find_spec(n)]


def parse(url: str) -> Location:
    """Parse a bucket location.

    Raises:
        UsageError: not an ``s3://``, ``gs://`` or Azure Blob ``https://`` location.
    """
    parts = urllib.parse.urlsplit(url)
    for store in _stores():
        found: Location | None = store.parse(parts)
        if found is not None:
            return found
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


def conflict(location: Location, name: str) -> Conflict:
    """The error of a conditional write of ``name`` that lost."""
    return Conflict(f"{location.url(name)} changed since it was read; nothing was written")


def relative(location: Location, keys: list[str]) -> list[str]:
    """``keys`` relative to ``location``'s prefix, sorted."""
    start = len(location.key(""))
    return sorted(k[start:] for k in keys)


def open_bucket(url: str) -> Bucket:
    """A client of the bucket at ``url`` with the store's usual credentials.

    Raises:
        UsageError: an unknown location.
        ToolMissingError: the store's SDK or credentials are missing (the message names them).
    """
    location = parse(url)
    store = importlib.import_module(f"svai.controller.{location.cloud}_store")
    opened: Bucket = store.Store(location)
    return opened


def require(module: str, package: str) -> None:
    """Fail clearly when the store's SDK ``module`` (from ``package``) is not installed.

    Raises:
        ToolMissingError: it is not (the message says what to install).
    """
    if importlib.util.find_spec(module.split(".")[0]) is None:
        raise ToolMissingError(f"the release state store needs {package}: pip install {package}")
