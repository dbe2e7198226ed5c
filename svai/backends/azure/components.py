"""Build an Azure :class:`Blueprint` as Pulumi resources: one ``ComponentResource`` per shape.

The shared builder (:mod:`svai.backends.components`) makes each group a component
(``svai:azure:Foundation``, ``svai:azure:ContainerAppService``, ...) whose children are created
with ``parent=self``. This module adds what is Azure's own: the component type of each shape, the
:class:`ClientConfig` marker, and the creator that registers resources by type token
(:mod:`svai.backends.tokens`), so a plan never imports ``pulumi_azure_native``.
"""

from __future__ import annotations

from typing import Any, get_args

import pulumi

from svai.backends import components
from svai.backends.azure.blueprint import Blueprint, ClientConfig, Shape
from svai.backends.azure.provider import AZURE
from svai.backends.docker_build import DOCKER_BUILD
from svai.backends.tokens import Creator, by_package

__all__ = ["TYPES", "build"]

TYPES: dict[str, str] = {shape: f"svai:azure:{shape}" for shape in get_args(Shape)}
"""Group shape -> the type token of its component."""

create: Creator = by_package(AZURE, DOCKER_BUILD)
"""How a resource is created; tests swap in :func:`svai.backends.tokens.create_with_sdk`."""


def _client_config(value: Any, built: components.Built) -> Any:
    """Resolve :class:`ClientConfig` from resources the program creates anyway.

    The resource group's ARM id names the subscription; every managed identity reports its
    tenant. That costs no ``getClientConfig`` invoke and keeps the program free of provider
    calls.
    """
    if not isinstance(value, ClientConfig):
        return value
    if value.attr == "subscription_id":
        group_id: pulumi.Output[str] = built.resources["rg"].id
        return group_id.apply(lambda arm_id: arm_id.split("/")[2])
    identity = next(r for k, r in built.resources.items() if k.startswith("identity:"))
    return identity.tenant_id  # type: ignore[attr-defined]


def build(blueprint: Blueprint) -> list[components.GroupComponent]:
    """Create every group of ``blueprint`` as a component; must run inside a Pulumi program."""
    return components.build(blueprint, create=create, types=TYPES, marker=_client_config)
