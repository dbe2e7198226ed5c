"""The state lowering threads through its steps: the plan, names, tags and the groups so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from svai.backends.azure import naming, roles
from svai.backends.azure.blueprint import (
    Blueprint,
    ClientConfig,
    Concat,
    Group,
    Ref,
    ResourceSpec,
    Shape,
)
from svai.ir import DeploymentPlan

__all__ = ["APP_PORT", "Adder", "Context", "Scope"]

APP_PORT = 8080
"""Port the svai runtime's HTTP server listens on inside its container."""

Scope = str | Ref | Concat
"""Where a role assignment applies: always one resource."""


class Adder(Protocol):
    """Adds a resource to one group; what :meth:`Context.adder` returns."""

    def __call__(
        self,
        key: str,
        token: str,
        name: str,
        args: dict[str, Any],
        *,
        ignore_changes: tuple[str, ...] = (),
        depends_on: tuple[str, ...] = (),
    ) -> Ref:
        """Add resource ``key`` named ``<plan>-<prefix...>-<name>``; return its id."""
        ...


@dataclass
class Context:
    """Accumulates the blueprint's groups while lowering one plan."""

    plan: DeploymentPlan
    month_start: str
    """First day of the budget's first month (ISO 8601, e.g. ``2026-11-01T00:00:00Z``)."""
    build_dir: str = ".svai/build/azure"
    """The target's ``svai build`` folder: function apps upload its ``function.zip``."""
    _groups: dict[str, tuple[Shape, list[ResourceSpec]]] = field(default_factory=dict)

    @property
    def tags(self) -> dict[str, str]:
        """Tags every taggable resource carries (include ``svai-model-version``)."""
        tags = dict(self.plan.tags)
        tags.setdefault("svai-model-version", self.plan.model_version)
        return tags

    @property
    def rg(self) -> Ref:
        """The resource group's name, as a reference (so the group is created first)."""
        return Ref("rg", "name")

    def located(self, **args: Any) -> dict[str, Any]:
        """Return ``args`` with the resource group, region and tags every regional resource has."""
        return {
            "resource_group_name": self.rg,
            "location": self.plan.region,
            "tags": self.tags,
            **args,
        }

    def logical(self, *parts: str) -> str:
        """Return the Pulumi logical name ``<plan>-<parts...>``."""
        return "-".join((self.plan.name, *parts))

    def add(
        self,
        shape: Shape,
        group: str,
        key: str,
        token: str,
        name: str,
        args: dict[str, Any],
        ignore_changes: tuple[str, ...] = (),
        depends_on: tuple[str, ...] = (),
    ) -> Ref:
        """Add a resource to ``group`` (created with ``shape`` on first use); return its id."""
        entry = self.open_group(shape, group)
        entry.append(ResourceSpec(key, token, name, args, ignore_changes, depends_on))
        return Ref(key)

    def adder(self, shape: Shape, group: str, *prefix: str) -> Adder:
        """Return :meth:`add` bound to ``shape`` and ``group``, naming resources after ``prefix``."""

        def add(
            key: str,
            token: str,
            name: str,
            args: dict[str, Any],
            *,
            ignore_changes: tuple[str, ...] = (),
            depends_on: tuple[str, ...] = (),
        ) -> Ref:
            logical = self.logical(*prefix, name)
            return self.add(shape, group, key, token, logical, args, ignore_changes, depends_on)

        return add

    def open_group(self, shape: Shape, group: str) -> list[ResourceSpec]:
        """Return the resources of ``group``, creating it with ``shape`` when new."""
        return self._groups.setdefault(group, (shape, []))[1]

    def shape_of(self, group: str) -> Shape:
        """Return the shape of an existing ``group``."""
        return self._groups[group][0]

    def keys(self) -> set[str]:
        """Return the keys of every resource added so far."""
        return {spec.key for _, specs in self._groups.values() for spec in specs}

    def grants_of(self, principal: str) -> tuple[str, ...]:
        """Return the keys of every role assignment given to ``principal`` so far."""
        prefix = f"role:{principal}:"
        return tuple(
            spec.key
            for _, specs in self._groups.values()
            for spec in specs
            if spec.key.startswith(prefix)
        )

    def grant(
        self,
        group: str,
        principal: str,
        role: str,
        scope: Scope,
        what: str,
        condition: str | None = None,
    ) -> None:
        """Assign the built-in ``role`` to the identity of service ``principal`` on ``scope``.

        Args:
            group: Group the assignment belongs to (the service's).
            principal: Service whose user-assigned identity receives the role.
            role: Built-in role definition GUID (see :mod:`svai.backends.azure.roles`).
            scope: The one resource the role applies to.
            what: Short name of the resource, for the logical name and the GUID.
            condition: An ABAC condition narrowing the role (version 2.0), if any.
        """
        shape: Shape = self._groups[group][0] if group in self._groups else "Foundation"
        name = naming.guid(self.plan.name, self.plan.region, principal, role, what)
        self.add(
            shape,
            group,
            f"role:{principal}:{what}:{role}",
            "azure-native:authorization:RoleAssignment",
            self.logical(principal, "can", roles.ROLE_NAMES[role].lower().replace(" ", "-"), what),
            {
                "role_assignment_name": name,
                "principal_id": Ref(f"identity:{principal}", "principal_id"),
                "principal_type": "ServicePrincipal",
                "role_definition_id": Concat(
                    (
                        "/subscriptions/",
                        ClientConfig("subscription_id"),
                        f"/providers/Microsoft.Authorization/roleDefinitions/{role}",
                    )
                ),
                "scope": scope,
                "description": f"svai: {principal} -> {roles.ROLE_NAMES[role]} on {what}",
                **({"condition": condition, "condition_version": "2.0"} if condition else {}),
            },
        )

    def blueprint(self) -> Blueprint:
        """Return the groups added so far, in the order they were first used."""
        return Blueprint(
            tuple(Group(shape, name, tuple(specs)) for name, (shape, specs) in self._groups.items())
        )
