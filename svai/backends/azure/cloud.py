"""Azure as one :class:`~svai.backends.cloud.Cloud`: credentials, SDK and mocks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from svai.backends.cloud import Cloud, Mocks, any_set, by_token

__all__ = ["CLOUD"]

_SCOPE = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/svai-rg"


def _credentials(env: Mapping[str, str], home: Path) -> bool:
    return (
        any_set(env, ("ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID"), ("ARM_USE_MSI",))
        or (home / ".azure" / "azureProfile.json").is_file()
    )


def _state(value: Any) -> Any:
    """Echo azure-native inputs in their output shape.

    Azure takes user-assigned identities as a list of ids but returns them as a map from id to
    details; echoing the list would fail the SDK's output typing.
    """
    if isinstance(value, dict):
        state = {k: _state(v) for k, v in value.items()}
        identities = state.get("userAssignedIdentities")
        if isinstance(identities, list):
            state["userAssignedIdentities"] = {
                str(i): {"principalId": "00000000-0000-0000-0000-0000000000bb"} for i in identities
            }
        return state
    if isinstance(value, list):
        return [_state(v) for v in value]
    return value


def _outputs(token: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Plausible azure-native outputs: resource ids, host names and principal ids."""
    provider = token.partition(":")[2].split(":", 1)[0]
    physical = str(inputs.get("name") or name)
    return {
        "id": f"{_SCOPE}/providers/Microsoft.{provider}/{physical}",
        "name": physical,
        "defaultHostName": f"{physical}.azurewebsites.net",
        "url": f"https://{physical}.azurewebsites.net",
        "principalId": "00000000-0000-0000-0000-0000000000aa",
        "tenantId": "00000000-0000-0000-0000-000000000001",
        "vaultUri": f"https://{physical}.vault.azure.net/",
    }


_APPS = frozenset({"azure.containerapps", "azure.functions.flex_consumption"})

CLOUD = Cloud(
    name="azure",
    backend="svai.backends.azure.backend:AzureBackend",
    sdk="pulumi_azure_native",
    region_key="azure-native:location",
    rule_prefix="AZ",
    registry_login="az acr login --name {registry}",
    credentials=_credentials,
    missing_credentials=(
        "no Azure credentials: run `az login` (and `az account set --subscription ...`), or "
        "set ARM_CLIENT_ID, ARM_CLIENT_SECRET, ARM_TENANT_ID and ARM_SUBSCRIPTION_ID"
    ),
    offerings=_APPS | {"azure.ml.online_endpoint"},
    # An Azure ML online endpoint serves synchronous requests only.
    async_workers=_APPS,
    mocks=Mocks(
        outputs=_outputs,
        invokes={
            "azure-native:authorization:getClientConfig": {
                "subscriptionId": "00000000-0000-0000-0000-000000000000",
                "tenantId": "00000000-0000-0000-0000-000000000001",
                "objectId": "00000000-0000-0000-0000-000000000002",
                "clientId": "00000000-0000-0000-0000-000000000003",
            }
        },
        state=_state,
    ),
    gate_routes="services",
    traffic=by_token(
        {
            "azure-native:app:ContainerApp": (
                ("configuration", "activeRevisionsMode"),
                ("configuration", "ingress", "traffic"),
            ),
            "azure-native:machinelearningservices:OnlineEndpoint": (("properties", "traffic"),),
        }
    ),
)
"""Azure."""
