"""Build-time clients of the stores a model comes from, one module per store, SDKs imported lazily.

Each client lists the objects of a pinned location (one for a file, every object under a folder)
and downloads one object to a local file with the user's credentials; :mod:`svai.build.fetch`
verifies, caches and reports. A client raises :class:`svai.errors.ToolMissingError` (exit 3) when
its SDK or the credentials are missing, saying what to install or set, and
:class:`svai.errors.UsageError` (exit 2) when the object does not exist.

============  ======================  ==========================================================
scheme        SDK                     credentials
============  ======================  ==========================================================
``s3``        boto3                   the AWS chain (env keys, ``AWS_PROFILE``, SSO, instance)
``gs``        google-cloud-storage    Application Default Credentials
``azure``     azure-storage-blob      ``AZURE_STORAGE_CONNECTION_STRING`` / ``_KEY`` / ``_SAS_TOKEN``
                                      or azure-identity's ``DefaultAzureCredential``
``hf``        huggingface_hub         ``HF_TOKEN`` for private and gated repositories
============  ======================  ==========================================================
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from svai.errors import ToolMissingError
from svai.spec.source import Source

__all__ = ["Counting", "Obj", "Progress", "Store", "open_store", "require"]

Progress = Callable[[int], None]
"""Called with the number of bytes just received."""


@dataclass(frozen=True, slots=True)
class Obj:
    """One object to fetch: its path inside the artifact (empty for a single file) and size."""

    relative: str
    key: str
    size: int


class Store(Protocol):
    """A pinned location in one store."""

    def objects(self) -> list[Obj]:
        """Every object of the artifact (one for a file), sorted by ``relative``."""
        ...

    def download(self, obj: Obj, target: Path, progress: Progress) -> None:
        """Write ``obj``'s bytes to ``target`` (created or truncated)."""
        ...


_MODULES = {"s3": "s3", "gs": "gs", "azure": "azure", "hf": "hf"}


def open_store(source: Source) -> Store:
    """The client for ``source``'s store (its SDK is imported here, not before).

    Raises:
        ToolMissingError: the SDK is not installed, or no credentials are found.
    """
    module = importlib.import_module(f"svai.build.sources.{_MODULES[source.scheme]}")
    store: Store = module.open_store(source)
    return store


def require(module: str, package: str, scheme: str) -> None:
    """Refuse early, naming the package to install, when the SDK of a store is missing.

    Raises:
        ToolMissingError: ``module`` cannot be imported.
    """
    try:
        importlib.import_module(module)
    except ImportError:
        raise ToolMissingError(
            f"model.artifact: fetching {scheme}:// models needs {package}; "
            f"run `pip install {package}`"
        ) from None


class Counting:
    """A writable file that reports how many bytes pass through it (SDKs that write to a file)."""

    def __init__(self, out: BinaryIO, progress: Progress) -> None:
        """Forward writes to ``out``, reporting each to ``progress``."""
        self.out = out
        self.progress = progress

    def write(self, data: bytes) -> int:
        """Write ``data`` and report its length."""
        self.progress(len(data))
        return self.out.write(data)
