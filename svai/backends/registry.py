"""The explicit map from a cloud name to its :class:`~svai.backends.cloud.Cloud` and backend.

The names come from :data:`svai.spec.clouds.CLOUDS`; each cloud's object is
``svai.backends.<name>.cloud:CLOUD``, imported the first time that cloud is asked for. Backends
never register themselves and no module names are scanned: the list is the whole registry, so a
one-cloud spec never imports another cloud's backend or SDK, and a missing SDK is reported as the
pip extra that provides it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from svai.backends.base import Backend
from svai.backends.cloud import SHARED_PACKAGES, Cloud
from svai.errors import ToolMissingError, UsageError
from svai.spec.clouds import CLOUDS

__all__ = ["ASYNC_WORKERS", "OFFERINGS", "cloud", "cloud_of_package", "get_backend"]

_LOADED: dict[str, Cloud] = {}


def cloud(name: str) -> Cloud:
    """Return the :class:`Cloud` called ``name``, importing its ``cloud`` module once.

    Raises:
        UsageError: ``name`` is not in :data:`svai.spec.clouds.CLOUDS`.
    """
    found = _LOADED.get(name)
    if found is not None:
        return found
    if name not in CLOUDS:
        raise UsageError(f"unknown cloud {name!r}; svai knows: {', '.join(sorted(CLOUDS))}")
    loaded: Cloud = importlib.import_module(f"svai.backends.{name}.cloud").CLOUD
    if loaded.name != name:
        raise ValueError(f"svai.backends.{name}.cloud defines cloud {loaded.name!r}")
    _LOADED[name] = loaded
    return loaded


def cloud_of_package(package: str) -> Cloud | None:
    """Return the cloud whose provider registers type tokens of ``package`` (``azure-native``).

    The clouds already loaded are asked first (planning loads the planned cloud's), so a
    one-cloud plan loads no other cloud; ``None`` for a package no cloud owns (``docker-build``).
    """
    for known in _LOADED.values():
        if known.token_package == package:
            return known
    if package in SHARED_PACKAGES:
        return None
    return next((c for c in map(cloud, CLOUDS) if c.token_package == package), None)


class _PerCloud(Mapping[str, frozenset[str]]):
    """A read-only map from each cloud name to one field of its :class:`Cloud`, loaded lazily."""

    def __init__(self, read: Callable[[Cloud], frozenset[str]]) -> None:
        self._read = read

    def __getitem__(self, name: str) -> frozenset[str]:
        if name not in CLOUDS:
            raise KeyError(name)
        return self._read(cloud(name))

    def __iter__(self) -> Iterator[str]:
        return iter(CLOUDS)

    def __len__(self) -> int:
        return len(CLOUDS)


OFFERINGS: Mapping[str, frozenset[str]] = _PerCloud(lambda c: c.offerings)
"""Cloud name -> catalog offerings its backend builds; the recommender never picks another."""

ASYNC_WORKERS: Mapping[str, frozenset[str]] = _PerCloud(lambda c: c.async_workers)
"""Cloud name -> offerings its backend can run as the worker of the async pattern."""


def get_backend(name: str, **options: Any) -> Backend:
    """Import and instantiate the backend of cloud ``name``.

    Args:
        name: A cloud in :data:`svai.spec.clouds.CLOUDS`.
        **options: Passed to the backend's constructor (e.g. ``build_dir``).

    Returns:
        A fresh backend object.

    Raises:
        UsageError: ``name`` is not a known cloud.
        ToolMissingError: The Pulumi SDK of the cloud (or Pulumi itself) is not installed; the
            message names the pip extra that installs it.
    """
    found = cloud(name)
    module_name, _, class_name = found.backend.partition(":")
    try:
        # Backend packages may load their SDK lazily, so the class lookup can fail too.
        backend_class = getattr(importlib.import_module(module_name), class_name)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in {found.sdk, "pulumi"}:
            raise
        raise ToolMissingError(
            f"the Pulumi SDK for {name} ({missing}) is not installed; "
            f"install it with: pip install 'svai[{name}]'"
        ) from exc
    backend: Backend = backend_class(**options)
    return backend
