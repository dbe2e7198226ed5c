"""The pure result of lowering a plan for any cloud: resources as data, references as markers.

Lowering never touches Pulumi. It produces a :class:`Blueprint`: groups of :class:`ResourceSpec`
(type token, logical name, keyword arguments of the Pulumi SDK class), one group per deployment
shape. A value that only exists once another resource is created is a marker — :class:`Ref` (an
output of another resource), :class:`Concat` (a string built from markers), :class:`Rendered`
(a value computed from outputs), :class:`FileSource`
(a local file uploaded on ``apply``) or a cloud's own marker — which
:mod:`svai.backends.components` turns into Pulumi outputs. So a unit test reads every argument and
every cross-resource link without Pulumi (docs/adr/0004-one-backend-design.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Blueprint", "Concat", "FileSource", "Group", "Ref", "Rendered", "ResourceSpec"]


@dataclass(frozen=True, slots=True)
class Ref:
    """An output of another resource of the blueprint.

    Attributes:
        key: Key of the referenced :class:`ResourceSpec`.
        attr: Python attribute of the SDK resource (``id``, ``name``, ``principal_id``).
    """

    key: str
    attr: str = "id"


@dataclass(frozen=True, slots=True)
class Concat:
    """A string made of literal parts and markers, joined once every marker is known."""

    parts: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Rendered:
    """A value computed from the outputs of other resources once they are known.

    Attributes:
        refs: What it needs: :class:`Ref` markers, or values (and outputs) passed as they are.
        render: Turns their values (in ``refs`` order) into the value.
    """

    refs: tuple[Any, ...]
    render: Callable[[tuple[Any, ...]], Any] = field(compare=False)


@dataclass(frozen=True, slots=True)
class FileSource:
    """A local file uploaded on ``apply`` (a ``pulumi.FileAsset``); only named in a preview."""

    path: str


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """One resource to create.

    Attributes:
        key: Unique key inside the blueprint; :class:`Ref` points at it.
        token: Pulumi type token, e.g. ``azure-native:app:ContainerApp``.
        name: Pulumi logical name (unique per type in the stack).
        args: Keyword arguments of the SDK class (snake_case), possibly holding markers.
        ignore_changes: Input properties Pulumi must not update after creation.
        depends_on: Keys of resources that must exist first without being referenced.
    """

    key: str
    token: str
    name: str
    args: Mapping[str, Any]
    ignore_changes: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Group:
    """Resources built together under one ``pulumi.ComponentResource``.

    Attributes:
        shape: Which component builds the group (``Foundation``, ``JobQueue``, ...).
        name: Logical name of the component.
        resources: The group's resources, in creation order.
        inputs: Inputs of the component itself, plain JSON data a preview records next to its
            resources (GCP's steps after ``up`` and lowering notes).
        groups: Groups built as children of this group's component, before its own resources
            (a component made of another shape and a few resources of its own).
        extends: The group adds its resources to the component of the same name, built by an
            earlier group, when its turn comes: resources that belong to that component but
            come after the groups between (AWS's CodeDeploy resources of a function, which
            need nothing of the monitoring yet have always been created after it).
    """

    shape: str
    name: str
    resources: tuple[ResourceSpec, ...]
    # Keyword-only: two optional tuples/mappings side by side are easy to swap by position.
    inputs: Mapping[str, Any] = field(default_factory=dict, kw_only=True)
    groups: tuple[Group, ...] = field(default=(), kw_only=True)
    extends: bool = field(default=False, kw_only=True)

    def walk(self) -> Iterator[Group]:
        """Yield this group, then its child groups (depth first): their components' order."""
        yield self
        for child in self.groups:
            yield from child.walk()

    def created(self) -> Iterator[ResourceSpec]:
        """Yield this group's resources and its children's, in creation order (children first)."""
        for child in self.groups:
            yield from child.created()
        yield from self.resources


@dataclass(frozen=True, slots=True)
class Blueprint:
    """Everything one deployment is made of, in creation order."""

    groups: tuple[Group, ...]

    def resources(self) -> Iterator[ResourceSpec]:
        """Yield every resource of every group, in creation order."""
        for group in self.groups:
            yield from group.created()

    def get(self, key: str) -> ResourceSpec:
        """Return the resource with ``key``; raises ``KeyError`` when absent."""
        for spec in self.resources():
            if spec.key == key:
                return spec
        raise KeyError(key)

    def tokens(self) -> list[str]:
        """Return the type token of every resource, in creation order."""
        return [spec.token for spec in self.resources()]
