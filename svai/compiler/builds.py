"""What svai's own deployments are made of, per cloud and per offering: the catalog's ``builds``.

These are svai's choices rather than vendor facts: where the async pattern's small functions
run, whether an endpoint sits behind a proxy function, the handlers of a function, how the model
ships to an offering, how each offering runs each rollout strategy and whether a streamed
answer (server-sent events) reaches the caller on the path svai builds to it. They live in
``data/catalog.yaml`` beside the vendor facts so that the compiler, which may not import a
backend, reads every fact about an offering from one file, and a new cloud adds its rows there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, cast, get_args

__all__ = [
    "PLAN_FACTS",
    "Builds",
    "BuildsError",
    "CloudBuild",
    "Condition",
    "Package",
    "PrivateEndpoints",
    "PrivateNetwork",
    "parse_builds",
]

Package = Literal["zip", "image", "model"]

_PACKAGES: tuple[Package, ...] = ("zip", "image", "model")

Held = Literal["blue-green", "while-split", "while-routed"]
"""How an offering's release keeps the previous version's capacity (:mod:`svai.compiler.release_cost`)."""
_BY_KIND: Mapping[str, Package] = MappingProxyType(
    {"faas": "zip", "container": "image", "endpoint": "model"}
)
"""How the model ships when an offering names no package: a function takes a zip, a container an
image, an endpoint a model package."""


class BuildsError(ValueError):
    """The catalog's ``builds`` section is malformed (a bug in svai's shipped data)."""


PLAN_FACTS = frozenset(
    {
        "restricted",
        "private",
        "hosted",
        "endpoint",
        "image",
        "stores",
        "queue",
        "secrets",
        "scheduled_gate",
    }
)
"""The words a :data:`Condition` is made of; :mod:`svai.compiler.egress` says what each means
for a plan."""

Condition = tuple[frozenset[str], ...]
"""Holds when all the facts of any one of its sets hold for a plan: ``(frozenset(),)`` always,
``()`` never."""


@dataclass(frozen=True, slots=True)
class PrivateEndpoints:
    """Private endpoints a deployment gets where a condition holds.

    Attributes:
        names: The endpoints (the cloud's service or private-link group ids).
        when: When the deployment gets them.
        per_function: One of each per function service rather than one per deployment.
    """

    names: tuple[str, ...]
    when: Condition = (frozenset(),)
    per_function: bool = False


@dataclass(frozen=True, slots=True)
class PrivateNetwork:
    """How a cloud keeps a deployment's traffic private (read by backend and bill alike).

    Attributes:
        built_when: When the deployment gets its private network.
        closed_when: When the network's services may not reach the internet.
        private_registry_when: When the image registry takes the tier with private endpoints.
        endpoints: The private endpoints in the network, by what the deployment uses.
        free_endpoints: Endpoints without an hourly price (AWS's gateway endpoints).
        zones: Endpoint -> the private DNS zones it registers in.
    """

    built_when: Condition = ()
    closed_when: Condition = ()
    private_registry_when: Condition = ()
    endpoints: tuple[PrivateEndpoints, ...] = ()
    free_endpoints: frozenset[str] = frozenset()
    zones: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CloudBuild:
    """What every deployment on one cloud is built from.

    Attributes:
        front: Offering the async pattern's submit/status functions run on.
        front_concurrency: Requests one of those functions takes at once.
        endpoint_proxy: Offering and entry point of the small function in front of a managed
            endpoint, or ``None`` when the API layer calls the endpoint directly.
        model_handler: Entry point of a function that serves the model.
        front_handler: Entry point of the async front functions.
        edge_rate_auth: Auth modes under which the edge enforces the API's rate limit.
        edge_rate_except: Offerings whose edge never enforces it.
        shared_cache: ``cache.store`` URL of the shared cache the backend creates (the runtime
            opens it by its scheme), or ``None``: the in-process cache serves alone.
        object_store: The runtime's name of the deployment bucket's object store (``s3``),
            where a model fetched at start is kept; ``None``: no bucket to fetch from.
        egress_rule: Id of the backend rule that compares the declared egress with what is
            built (its finding means the restriction is not built), or ``None``.
        network: The private network a deployment gets and its endpoints.
    """

    front: str
    front_concurrency: int
    endpoint_proxy: tuple[str, str] | None
    model_handler: str
    front_handler: str
    edge_rate_auth: frozenset[str] = frozenset()
    edge_rate_except: frozenset[str] = frozenset()
    shared_cache: str | None = None
    object_store: str | None = None
    egress_rule: str | None = None
    network: PrivateNetwork = PrivateNetwork()

    def edge_limits_rate(self, auth: str, front_offering: str) -> bool:
        """Whether the edge in front of ``front_offering`` enforces the rate limit under ``auth``."""
        return front_offering not in self.edge_rate_except and auth in self.edge_rate_auth


@dataclass(frozen=True, slots=True)
class Builds:
    """The ``builds`` section: per cloud, and per offering."""

    clouds: Mapping[str, CloudBuild] = field(default_factory=dict)
    packages: Mapping[str, Package] = field(default_factory=dict)
    rollout: Mapping[str, Mapping[str, tuple[bool, str]]] = field(default_factory=dict)
    """Offering -> strategy -> (supported, how it is done or why it cannot be)."""
    streaming: Mapping[str, tuple[bool, str]] = field(default_factory=dict)
    """Offering -> (whether a streamed answer reaches the caller on svai's path, how or why not)."""
    stream_urls: frozenset[str] = frozenset()
    """Offerings that get svai's response-streaming URL beside a path that buffers."""
    release_fleets: Mapping[str, Held] = field(default_factory=dict)
    """Offering -> how a release keeps the previous version's capacity (absent: not priced)."""

    def cloud(self, name: str) -> CloudBuild:
        """Return what deployments on cloud ``name`` are built from.

        Raises:
            KeyError: The catalog has no ``builds.clouds`` row for ``name``.
        """
        return self.clouds[name]

    def streams(self, offering: str) -> tuple[bool, str]:
        """Whether server-sent events reach the caller on ``offering``'s path, and how or why not.

        An offering without a row does not stream: a clear 400 for ``stream: true`` beats an
        answer a buffering proxy holds back until the end.
        """
        return self.streaming.get(offering) or (False, "svai has no streaming fact for it")

    def stream_url(self, offering: str) -> bool:
        """Whether a generation model on ``offering`` gets svai's response-streaming URL."""
        return offering in self.stream_urls

    def package(self, offering: str, kind: str) -> Package:
        """How the model ships to ``offering`` (of runtime ``kind``)."""
        return self.packages.get(offering) or _BY_KIND[kind]


def parse_builds(node: Any) -> Builds:
    """Parse the catalog's ``builds`` mapping.

    Raises:
        BuildsError: A row is missing a field or has one of the wrong type.
    """
    if node is None:
        return Builds()
    if not isinstance(node, dict):
        raise BuildsError("builds: must be a mapping")
    clouds = {str(name): _cloud(str(name), row) for name, row in (node.get("clouds") or {}).items()}
    packages: dict[str, Package] = {}
    rollout: dict[str, Mapping[str, tuple[bool, str]]] = {}
    streaming: dict[str, tuple[bool, str]] = {}
    stream_urls: set[str] = set()
    release_fleets: dict[str, Held] = {}
    for offering, row in (node.get("offerings") or {}).items():
        where = f"builds.offerings.{offering}"
        package = row.get("package")
        if package is not None:
            if package not in _PACKAGES:
                raise BuildsError(f"{where}.package: {package!r} not in {_PACKAGES}")
            packages[str(offering)] = package
        rollout[str(offering)] = MappingProxyType(
            {str(s): _support(f"{where}.rollout.{s}", v) for s, v in row["rollout"].items()}
        )
        if "streaming" in row:
            streaming[str(offering)] = _support(f"{where}.streaming", row["streaming"])
        stream_url = row.get("stream_url", False)
        if not isinstance(stream_url, bool):
            raise BuildsError(f"{where}.stream_url: must be true or false")
        if stream_url:
            stream_urls.add(str(offering))
        if "release_fleet" in row:
            release_fleets[str(offering)] = _held(f"{where}.release_fleet", row["release_fleet"])
    return Builds(
        MappingProxyType(clouds),
        MappingProxyType(packages),
        MappingProxyType(rollout),
        MappingProxyType(streaming),
        frozenset(stream_urls),
        MappingProxyType(release_fleets),
    )


def _held(where: str, value: Any) -> Held:
    if value not in get_args(Held):
        raise BuildsError(f"{where}: {value!r} not in {get_args(Held)}")
    return cast(Held, value)


def _cloud(name: str, row: Any) -> CloudBuild:
    where = f"builds.clouds.{name}"
    try:
        handlers, proxy, edge = row["handlers"], row["endpoint_proxy"], row["edge_rate_limit"]
        built = CloudBuild(
            front=str(row["front"]),
            front_concurrency=int(row["front_concurrency"]),
            endpoint_proxy=None
            if proxy is None
            else (str(proxy["offering"]), str(proxy["handler"])),
            model_handler=str(handlers["model"]),
            front_handler=str(handlers["front"]),
            edge_rate_auth=frozenset(map(str, edge["auth"])),
            edge_rate_except=frozenset(map(str, edge["except"])),
            shared_cache=_optional(row, "shared_cache"),
            object_store=_optional(row, "object_store"),
            egress_rule=_optional(row, "egress_rule"),
            network=_network(f"{where}.network", row.get("network") or {}),
        )
    except BuildsError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise BuildsError(f"{where}: missing or malformed {exc}") from exc
    return built


def _network(where: str, row: Mapping[str, Any]) -> PrivateNetwork:
    endpoints = tuple(
        PrivateEndpoints(
            names=tuple(map(str, entry["names"])),
            when=_condition(f"{where}.endpoints.{i}.when", entry.get("when", [[]])),
            per_function=bool(entry.get("per_function", False)),
        )
        for i, entry in enumerate(row.get("endpoints") or ())
    )
    zones = {str(k): tuple(map(str, v)) for k, v in (row.get("zones") or {}).items()}
    return PrivateNetwork(
        built_when=_condition(f"{where}.built_when", row.get("built_when", [])),
        closed_when=_condition(f"{where}.closed_when", row.get("closed_when", [])),
        private_registry_when=_condition(
            f"{where}.private_registry_when", row.get("private_registry_when", [])
        ),
        endpoints=endpoints,
        free_endpoints=frozenset(map(str, row.get("free_endpoints") or ())),
        zones=MappingProxyType(zones),
    )


def _condition(where: str, value: Any) -> Condition:
    """``[[fact, ...], ...]``: any of the lists, each holding when all its facts do."""
    if not (isinstance(value, list) and all(isinstance(v, list) for v in value)):
        raise BuildsError(f"{where}: must be a list of lists of plan facts")
    unknown = sorted({str(f) for facts in value for f in facts} - PLAN_FACTS)
    if unknown:
        raise BuildsError(f"{where}: unknown plan facts {unknown} (known: {sorted(PLAN_FACTS)})")
    return tuple(frozenset(map(str, facts)) for facts in value)


def _optional(row: Mapping[str, Any], key: str) -> str | None:
    value = row.get(key)
    return None if value is None else str(value)


def _support(where: str, value: Any) -> tuple[bool, str]:
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], bool)):
        raise BuildsError(f"{where}: must be [supported, how]")
    return value[0], str(value[1])
