"""The Azure side of the shared blueprint (:mod:`svai.backends.blueprint`): its shapes and marker.

Lowering produces a :class:`~svai.backends.blueprint.Blueprint` whose groups are the shapes
below; besides the shared markers (:class:`Ref`, :class:`Concat`, :class:`FileSource`), Azure
has one of its own, :class:`ClientConfig` (the tenant or subscription of the credentials in
use), which ``svai.backends.azure.components`` turns into a Pulumi output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from svai.backends.blueprint import Blueprint, Concat, FileSource, Group, Ref, ResourceSpec

__all__ = [
    "Blueprint",
    "ClientConfig",
    "Concat",
    "FileSource",
    "Group",
    "Ref",
    "ResourceSpec",
    "Shape",
]

Shape = Literal[
    "Foundation",
    "ContainerAppService",
    "FunctionAppService",
    "OnlineEndpointService",
    "JobQueue",
    "KeyValueStore",
    "Alerts",
    "ReleaseGate",
]
"""The deployment shapes; each is one ``pulumi.ComponentResource`` type."""


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """A property of the Azure credentials in use: their tenant or subscription."""

    attr: Literal["tenant_id", "subscription_id"]
