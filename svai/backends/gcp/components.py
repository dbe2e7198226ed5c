"""Build a GCP :class:`Blueprint` as Pulumi resources: one ``ComponentResource`` per deployment.

The shared builder (:mod:`svai.backends.components`) makes the deployment's group one component,
``svai:gcp:RealtimeDeployment`` (pattern A) or ``svai:gcp:AsyncDeployment`` (pattern B), whose
children are created with ``parent=self``; the group's inputs (``pendingActions``, ``notes``)
are the component's, so the offline preview shows them next to the resources. This module adds
what is GCP's own: the component type of each shape, the :class:`StorageAgent` marker, and the
creator that registers resources by type token (:mod:`svai.backends.tokens`), so a plan never
imports ``pulumi_gcp``, whose generated classes cost more than a second of imports per process.
"""

from __future__ import annotations

from typing import Any, get_args

from svai.backends import components
from svai.backends.docker_build import DOCKER_BUILD
from svai.backends.gcp.blueprint import Blueprint, Shape, StorageAgent
from svai.backends.gcp.provider import GCP
from svai.backends.tokens import Creator, by_package

__all__ = ["TYPES", "build"]

TYPES: dict[str, str] = {shape: f"svai:gcp:{shape}" for shape in get_args(Shape)}
"""Group shape -> the type token of its component."""

create: Creator = by_package(GCP, DOCKER_BUILD)
"""How a resource is created; tests swap in :func:`svai.backends.tokens.create_with_sdk`."""


def _storage_agent(value: Any, built: components.Built) -> Any:
    """Resolve :class:`StorageAgent` from the Pub/Sub service identity's email."""
    if not isinstance(value, StorageAgent):
        return value
    pubsub = built.resources[value.pubsub_key]
    return pubsub.email.apply(value.member)  # type: ignore[attr-defined]


def build(blueprint: Blueprint) -> list[components.GroupComponent]:
    """Create every group of ``blueprint`` as a component; must run inside a Pulumi program."""
    return components.build(blueprint, create=create, types=TYPES, marker=_storage_agent)
