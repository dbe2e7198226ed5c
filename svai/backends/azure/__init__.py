"""``svai.backends.azure``: the fourth stage for Azure — a plan becomes Azure Pulumi resources.

``lowering`` turns a :class:`svai.ir.DeploymentPlan` into a :class:`Blueprint` (pure data, tested
without Pulumi), with ``services`` (Container Apps, Functions Flex, Azure ML), ``messaging``
(Service Bus, Cosmos DB), ``network`` (VNet, private endpoints), ``alerts``, ``roles`` and
``naming``; ``components`` builds the blueprint as one ``pulumi.ComponentResource`` per deployment
shape; ``rules`` checks what was recorded (``SVAI_AZ_###``). ``AzureBackend`` ties them together
for ``svai.backends.registry``. Nothing here imports ``pulumi`` at import time, and
``pulumi_azure_native`` never: ``provider`` registers resources by type token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from svai.backends.azure.backend import AzureBackend
    from svai.backends.azure.blueprint import Blueprint

__all__ = ["AzureBackend", "Blueprint"]


def __getattr__(name: str) -> Any:
    # Loading ``cloud`` (the registry does, for any cloud) must not load the backend.
    if name == "AzureBackend":
        from svai.backends.azure.backend import AzureBackend

        return AzureBackend
    if name == "Blueprint":
        from svai.backends.azure.blueprint import Blueprint

        return Blueprint
    raise AttributeError(name)
