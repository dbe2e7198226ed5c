"""Azure built-in role definitions svai grants, and how a plan permission maps onto them.

Every grant is scoped to one resource (a blob container, one Key Vault secret, one queue, one
Cosmos DB container), never to a subscription or resource group, and never uses Owner or
Contributor. GUIDs are Microsoft's built-in role ids, identical in every tenant:
https://learn.microsoft.com/azure/role-based-access-control/built-in-roles (retrieved 2026-11-27).
"""

from __future__ import annotations

__all__ = [
    "ACR_PULL",
    "BROAD_ROLES",
    "COSMOS_DATA_CONTRIBUTOR",
    "COSMOS_DATA_READER",
    "KEY_VAULT_CRYPTO_ENCRYPTION_USER",
    "KEY_VAULT_SECRETS_USER",
    "LOG_ANALYTICS_READER",
    "MONITORING_METRICS_PUBLISHER",
    "ROLE_NAMES",
    "SERVICE_BUS_DATA_RECEIVER",
    "SERVICE_BUS_DATA_SENDER",
    "STORAGE_BLOB_DATA_CONTRIBUTOR",
    "STORAGE_BLOB_DATA_OWNER",
    "STORAGE_BLOB_DATA_READER",
]

STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
"""Read blobs (the model artifact), granted on the artifacts container only."""
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
"""Read and write blobs."""
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
"""Blob data plus leases: what the Functions host needs on its own host storage account."""
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
"""Read secret contents, granted on one secret."""
SERVICE_BUS_DATA_SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
"""Send messages, granted on one queue."""
SERVICE_BUS_DATA_RECEIVER = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"
"""Receive, complete and dead-letter messages, granted on one queue."""
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
"""Send telemetry to an Application Insights component that has local (key) auth disabled."""
KEY_VAULT_CRYPTO_ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
"""Wrap and unwrap with one key: what a storage account's encryption identity needs."""
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
"""Pull images from the deployment's container registry."""
LOG_ANALYTICS_READER = "73c42c96-874c-492b-b04d-ab87d138a893"
"""Query a Log Analytics workspace: what the release gate reads the live signals with."""

COSMOS_DATA_READER = "00000000-0000-0000-0000-000000000001"
"""Cosmos DB Built-in Data Reader (Cosmos DB's own data-plane RBAC, not Azure RBAC)."""
COSMOS_DATA_CONTRIBUTOR = "00000000-0000-0000-0000-000000000002"
"""Cosmos DB Built-in Data Contributor (data-plane RBAC)."""

BROAD_ROLES: dict[str, str] = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
}
"""Roles that grant control of everything in their scope; svai never assigns them."""

ROLE_NAMES: dict[str, str] = {
    STORAGE_BLOB_DATA_READER: "Storage Blob Data Reader",
    STORAGE_BLOB_DATA_CONTRIBUTOR: "Storage Blob Data Contributor",
    STORAGE_BLOB_DATA_OWNER: "Storage Blob Data Owner",
    KEY_VAULT_SECRETS_USER: "Key Vault Secrets User",
    KEY_VAULT_CRYPTO_ENCRYPTION_USER: "Key Vault Crypto Service Encryption User",
    SERVICE_BUS_DATA_SENDER: "Azure Service Bus Data Sender",
    SERVICE_BUS_DATA_RECEIVER: "Azure Service Bus Data Receiver",
    MONITORING_METRICS_PUBLISHER: "Monitoring Metrics Publisher",
    ACR_PULL: "AcrPull",
    LOG_ANALYTICS_READER: "Log Analytics Reader",
    **BROAD_ROLES,
}
"""Display name of each role id above."""
