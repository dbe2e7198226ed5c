"""Container Apps revisions by name, and the traffic inputs the release gate job owns.

A container app's revision is ``<app>--<suffix>``, the suffix derived from the model version
(:func:`svai.backends.azure.naming.revision_suffix`), so the backend, the gate job and
``svai apply`` all name the same revision for a version. Where the gate job routes an app
(:func:`svai.backends.gate.moves_service_traffic`) every traffic entry names its revision, and
``up`` leaves the traffic alone (:data:`GATE_OWNED`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from svai.backends.azure import naming

__all__ = ["GATE_OWNED", "revision_name", "traffic"]

GATE_OWNED = ("configuration.ingress.traffic",)
"""The container app input the gate job owns where it routes traffic: ``ignore_changes``."""


def revision_name(app: str, version: str) -> str:
    """The revision of model ``version`` of container app ``app``."""
    return f"{app}--{naming.revision_suffix(version)}"


def traffic(app: str, split: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    """The ingress traffic of ``(version, percent)`` pairs, each revision by name."""
    return [{"revision_name": revision_name(app, v), "weight": p} for v, p in split]
