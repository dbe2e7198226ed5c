"""Where svai keeps what it reuses between builds and serves: wheels, environments."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "wheelhouse"]


def cache_dir() -> Path:
    """Where svai keeps wheels and environments (``$SVAI_CACHE_DIR``, else ``~/.cache/svai``)."""
    configured = os.environ.get("SVAI_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "svai"


def wheelhouse() -> Path:
    """The local wheelhouse: ``svai serve`` fills it once, environments and locks read it."""
    return cache_dir() / "wheels"
