"""pulumi-azure-native as svai registers it: by type token, without importing the SDK.

What the generated classes of the SDK would add to the arguments a blueprint gives (defaults,
irregular wire names) is spelled out here, for the resource types svai creates; the tests derive
the same tables from the installed SDK and record plans both ways to prove nothing differs.
"""

from __future__ import annotations

from typing import Any

from svai.backends.azure.cloud import CLOUD
from svai.backends.tokens import Provider

__all__ = ["AZURE", "DATA_KEYS", "DEFAULTS", "NAMES", "OUTPUTS"]

OUTPUTS: dict[str, tuple[str, ...]] = {
    "azure-native:app:ContainerApp": ("name",),
    "azure-native:applicationinsights:Component": ("connection_string",),
    "azure-native:cosmosdb:DatabaseAccount": ("name",),
    "azure-native:cosmosdb:SqlResourceSqlDatabase": ("name",),
    "azure-native:keyvault:Vault": ("name",),
    "azure-native:machinelearningservices:OnlineEndpoint": ("name",),
    "azure-native:machinelearningservices:Workspace": ("name",),
    "azure-native:managedidentity:UserAssignedIdentity": ("client_id", "principal_id", "tenant_id"),
    "azure-native:monitor:PrivateLinkScope": ("name",),
    "azure-native:network:PrivateEndpoint": ("name",),
    "azure-native:operationalinsights:Workspace": ("customer_id",),
    "azure-native:privatedns:PrivateZone": ("name",),
    "azure-native:resources:ResourceGroup": ("name",),
    "azure-native:servicebus:Namespace": ("name",),
    "azure-native:storage:StorageAccount": ("name",),
    "azure-native:web:WebApp": ("name",),
}
"""Outputs a blueprint reads from a resource besides ``id`` and its inputs (SDK snake_case)."""

DEFAULTS: dict[str, dict[str, Any]] = {
    "azure-native:applicationinsights:Component": {
        "application_type": "web",
        "flow_type": "Bluefield",
        "ingestion_mode": "LogAnalytics",
        "public_network_access_for_ingestion": "Enabled",
        "public_network_access_for_query": "Enabled",
        "request_source": "rest",
    },
    "azure-native:authorization:RoleAssignment": {"principal_type": "User"},
    "azure-native:containerregistry:Registry": {
        "admin_user_enabled": False,
        "anonymous_pull_enabled": False,
        "network_rule_bypass_options": "AzureServices",
        "public_network_access": "Enabled",
        "zone_redundancy": "Disabled",
    },
    "azure-native:cosmosdb:DatabaseAccount": {"create_mode": "Default", "kind": "GlobalDocumentDB"},
    "azure-native:monitor:ActionGroup": {"enabled": True},
    "azure-native:monitor:AutoscaleSetting": {"enabled": False},
    "azure-native:network:VirtualNetwork": {
        "enable_ddos_protection": False,
        "enable_vm_protection": False,
    },
    "azure-native:servicebus:Namespace": {"public_network_access": "Enabled"},
    "azure-native:storage:Blob": {"type": "Block"},
    "azure-native:web:WebApp": {
        "client_affinity_enabled": False,
        "hyper_v": False,
        "is_xenon": False,
        "scm_site_also_stopped": False,
    },
}
"""Top-level arguments the SDK classes fill in when a blueprint leaves them out."""

NAMES: dict[str, str] = {"instance_memory_mb": "instanceMemoryMB"}
"""Arguments whose wire name is not their plain camelCase."""

DATA_KEYS = frozenset(
    {"tags", "metadata", "traffic", "environment_variables", "environmentVariables"}
)
"""Arguments whose dict value is a user map (tags, blob metadata, scale-rule metadata, an
endpoint's deployment -> percent traffic, environment variables): keys are sent as written."""

AZURE = Provider(CLOUD.sdk, outputs=OUTPUTS, data_keys=DATA_KEYS, names=NAMES, defaults=DEFAULTS)
"""pulumi-azure-native by type token."""
