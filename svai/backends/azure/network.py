"""Private networking for ``network.private`` plans: a VNet, private endpoints and private DNS.

The Container Apps environment is VNet-integrated and internal (its apps are reachable only from
the VNet), function apps route all outbound traffic through a delegated subnet, and every data
service (artifact and host storage, Key Vault, Cosmos DB, Service Bus, the Azure ML workspace,
the function apps themselves) gets a private endpoint with its ``privatelink`` DNS zone and refuses public network access.
Service Bus private endpoints need the Premium tier, so a private async plan uses it. The
container registry stays on its public endpoint (private endpoints need the Premium tier; images
hold no secrets and are pulled by identity).
"""

from __future__ import annotations

from svai.backends.azure.blueprint import Concat, Ref
from svai.backends.azure.context import Context

__all__ = ["ADDRESS_SPACE", "ZONES", "lower_vnet", "private_endpoint", "subnet_id"]

ADDRESS_SPACE = "10.60.0.0/16"
"""The deployment's VNet; peer it with the clients' network to call the API."""

ZONES: dict[str, tuple[str, ...]] = {
    "blob": ("privatelink.blob.core.windows.net",),
    "vault": ("privatelink.vaultcore.azure.net",),
    "Sql": ("privatelink.documents.azure.com",),
    "namespace": ("privatelink.servicebus.windows.net",),
    "amlworkspace": ("privatelink.api.azureml.ms", "privatelink.notebooks.azure.net"),
    "sites": ("privatelink.azurewebsites.net",),
}
"""Private-link group id -> the private DNS zones its endpoint registers in."""

_SUBNETS = {
    # Container Apps workload-profile environments need a subnet of /27 or more, delegated.
    "apps": ("10.60.0.0/23", "Microsoft.App/environments"),
    # Flex Consumption VNet integration also delegates to Microsoft.App/environments.
    "functions": ("10.60.2.0/24", "Microsoft.App/environments"),
    "endpoints": ("10.60.3.0/24", None),
}


def subnet_id(name: str) -> Concat:
    """Return the id of subnet ``name`` of the deployment's VNet."""
    return Concat((Ref("vnet"), f"/subnets/{name}"))


def lower_vnet(ctx: Context, group: str) -> None:
    """Add the VNet with its three subnets to the foundation."""
    subnets = []
    for name, (prefix, delegation) in _SUBNETS.items():
        subnet: dict[str, object] = {"name": name, "address_prefix": prefix}
        if delegation is not None:
            subnet["delegations"] = [{"name": name, "service_name": delegation}]
        else:
            subnet["private_endpoint_network_policies"] = "Disabled"
        subnets.append(subnet)
    ctx.add(
        "Foundation",
        group,
        "vnet",
        "azure-native:network:VirtualNetwork",
        ctx.logical("vnet"),
        ctx.located(
            virtual_network_name=f"vnet-svai-{ctx.plan.name}",
            address_space={"address_prefixes": [ADDRESS_SPACE]},
            subnets=subnets,
        ),
    )


def private_endpoint(ctx: Context, group: str, target: str, group_id: str) -> None:
    """Give resource ``target`` a private endpoint in the VNet, registered in its DNS zones.

    Args:
        ctx: The lowering context (``ctx`` must have lowered the VNet).
        group: Group the endpoint belongs to (the target's).
        target: Blueprint key of the resource reached privately.
        group_id: Private-link sub-resource (``blob``, ``vault``, ``Sql``, ...).
    """
    shape = ctx.shape_of(group)
    safe = target.replace(":", "-")
    endpoint_name = f"pe-{ctx.plan.name}-{safe}"[:80]
    for zone in ZONES[group_id]:
        if f"zone:{zone}" in ctx.keys():  # noqa: SIM118 (Context is not a mapping)
            continue
        ctx.add(
            shape,
            group,
            f"zone:{zone}",
            "azure-native:privatedns:PrivateZone",
            ctx.logical("zone", zone),
            {
                "resource_group_name": ctx.rg,
                "location": "global",
                "private_zone_name": zone,
                "tags": ctx.tags,
            },
        )
        ctx.add(
            shape,
            group,
            f"zone-link:{zone}",
            "azure-native:privatedns:VirtualNetworkLink",
            ctx.logical("zone-link", zone),
            {
                "resource_group_name": ctx.rg,
                "location": "global",
                "private_zone_name": Ref(f"zone:{zone}", "name"),
                "virtual_network_link_name": f"{ctx.plan.name}-vnet",
                "virtual_network": {"id": Ref("vnet")},
                "registration_enabled": False,
                "tags": ctx.tags,
            },
        )
    ctx.add(
        shape,
        group,
        f"endpoint:{target}",
        "azure-native:network:PrivateEndpoint",
        ctx.logical("endpoint", safe),
        ctx.located(
            private_endpoint_name=endpoint_name,
            subnet={"id": subnet_id("endpoints")},
            private_link_service_connections=[
                {"name": safe, "private_link_service_id": Ref(target), "group_ids": [group_id]}
            ],
        ),
    )
    ctx.add(
        shape,
        group,
        f"endpoint-dns:{target}",
        "azure-native:network:PrivateDnsZoneGroup",
        ctx.logical("endpoint-dns", safe),
        {
            "resource_group_name": ctx.rg,
            "private_endpoint_name": Ref(f"endpoint:{target}", "name"),
            "private_dns_zone_group_name": "default",
            "private_dns_zone_configs": [
                {"name": zone.replace(".", "-"), "private_dns_zone_id": Ref(f"zone:{zone}")}
                for zone in ZONES[group_id]
            ],
        },
    )
