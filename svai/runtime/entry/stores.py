"""The shared cache stores an entry point can open, by ``cache.store`` scheme.

The core opens local stores by itself (``sqlite://``, ``redis://``); the clouds' stores come from
``svai.runtime.cloud``, imported only when a deployment names one, so a cold start pays for no
cloud client it does not use. Entry points pass this table to the service
(``Service.from_config(cfg, stores=STORES)``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path

from svai.runtime.core.cache import LOCAL_STORES, CacheStore, StoreOpener

__all__ = ["STORES"]


def _cloud(module: str) -> StoreOpener:
    """The ``open_cache_store`` of ``svai.runtime.cloud.<module>``, imported on first use."""

    def open_store(url: str, base_dir: Path) -> CacheStore | None:
        opener: StoreOpener = importlib.import_module(
            f"svai.runtime.cloud.{module}"
        ).open_cache_store
        return opener(url, base_dir)

    return open_store


STORES: Mapping[str, StoreOpener] = {
    **LOCAL_STORES,
    "dynamodb": _cloud("aws"),
    "firestore": _cloud("gcp"),
    "cosmos": _cloud("azure"),
}
