"""Restricted egress on GCP: Cloud Run services send all traffic into a VPC that lets out only Google APIs.

Built when the spec sets ``security.network.egress: none | private-only``. The services use
Direct VPC egress with ``ALL_TRAFFIC`` into one subnet with Private Google Access; the network's
firewall denies every egress by default (priority 65534) and allows HTTPS to
``private.googleapis.com`` only (199.36.153.8/30); a private Cloud DNS zone answers
``*.googleapis.com`` with that range, so the runtime's calls (Cloud Storage for the start-time
model fetch and claim checks, Firestore, Pub/Sub, Secret Manager, Cloud Logging) keep their
usual names and reach Google over Google's network, and nothing else is reachable.

Cloud Run functions (gen2) join the same subnet the same way: Direct VPC egress with
``VPC_EGRESS_ALL_TRAFFIC`` (:func:`function_vpc_access`), so no Serverless VPC Access connector
(and none of its always-on instances) is needed.

Vertex AI endpoints are not placed in the network, and rule ``SVAI_GCP_019`` refuses them: the
prediction container runs in Google's tenant project, and the only way its egress passes through
the deployment's network is a private endpoint over VPC Network Peering (Private services
access), which also takes the endpoint off the internet where svai's API Gateway front calls it;
what denies the container the internet is VPC Service Controls, whose perimeter belongs to an
organization-level access policy that a deployment's program cannot own.
"""

from __future__ import annotations

from svai.backends.gcp import naming
from svai.backends.gcp import tokens as T
from svai.backends.gcp.blueprint import Ref
from svai.backends.gcp.context import LoweringContext
from svai.compiler.egress import restricts_egress

__all__ = [
    "GOOGLE_APIS_RANGE",
    "SUBNET_RANGE",
    "function_vpc_access",
    "lower_network",
    "vpc_access",
]

SUBNET_RANGE = "10.43.0.0/24"
"""The services' subnet (Direct VPC egress needs at least a /26)."""

GOOGLE_APIS_RANGE = "199.36.153.8/30"
"""``private.googleapis.com``: Google APIs reached over Private Google Access."""

_GOOGLE_APIS = [f"199.36.153.{n}" for n in range(8, 12)]


def lower_network(ctx: LoweringContext) -> None:
    """Add the network, subnet, firewall rules and DNS zone (nothing unless egress is restricted)."""
    if not restricts_egress(ctx.plan):
        return
    network = naming.resource_id(ctx.app, "vpc")
    ctx.add(
        "network",
        T.NETWORK,
        {
            "name": network,
            "auto_create_subnetworks": False,
            "routing_mode": "REGIONAL",
            "description": f"svai {ctx.plan.name}: services' egress, Google APIs only",
        },
    )
    ctx.add(
        "subnet",
        T.SUBNETWORK,
        {
            "name": naming.resource_id(ctx.app, "services"),
            "network": Ref("network", "id"),
            "region": ctx.region,
            "ip_cidr_range": SUBNET_RANGE,
            "private_ip_google_access": True,
        },
        "network",
    )
    rules = {
        "deny-egress": {
            "direction": "EGRESS",
            "priority": 65534,
            "denies": [{"protocol": "all"}],
            "destination_ranges": ["0.0.0.0/0"],
        },
        "allow-google-apis": {
            "direction": "EGRESS",
            "priority": 1000,
            "allows": [{"protocol": "tcp", "ports": ["443"]}],
            "destination_ranges": [GOOGLE_APIS_RANGE],
        },
    }
    for key, rule in rules.items():
        ctx.add(
            f"firewall-{key}",
            T.FIREWALL,
            {
                "name": naming.resource_id(ctx.app, key),
                "network": Ref("network", "id"),
                **rule,
            },
            "network",
        )
    ctx.add(
        "dns-google-apis",
        T.DNS_ZONE,
        {
            "name": naming.resource_id(ctx.app, "googleapis"),
            "dns_name": "googleapis.com.",
            "visibility": "private",
            "description": "svai: Google APIs over Private Google Access",
            "private_visibility_config": {"networks": [{"network_url": Ref("network", "id")}]},
            "labels": ctx.labels,
        },
        "network",
    )
    records = {
        "private": ("private.googleapis.com.", "A", _GOOGLE_APIS),
        "wildcard": ("*.googleapis.com.", "CNAME", ["private.googleapis.com."]),
    }
    for key, (name, kind, data) in records.items():
        ctx.add(
            f"dns-{key}",
            T.DNS_RECORD,
            {
                "managed_zone": Ref("dns-google-apis", "name"),
                "name": name,
                "type": kind,
                "ttl": 300,
                "rrdatas": data,
            },
            "dns-google-apis",
        )


def vpc_access(ctx: LoweringContext) -> dict[str, object] | None:
    """A Cloud Run template's ``vpc_access``: all egress through the subnet (``None``: open)."""
    if not restricts_egress(ctx.plan):
        return None
    return {"egress": "ALL_TRAFFIC", "network_interfaces": _interfaces()}


def function_vpc_access(ctx: LoweringContext) -> dict[str, object]:
    """A Cloud Run function's ``service_config`` entries for the same egress (empty: open)."""
    if not restricts_egress(ctx.plan):
        return {}
    return {
        "direct_vpc_egress": "VPC_EGRESS_ALL_TRAFFIC",
        "direct_vpc_network_interfaces": _interfaces(),
    }


def _interfaces() -> list[dict[str, object]]:
    return [{"network": Ref("network", "id"), "subnetwork": Ref("subnet", "id")}]
