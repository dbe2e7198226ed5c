"""What restricted egress and a private network are made of: the endpoints a plan reaches privately.

With ``security.network.egress: none | private-only`` (or ``network.private``) a backend puts the
deployment's services in a network of its own, with a private endpoint for each service their
code calls. Which network and which endpoints are catalog facts, per cloud
(``builds.clouds.<cloud>.network``, :class:`~svai.compiler.builds.PrivateNetwork`); this module
evaluates them for a plan. Backend and bill read the answers here, so what is built and what is
priced cannot drift apart.

The spec's two restricted values build the same resources on every cloud: the services'
traffic may reach the deployment's own private endpoints (and the few platform services a cloud
cannot put behind one) and nothing else, so ``private-only`` and ``none`` differ in no resource.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from svai.compiler.builds import Condition, PrivateNetwork
from svai.compiler.catalog import load_catalog
from svai.compiler.gate import automatic, native_shift
from svai.ir import DeploymentPlan

__all__ = [
    "FACT_TESTS",
    "free_endpoints",
    "holds",
    "link_zones",
    "network_built",
    "network_closed",
    "private_endpoints",
    "private_registry",
    "private_zones",
    "restricts_egress",
]


def restricts_egress(plan: DeploymentPlan) -> bool:
    """Whether ``plan`` asks for outbound traffic to be restricted."""
    return plan.egress != "all"


FACT_TESTS: Mapping[str, Callable[[DeploymentPlan], bool]] = MappingProxyType(
    {
        "restricted": restricts_egress,
        "private": lambda plan: plan.private_network,
        "hosted": lambda plan: any(s.compute.kind != "endpoint" for s in plan.services),
        "endpoint": lambda plan: any(s.compute.kind == "endpoint" for s in plan.services),
        "image": lambda plan: any(s.compute.package in ("image", "model") for s in plan.services),
        "stores": lambda plan: bool(plan.stores),
        "queue": lambda plan: plan.queue is not None,
        "secrets": lambda plan: bool(plan.secrets),
        "scheduled_gate": lambda plan: (
            automatic(plan.rollout) and native_shift(plan.rollout) is None
        ),
    }
)
"""What each word of a catalog :data:`~svai.compiler.builds.Condition` means for a plan."""


def holds(condition: Condition, plan: DeploymentPlan) -> bool:
    """Whether all the facts of any one of ``condition``'s sets hold for ``plan``."""
    return any(all(FACT_TESTS[fact](plan) for fact in facts) for facts in condition)


def _network(plan: DeploymentPlan) -> PrivateNetwork:
    return load_catalog().builds.cloud(plan.cloud).network


def network_built(plan: DeploymentPlan) -> bool:
    """Whether the plan's deployment gets its private network (a VPC, a VNet)."""
    return holds(_network(plan).built_when, plan)


def network_closed(plan: DeploymentPlan) -> bool:
    """Whether the network's services may not reach the internet."""
    return holds(_network(plan).closed_when, plan)


def private_registry(plan: DeploymentPlan) -> bool:
    """Whether the image registry takes the tier with private endpoints (Premium on Azure)."""
    return holds(_network(plan).private_registry_when, plan)


def private_endpoints(plan: DeploymentPlan) -> tuple[str, ...]:
    """The private endpoints in the plan's network, sorted; empty without a network.

    An endpoint a row grants per function service appears once per function.
    """
    network = _network(plan)
    if not holds(network.built_when, plan):
        return ()
    functions = sum(1 for s in plan.services if s.compute.kind == "faas")
    found: list[str] = []
    for row in network.endpoints:
        if holds(row.when, plan):
            found += row.names * (functions if row.per_function else 1)
    return tuple(sorted(found))


def free_endpoints(cloud: str) -> frozenset[str]:
    """The endpoints of ``cloud`` without an hourly price (AWS's gateway endpoints)."""
    return load_catalog().builds.cloud(cloud).network.free_endpoints


def link_zones(cloud: str) -> Mapping[str, tuple[str, ...]]:
    """Endpoint -> the private DNS zones it registers in, on ``cloud``."""
    return load_catalog().builds.cloud(cloud).network.zones


def private_zones(plan: DeploymentPlan) -> tuple[str, ...]:
    """The private DNS zones the plan's endpoints register in (each once), sorted."""
    zones = link_zones(plan.cloud)
    return tuple(sorted({z for link in private_endpoints(plan) for z in zones[link]}))
