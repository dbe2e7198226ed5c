"""Build a :class:`Blueprint` as Pulumi resources: one ``ComponentResource`` per deployment shape.

Each group of the blueprint becomes a component (``svai:azure:Foundation``,
``svai:azure:ContainerAppService``, ...) whose children are created with ``parent=self``; markers
(:class:`Ref`, :class:`ClientConfig`, :class:`Concat`) become Pulumi outputs here and nowhere else.
Resources are registered by type token (:mod:`svai.backends.tokens`): a plan never imports
``pulumi_azure_native``, whose generated modules cost more than a second of imports per plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pulumi

from svai.backends.azure.blueprint import (
    Blueprint,
    ClientConfig,
    Concat,
    FileSource,
    Group,
    Ref,
    ResourceSpec,
)
from svai.backends.azure.provider import AZURE
from svai.backends.docker_build import DOCKER_BUILD
from svai.backends.tokens import Creator, by_package

__all__ = [
    "AlertsComponent",
    "ContainerAppServiceComponent",
    "FoundationComponent",
    "FunctionAppServiceComponent",
    "JobQueueComponent",
    "KeyValueStoreComponent",
    "OnlineEndpointServiceComponent",
    "build",
]


class _Built:
    """The resources created so far."""

    def __init__(self) -> None:
        self.resources: dict[str, pulumi.CustomResource] = {}

    def client_config(self, attr: str) -> pulumi.Output[Any]:
        """Return the subscription or tenant of the credentials in use.

        Both are read from resources the program creates anyway (the resource group's ARM id
        names the subscription; every managed identity reports its tenant), which costs no
        ``getClientConfig`` invoke and keeps the program free of provider calls.
        """
        if attr == "subscription_id":
            group_id: pulumi.Output[str] = self.resources["rg"].id
            return group_id.apply(lambda arm_id: arm_id.split("/")[2])
        identity = next(r for k, r in self.resources.items() if k.startswith("identity:"))
        return identity.tenant_id  # type: ignore[attr-defined,no-any-return]

    def resolve(self, value: Any) -> Any:
        """Replace markers inside ``value`` by Pulumi outputs."""
        if isinstance(value, Ref):
            return getattr(self.resources[value.key], value.attr)
        if isinstance(value, ClientConfig):
            return self.client_config(value.attr)
        if isinstance(value, Concat):
            return pulumi.Output.concat(*(self.resolve(part) for part in value.parts))
        if isinstance(value, FileSource):
            return pulumi.FileAsset(value.path)
        if isinstance(value, Mapping):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.resolve(v) for v in value]
        return value


create: Creator = by_package(AZURE, DOCKER_BUILD)
"""How a resource is created; tests swap in :func:`svai.backends.tokens.create_with_sdk`."""


class _GroupComponent(pulumi.ComponentResource):
    """Creates one blueprint group's resources as its children."""

    TYPE: ClassVar[str] = "svai:azure:Group"

    def __init__(
        self, group: Group, built: _Built, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(self.TYPE, group.name, None, opts)
        outputs: dict[str, Any] = {}
        for spec in group.resources:
            resource = self._create(spec, built)
            built.resources[spec.key] = resource
            outputs[spec.key] = resource.id
        self.register_outputs(outputs)

    def _create(self, spec: ResourceSpec, built: _Built) -> pulumi.CustomResource:
        opts = pulumi.ResourceOptions(
            parent=self,
            depends_on=[built.resources[key] for key in spec.depends_on],
            ignore_changes=list(spec.ignore_changes) or None,
        )
        return create(spec.token, spec.name, built.resolve(spec.args), opts=opts)


class FoundationComponent(_GroupComponent):
    """Resource group, artifact storage, Key Vault, identities, logs, budget, registry."""

    TYPE = "svai:azure:Foundation"


class ContainerAppServiceComponent(_GroupComponent):
    """One service on Container Apps (CPU or serverless GPU), with its auth and role grants."""

    TYPE = "svai:azure:ContainerAppService"


class FunctionAppServiceComponent(_GroupComponent):
    """One service on Functions Flex Consumption, with its host storage and role grants."""

    TYPE = "svai:azure:FunctionAppService"


class OnlineEndpointServiceComponent(_GroupComponent):
    """One service on an Azure ML managed online endpoint: workspace, endpoint, deployments."""

    TYPE = "svai:azure:OnlineEndpointService"


class JobQueueComponent(_GroupComponent):
    """The async pattern's Service Bus namespace and queue."""

    TYPE = "svai:azure:JobQueue"


class KeyValueStoreComponent(_GroupComponent):
    """The Cosmos DB account and the stores' containers."""

    TYPE = "svai:azure:KeyValueStore"


class AlertsComponent(_GroupComponent):
    """Azure Monitor alerts for the plan's alarms."""

    TYPE = "svai:azure:Alerts"


_COMPONENTS: dict[str, type[_GroupComponent]] = {
    "Foundation": FoundationComponent,
    "ContainerAppService": ContainerAppServiceComponent,
    "FunctionAppService": FunctionAppServiceComponent,
    "OnlineEndpointService": OnlineEndpointServiceComponent,
    "JobQueue": JobQueueComponent,
    "KeyValueStore": KeyValueStoreComponent,
    "Alerts": AlertsComponent,
}


def build(blueprint: Blueprint) -> list[pulumi.ComponentResource]:
    """Create every group of ``blueprint`` as a component; must run inside a Pulumi program."""
    built = _Built()
    return [_COMPONENTS[group.shape](group, built) for group in blueprint.groups]
