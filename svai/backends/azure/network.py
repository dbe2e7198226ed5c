"""The deployment's VNet: private endpoints and DNS, and the outbound restriction.

Built for a private plan (``network.private``) and for restricted egress
(``security.network.egress: none | private-only``) when a service runs in the VNet
(:func:`svai.compiler.egress.network_built`). Container Apps run in a VNet-integrated
workload-profiles environment (internal, reachable from the VNet only, on a private plan);
function apps route all outbound traffic through a delegated subnet; every data service the plan
uses (:func:`svai.compiler.egress.private_endpoints`: artifact and host storage, Key Vault,
Cosmos DB, Service Bus, the registry, on a private plan the Azure ML workspace and the function
apps themselves) gets a private endpoint with its ``privatelink`` DNS zone. Service Bus and the
registry take their Premium tier, the only one with private endpoints.

Under restricted egress a network security group on the integrated subnets refuses outbound
traffic to the internet and allows the VNet (the private endpoints) and only the service tags
the platform itself needs (:data:`EGRESS_RULES`); the services' telemetry reaches Azure Monitor
through a Private Link Scope in private-only mode. Azure ML deployments do not run in the VNet:
their workspace's managed network allows only approved outbound traffic (its own private
endpoints to the workspace's storage, vault and registry) and the deployments refuse public
egress (:mod:`svai.backends.azure.services`).
"""

from __future__ import annotations

from typing import Any

from svai.backends.azure.blueprint import Concat, Ref
from svai.backends.azure.context import Context
from svai.compiler.egress import link_zones, network_closed

__all__ = [
    "ADDRESS_SPACE",
    "EGRESS_RULES",
    "INTEGRATED_SUBNETS",
    "lower_monitor_scope",
    "lower_vnet",
    "private_endpoint",
    "subnet_id",
]

ADDRESS_SPACE = "10.60.0.0/16"
"""The deployment's VNet; peer it with the clients' network to call the API."""

_SUBNETS = {
    # Container Apps workload-profile environments need a subnet of /27 or more, delegated.
    "apps": ("10.60.0.0/23", "Microsoft.App/environments"),
    # Flex Consumption VNet integration also delegates to Microsoft.App/environments.
    "functions": ("10.60.2.0/24", "Microsoft.App/environments"),
    "endpoints": ("10.60.3.0/24", None),
}
INTEGRATED_SUBNETS = ("apps", "functions")
"""The subnets the services' outbound traffic leaves from (the NSG's)."""

_APPS_ONLY = frozenset({"allow-mcr", "allow-mcr-content"})
EGRESS_RULES: tuple[tuple[str, str, str, str], ...] = (
    # (name, destination, protocol, port) of each Allow, in priority order; then deny Internet.
    # The private endpoints, and the environment's own components, are in the VNet.
    ("allow-vnet", "VirtualNetwork", "*", "*"),
    # Managed identities get their tokens from Entra ID, which has no private endpoint.
    ("allow-entra-id", "AzureActiveDirectory", "Tcp", "443"),
    # Container Apps pulls its system containers (ingress proxy, KEDA) from Microsoft's
    # registry, whose layers are served through Front Door; only environments need these two.
    ("allow-mcr", "MicrosoftContainerRegistry", "Tcp", "443"),
    ("allow-mcr-content", "AzureFrontDoor.FirstParty", "Tcp", "443"),
)
"""The outbound allowances under restricted egress; everything else to the internet is denied."""


def subnet_id(name: str) -> Concat:
    """Return the id of subnet ``name`` of the deployment's VNet."""
    return Concat((Ref("vnet"), f"/subnets/{name}"))


def _security_rules(ctx: Context) -> list[dict[str, Any]]:
    """The NSG's outbound rules: :data:`EGRESS_RULES` the plan needs, then deny Internet."""
    apps = any(s.compute.kind == "container" for s in ctx.plan.services)  # Container Apps
    wanted = [r for r in EGRESS_RULES if apps or r[0] not in _APPS_ONLY]
    rules = [
        {
            "name": name,
            "priority": 100 + 10 * i,
            "direction": "Outbound",
            "access": "Allow",
            "protocol": protocol,
            "source_address_prefix": "VirtualNetwork",
            "source_port_range": "*",
            "destination_address_prefix": destination,
            "destination_port_range": port,
        }
        for i, (name, destination, protocol, port) in enumerate(wanted)
    ]
    rules.append(
        {
            "name": "deny-internet",
            "priority": 4096,  # the last a rule may take: after every allowance above
            "direction": "Outbound",
            "access": "Deny",
            "protocol": "*",
            "source_address_prefix": "*",
            "source_port_range": "*",
            "destination_address_prefix": "Internet",
            "destination_port_range": "*",
        }
    )
    return rules


def lower_vnet(ctx: Context, group: str) -> None:
    """Add the VNet with its three subnets (and under restricted egress the NSG) to the foundation."""
    restricted = network_closed(ctx.plan)
    if restricted:
        ctx.add(
            "Foundation",
            group,
            "nsg",
            "azure-native:network:NetworkSecurityGroup",
            ctx.logical("egress"),
            ctx.located(
                network_security_group_name=f"nsg-svai-{ctx.plan.name}-egress",
                security_rules=_security_rules(ctx),
            ),
        )
    subnets = []
    for name, (prefix, delegation) in _SUBNETS.items():
        subnet: dict[str, object] = {"name": name, "address_prefix": prefix}
        if delegation is not None:
            subnet["delegations"] = [{"name": name, "service_name": delegation}]
        else:
            subnet["private_endpoint_network_policies"] = "Disabled"
        if restricted and name in INTEGRATED_SUBNETS:
            subnet["network_security_group"] = {"id": Ref("nsg")}
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
    for zone in link_zones("azure")[group_id]:
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
                for zone in link_zones("azure")[group_id]
            ],
        },
    )


def lower_monitor_scope(ctx: Context, group: str) -> None:
    """Reach Log Analytics and Application Insights privately (restricted egress in the VNet).

    An Azure Monitor Private Link Scope holds the workspace and the component, with a private
    endpoint in the VNet; ``PrivateOnly`` access modes keep the VNet's clients from sending
    telemetry to, or querying, any Azure Monitor resource outside the scope.
    """
    if not network_closed(ctx.plan):
        return
    ctx.add(
        "Foundation",
        group,
        "monitor-scope",
        "azure-native:monitor:PrivateLinkScope",
        ctx.logical("monitor-scope"),
        {
            "resource_group_name": ctx.rg,
            "location": "global",
            "scope_name": f"ampls-svai-{ctx.plan.name}",
            "access_mode_settings": {
                "ingestion_access_mode": "PrivateOnly",
                "query_access_mode": "PrivateOnly",
            },
            "tags": ctx.tags,
        },
    )
    for key in ("logs", "insights"):
        ctx.add(
            "Foundation",
            group,
            f"monitor-scope:{key}",
            "azure-native:monitor:PrivateLinkScopedResource",
            ctx.logical("monitor-scope", key),
            {
                "resource_group_name": ctx.rg,
                "scope_name": Ref("monitor-scope", "name"),
                "name": key,
                "linked_resource_id": Ref(key),
            },
        )
    private_endpoint(ctx, group, "monitor-scope", "azuremonitor")
