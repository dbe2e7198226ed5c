"""Build a :class:`~svai.backends.blueprint.Blueprint` as Pulumi resources, for any cloud.

Each group of the blueprint becomes one ``pulumi.ComponentResource`` of its shape's type token
(``svai:azure:Foundation`` ...) whose children are created with ``parent=self``; markers become
Pulumi outputs here and nowhere else. A cloud passes the creator that registers its resources by
type token (:mod:`svai.backends.tokens`) and resolves its own markers
(docs/adr/0004-one-backend-design.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pulumi

from svai.backends.blueprint import (
    Blueprint,
    Concat,
    FileSource,
    Group,
    Ref,
    Rendered,
    ResourceSpec,
)
from svai.backends.tokens import Creator

__all__ = ["Built", "GroupComponent", "build"]

CloudMarker = Callable[[Any, "Built"], Any]
"""``(value, built) -> output``: resolves a marker only one cloud has, and returns any other
value unchanged."""


class Built:
    """The resources created so far, and how to turn markers into their outputs."""

    def __init__(self, marker: CloudMarker | None = None) -> None:
        self.resources: dict[str, pulumi.CustomResource] = {}
        self.components: dict[str, GroupComponent] = {}
        """Group name -> its component (where a later group that ``extends`` it adds resources)."""
        self._marker = marker

    def resolve(self, value: Any) -> Any:
        """Replace markers inside ``value`` by Pulumi outputs."""
        if isinstance(value, Ref):
            return getattr(self.resources[value.key], value.attr)
        if isinstance(value, Rendered):
            render = value.render
            return pulumi.Output.all(*(self.resolve(r) for r in value.refs)).apply(
                lambda values: render(tuple(values))
            )
        if isinstance(value, Concat):
            return pulumi.Output.concat(*(self.resolve(part) for part in value.parts))
        if isinstance(value, FileSource):
            return pulumi.FileAsset(value.path)
        if isinstance(value, Mapping):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.resolve(v) for v in value]
        if self._marker is not None and not isinstance(value, str | int | float | bool | None):
            return self._marker(value, self)
        return value


class GroupComponent(pulumi.ComponentResource):
    """Creates one blueprint group's resources as its children."""

    def __init__(
        self,
        type_token: str,
        group: Group,
        built: Built,
        create: Creator,
        opts: pulumi.ResourceOptions | None = None,
        types: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(type_token, group.name, dict(group.inputs) or None, opts)
        self.built = built
        """Every resource created so far, this group's included (what a backend exports)."""
        built.components[group.name] = self
        for child in group.groups:
            assert types is not None, f"{group.name}: child groups need the shapes' types"
            child_opts = pulumi.ResourceOptions(parent=self)
            GroupComponent(types[child.shape], child, built, create, child_opts, types)
        outputs = {key: resource.id for key, resource in self.add(group, built, create).items()}
        self.register_outputs(outputs)

    def add(self, group: Group, built: Built, create: Creator) -> dict[str, pulumi.CustomResource]:
        """Create ``group``'s own resources as children of this component; return them by key."""
        added = {}
        for spec in group.resources:
            added[spec.key] = built.resources[spec.key] = self._create(spec, built, create)
        return added

    def _create(self, spec: ResourceSpec, built: Built, create: Creator) -> pulumi.CustomResource:
        opts = pulumi.ResourceOptions(
            parent=self,
            depends_on=[built.resources[key] for key in spec.depends_on],
            ignore_changes=list(spec.ignore_changes) or None,
        )
        return create(spec.token, spec.name, built.resolve(spec.args), opts=opts)


def build(
    blueprint: Blueprint,
    *,
    create: Creator,
    types: Mapping[str, str],
    marker: CloudMarker | None = None,
) -> list[GroupComponent]:
    """Create every group of ``blueprint`` as a component; must run inside a Pulumi program.

    A group that ``extends`` an earlier one adds its resources to that group's component.

    Args:
        blueprint: The lowered deployment.
        create: Registers one resource (the cloud's providers by type token).
        types: Group shape -> the component's type token.
        marker: Resolves the cloud's own markers, if it has any.
    """
    built = Built(marker)
    made = []
    for group in blueprint.groups:
        if group.extends:
            built.components[group.name].add(group, built, create)
        else:
            made.append(GroupComponent(types[group.shape], group, built, create, types=types))
    return made
