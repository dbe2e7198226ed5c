"""The platform catalog: typed, cached view of ``svai/compiler/data/catalog.yaml``.

The catalog is versioned data: every offering svai can choose (per cloud), its limits, allowed
sizes, warm-pool mechanism, keep-alive, cold-start components and prices, each with sources and a
date. Figures that no official page confirmed are written in the YAML as
``{value, unverified: true, note}``; the loader unwraps the value and keeps the mark in
:attr:`Offering.unverified` so the recommender can say which numbers are soft.

A broken catalog is a bug in svai (it ships with the package), so problems raise
:class:`CatalogError` (a ``ValueError``), not a user-facing error.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml

from svai.compiler.builds import Builds, parse_builds
from svai.spec.clouds import CLOUDS
from svai.spec.regions import cloud_regions

__all__ = [
    "Catalog",
    "CatalogError",
    "ColdStart",
    "GpuCard",
    "GpuRuntime",
    "GpuSupport",
    "GpuThroughput",
    "GpuType",
    "Limits",
    "Offering",
    "Overheads",
    "Pricing",
    "Rates",
    "RegionalPrice",
    "ResourcePrice",
    "Size",
    "UnverifiedMark",
    "Usage",
    "WarmPool",
    "load_catalog",
]

Kind = Literal["faas", "container", "endpoint"]
Billing = Literal["request", "instance", "always_on"]

DEFAULT_PATH = Path(__file__).with_name("data") / "catalog.yaml"
REGIONAL_NAME = "regional.yaml"
"""Prices and availability per region, read from beside the catalog file."""
_KINDS = ("faas", "container", "endpoint")
_BILLINGS = ("request", "instance", "always_on")
_CLOUDS = CLOUDS

try:  # the C loader parses the catalog several times faster
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader


class CatalogError(ValueError):
    """The catalog data is malformed (a bug in svai's shipped data, not a user error)."""


@dataclass(frozen=True)
class UnverifiedMark:
    """A figure not confirmed from an official source.

    Attributes:
        path: Dotted path of the figure inside its offering (``pricing.active.gb_s``).
        note: Where the value came from instead (third-party, assumption, ...).
    """

    path: str
    note: str


@dataclass(frozen=True)
class Size:
    """One allowed sizing of an offering.

    Attributes:
        memory_mb: Memory of one instance in MiB.
        vcpu: vCPUs of one instance (fractional for FaaS memory-proportional CPU).
        gpu: GPU type name (``"L4"``) or ``None``.
        gpu_count: GPUs per instance.
        name: Instance type name where the vendor has one (``ml.g5.xlarge``).
        usd_per_hour: Price of one instance-hour for instance-priced offerings, else ``None``.
    """

    memory_mb: int
    vcpu: float
    gpu: str | None = None
    gpu_count: int = 0
    name: str | None = None
    usd_per_hour: float | None = None
    vram_gb: float | None = None
    """GPU memory of each GPU where this size's card differs from the offering's GPU type
    (an A100 with 40 GB on an offering whose A100 has 80 GB)."""

    @property
    def memory_gb(self) -> float:
        """Memory in GB as vendors bill it (1 GB = 1,024 MiB)."""
        return self.memory_mb / 1024.0


@dataclass(frozen=True)
class Limits:
    """Hard limits of an offering (the recommender's feasibility filter)."""

    memory_mb_min: int
    memory_mb_max: int
    memory_mb_step: int
    vcpu_max: float
    artifact_mb: float
    request_mb: float
    response_mb: float
    timeout_s: float
    concurrency_default: int
    concurrency_max: int
    max_instances: int
    scale_to_zero: bool
    notes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class GpuType:
    """A GPU an offering can attach; ``usd_per_hour`` is set where the GPU is priced separately."""

    name: str
    vram_gb: float
    usd_per_hour: float | None = None


@dataclass(frozen=True)
class GpuSupport:
    """Whether an offering has GPUs, and which."""

    available: bool
    types: tuple[GpuType, ...] = ()

    def get(self, name: str) -> GpuType:
        """Return the GPU type called ``name`` (case-insensitive).

        Raises:
            KeyError: The offering has no such GPU.
        """
        for gpu in self.types:
            if gpu.name.lower() == name.lower():
                return gpu
        raise KeyError(name)


@dataclass(frozen=True)
class WarmPool:
    """The mechanism that keeps instances initialised (provisioned concurrency, min instances)."""

    available: bool
    name: str
    pricing: str
    max: int | None = None


@dataclass(frozen=True)
class ColdStart:
    """Platform components of a cold start; the model's own load time is added by the caller.

    Attributes:
        platform_s: Sandbox/instance start and runtime boot, before user code runs.
        node_start_s: Extra time to obtain a node (always-on endpoints scaling out).
        gpu_node_start_s: Extra time for a GPU instance (driver-ready node).
        image_pull_mb_per_s: Effective image pull rate, ``None`` where there is no image.
        artifact_fetch_mb_per_s: Effective rate at which the model artifact is read at start.
        model_load_in_snapshot: The model load happens before a snapshot (SnapStart) and is
            not repeated on a cold start.
        start_fetch_above_mb: ``model.fetch: auto`` fetches a model larger than this at start
            from the deployment's bucket instead of packaging it; ``None``: always packaged.
    """

    platform_s: float
    node_start_s: float = 0.0
    gpu_node_start_s: float = 0.0
    image_pull_mb_per_s: float | None = None
    artifact_fetch_mb_per_s: float | None = None
    model_load_in_snapshot: bool = False
    start_fetch_above_mb: float | None = None


@dataclass(frozen=True)
class Overheads:
    """What the platform adds to every request's latency, around the model's own time.

    Attributes:
        gateway_s: The API layer in front (API Gateway HTTP API).
        proxy_s: A proxy between the API layer and the model (a function, a load balancer,
            an ingress).
        invocation_s: The platform's own invoke path (routing, front end, overhead metrics).
        network_s: The client's round trip to the front door in the same region.
        sources: Where the figures (or the metrics that measure them) are documented.
    """

    gateway_s: float = 0.0
    proxy_s: float = 0.0
    invocation_s: float = 0.0
    network_s: float = 0.0
    sources: tuple[str, ...] = ()

    @property
    def total_s(self) -> float:
        """Seconds added to every request."""
        return self.gateway_s + self.proxy_s + self.invocation_s + self.network_s


@dataclass(frozen=True)
class Rates:
    """Price of one instance-second, by component.

    ``instance_hour`` is a multiplier of the size's own ``usd_per_hour`` (1 for instance-priced
    offerings, 0 otherwise).
    """

    gb_s: float = 0.0
    vcpu_s: float = 0.0
    gib_s: float = 0.0
    instance_hour: float = 0.0

    def per_second(self, size: Size) -> float:
        """Return the USD price of one second of one instance of ``size`` (GPU excluded)."""
        price = self.gb_s * size.memory_gb + self.vcpu_s * size.vcpu + self.gib_s * size.memory_gb
        if self.instance_hour and size.usd_per_hour is not None:
            price += self.instance_hour * size.usd_per_hour / 3600.0
        return price


@dataclass(frozen=True)
class Pricing:
    """How an offering bills.

    Attributes:
        billing: ``request`` (pay while instances handle requests), ``instance`` (pay for the
            whole life of every instance, idle included) or ``always_on`` (a fleet billed per
            instance-hour).
        requests_usd_per_million: Per-request charge.
        active: Rate of an on-demand instance handling >= 1 request.
        idle: Rate of an on-demand instance alive between requests (0 for FaaS).
        warm_idle: Rate of an idle warm-pool instance.
        warm_busy: Rate of a busy warm-pool instance.
        instance_based: Rates used instead of ``active``/``idle`` for sizes that force
            instance-based billing (Cloud Run with a GPU), if any.
        init_billed: Whether the cold-start init time is billed.
        granularity_s: Billing rounding step of a request's duration.
        min_billed_s: Minimum billed duration per request (or per instance for always-on).
        extras: Other priced figures by name (``snapshot_cache_gb_s_usd``, ``data_usd_per_gb``,
            ``load_balancer_usd_per_hour``).
    """

    billing: Billing
    requests_usd_per_million: float
    active: Rates
    idle: Rates
    warm_idle: Rates
    warm_busy: Rates
    instance_based: Rates | None
    init_billed: bool
    granularity_s: float
    min_billed_s: float
    extras: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Offering:
    """One compute offering svai can choose.

    Attributes:
        id: Stable id (``aws.lambda.zip``).
        name: Human name.
        cloud: ``aws``, ``gcp`` or ``azure``.
        kind: ``faas``, ``container`` or ``endpoint``.
        limits: Hard limits.
        sizes: Allowed sizings (memory -> vCPU mapping, GPU sizes, instance types).
        gpu: GPU support.
        warm_pool: Warm-pool mechanism.
        keep_alive_s: Idle time before an on-demand instance is reclaimed; ``None`` for
            always-on fleets that are never reclaimed for idleness.
        cold_start: Platform cold-start components.
        pricing: Prices.
        overheads: Platform latency around the model's own time on every request.
        sources: URLs the figures come from.
        as_of: Date of the figures (ISO).
        unverified: Every figure of this offering not confirmed from an official source.
    """

    id: str
    name: str
    cloud: str
    kind: Kind
    limits: Limits
    sizes: tuple[Size, ...]
    gpu: GpuSupport
    warm_pool: WarmPool
    keep_alive_s: float | None
    cold_start: ColdStart
    pricing: Pricing
    sources: tuple[str, ...]
    as_of: str
    unverified: tuple[UnverifiedMark, ...] = ()
    overheads: Overheads = Overheads()
    region: str = ""
    """The region this view of the offering is for (empty: the catalog's reference figures)."""
    unavailable: str | None = None
    """Why the offering does not run in :attr:`region` at all, if it does not."""
    gpus_elsewhere: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """GPU types the offering has, but not in :attr:`region`: name -> the regions that have it."""

    def region_refusal(self, gpu: bool, gpu_type: str | None = None) -> str | None:
        """Return why this offering cannot run a model here (``gpu``: it needs one), if so."""
        if self.unavailable is not None:
            return self.unavailable
        if not gpu or not self.gpus_elsewhere:
            return None
        missing = {
            name: regions
            for name, regions in self.gpus_elsewhere.items()
            if gpu_type is None or name.lower() == gpu_type.lower()
        }
        if not missing or (gpu_type is None and self.gpu.available):
            return None
        where = "; ".join(f"{name}: {', '.join(regions)}" for name, regions in missing.items())
        return f"no {'/'.join(missing)} GPU in {self.region} (offered in {where})"

    def is_unverified(self, path: str) -> bool:
        """Return whether the figure at dotted ``path`` (or anything below it) is unverified."""
        return any(m.path == path or m.path.startswith(path + ".") for m in self.unverified)

    def vram_per_gpu_gb(self, size: Size) -> float | None:
        """GPU memory of each of ``size``'s GPUs; ``None`` for a CPU size or an unknown GPU."""
        if size.gpu is None:
            return None
        if size.vram_gb is not None:
            return size.vram_gb
        try:
            return self.gpu.get(size.gpu).vram_gb
        except KeyError:
            return None

    def gpu_usd_per_s(self, size: Size) -> float:
        """Return the separately priced GPU cost of one instance-second of ``size`` (0 if none)."""
        if size.gpu is None or not self.gpu.available:
            return 0.0
        try:
            gpu = self.gpu.get(size.gpu)
        except KeyError:
            return 0.0
        if gpu.usd_per_hour is None:
            return 0.0
        return gpu.usd_per_hour / 3600.0 * size.gpu_count


Meter = Literal[
    "compute", "api_calls", "messages", "store", "logs", "traces", "storage", "monthly", "free"
]
_METER_PRICES: dict[str, tuple[str, ...]] = {
    # meter: the price keys a row of that meter must have
    "compute": (),
    "api_calls": ("usd_per_million",),
    "messages": ("usd_per_million",),
    "store": ("write_usd_per_million", "read_usd_per_million"),
    "logs": ("usd_per_gb",),
    "traces": ("usd_per_million",),
    "storage": ("usd_per_gb_month",),
    "monthly": ("usd_per_month",),
    "free": (),
}
_PRICE_KEYS = frozenset(
    {
        "usd_per_million",
        "requests_per_message",
        "base_usd_per_month",
        "private_base_usd_per_month",
        "private_usd_per_month",
        "write_usd_per_million",
        "read_usd_per_million",
        "usd_per_gb",
        "usd_per_gb_month",
        "usd_per_month",
        "max_delivery_s",
        "max_message_bytes",
        "private_max_message_bytes",
    }
)


@dataclass(frozen=True)
class ResourcePrice:
    """How one kind of resource a deployment creates is billed (a row of ``resources``).

    Attributes:
        id: Stable id; also the line's name in a cost breakdown (``aws.apigateway.http``).
        name: Human name.
        cloud: ``aws``, ``gcp``, ``azure`` or ``any``.
        meter: What the price scales with (see the catalog's header of ``resources``).
        types: Pulumi type tokens of the resources it prices (empty: a platform charge that no
            resource declares, such as Cloud Logging ingestion).
        prices: The figures by key (``usd_per_million``, ``usd_per_month``, ...).
        note: Why the row is free, or what its figures mean.
        sources: URLs the figures come from.
        as_of: Date of the figures.
        unverified: Figures not confirmed from an official source.
    """

    id: str
    name: str
    cloud: str
    meter: Meter
    types: tuple[str, ...]
    prices: Mapping[str, float]
    note: str
    sources: tuple[str, ...]
    as_of: str
    unverified: tuple[UnverifiedMark, ...] = ()

    def price(self, key: str, default: float | None = None) -> float:
        """Return the figure ``key`` (``default`` when the row has none).

        Raises:
            KeyError: The row has no such figure and there is no default.
        """
        if key in self.prices:
            return self.prices[key]
        if default is None:
            raise KeyError(f"{self.id} has no {key}")
        return default


@dataclass(frozen=True)
class Usage:
    """svai's modelling assumptions of how much of each priced thing one prediction uses.

    Attributes:
        status_calls_per_job: Status reads per async job.
        front_duration_s: Billed time of one submit/status function call.
        proxy_overhead_s: What an endpoint's proxy function adds to the endpoint's latency.
        store_ops: Store name -> (reads, writes) per prediction, or per job for ``results``.
        log_bytes: Cloud -> (per prediction on the model's service, per function invocation,
            per API call).
    """

    status_calls_per_job: float
    front_duration_s: float
    proxy_overhead_s: float
    store_ops: Mapping[str, tuple[float, float]]
    log_bytes: Mapping[str, tuple[float, float, float]]
    unverified: tuple[UnverifiedMark, ...] = ()


@dataclass(frozen=True)
class GpuRuntime:
    """Measured GPU cold-start components (QUALITY.md) used for GPU model loading."""

    import_torch_s: float
    cuda_context_s: float
    safetensors_gb_per_s: float
    first_forward_s: float
    source: str
    as_of: str


@dataclass(frozen=True)
class GpuCard:
    """What one GPU can do: the figures token predictions are made from (datasheet values).

    Attributes:
        name: The GPU type as offerings name it (``A100``).
        vram_gb: Its memory; a type sold with two memory sizes has a card per size.
        memory_gb_per_s: Memory bandwidth; bounds decoding (every output token reads every
            weight once).
        bf16_tflops: Dense 16-bit tensor throughput; bounds prefill.
        fp8_tflops: Dense FP8 tensor throughput, ``None`` on cards without FP8.
        memory_fraction: The share of its memory the engine may take (the GPU package's
            ``gpu_memory_utilization`` for this card).
        source: Where the figures come from.
        unverified: The figures were not read from the vendor's page here.
    """

    name: str
    vram_gb: float
    memory_gb_per_s: float
    bf16_tflops: float
    fp8_tflops: float | None
    memory_fraction: float
    source: str
    unverified: bool


@dataclass(frozen=True)
class GpuThroughput:
    """Datasheet figures per GPU and the share of them an engine reaches."""

    decode_efficiency: float
    """Share of the memory bandwidth decoding reaches."""
    prefill_efficiency: float
    """Share of the dense tensor throughput prefill reaches."""
    cards: tuple[GpuCard, ...] = ()
    source: str = ""

    def card(self, name: str, vram_gb: float) -> GpuCard | None:
        """The card named ``name`` with ``vram_gb`` of memory (else the first of that name)."""
        named = [c for c in self.cards if c.name.lower() == name.lower()]
        exact = [c for c in named if c.vram_gb == vram_gb]
        found = exact or named
        return found[0] if found else None


@dataclass(frozen=True)
class Catalog:
    """All offerings, the prices of everything else a deployment creates, and the version."""

    version: str
    as_of: str
    regions: Mapping[str, str]
    gpu_runtime: GpuRuntime
    usage: Usage
    _offerings: tuple[Offering, ...]
    _resources: tuple[ResourcePrice, ...]
    _by_type: Mapping[str, ResourcePrice]
    _regional: _Regional | None = None
    view_of: tuple[str, str] | None = None
    """``(cloud, region)`` this catalog is a view for (:meth:`in_region`), else ``None``."""
    _base: Catalog | None = field(default=None, repr=False, compare=False)
    _views: dict[tuple[str, str], Catalog] = field(default_factory=dict, repr=False, compare=False)
    builds: Builds = field(default_factory=Builds)
    """What svai's deployments are made of per cloud and offering (``builds`` section)."""
    gpu_throughput: GpuThroughput = field(default_factory=lambda: GpuThroughput(0.0, 0.0))
    """Datasheet figures per GPU (``gpu_throughput`` section) for token predictions."""

    def in_region(self, cloud: str, region: str) -> Catalog:
        """Return the catalog as seen from ``region`` of ``cloud`` (cached).

        Its ``cloud`` offerings carry that region's prices (the reference region's where none
        is recorded, marked unverified) and availability: an offering that does not run there
        says why (:meth:`Offering.region_refusal`), GPU types the region lacks are removed with
        their sizes. Other clouds' offerings and the resource rows are unchanged.
        """
        root = self._base or self
        if self.view_of == (cloud, region):
            return self
        view = root._views.get((cloud, region))
        if view is None:
            view = root._views[(cloud, region)] = _regional_view(root, cloud, region)
        return view

    def offerings(self, cloud: str | None = None) -> tuple[Offering, ...]:
        """Return every offering, or those of ``cloud``, in catalog order."""
        if cloud is None:
            return self._offerings
        return tuple(o for o in self._offerings if o.cloud == cloud)

    def get(self, offering_id: str) -> Offering:
        """Return the offering with id ``offering_id``.

        Raises:
            KeyError: No such offering (the message lists the known ids).
        """
        for offering in self._offerings:
            if offering.id == offering_id:
                return offering
        known = ", ".join(o.id for o in self._offerings)
        raise KeyError(f"unknown offering {offering_id!r}; known: {known}")

    def resources(self, cloud: str | None = None) -> tuple[ResourcePrice, ...]:
        """Return every resource price row, or those of ``cloud`` (rows for ``any`` included)."""
        if cloud is None:
            return self._resources
        return tuple(r for r in self._resources if r.cloud in (cloud, "any"))

    def resource(self, row_id: str) -> ResourcePrice:
        """Return the resource price row ``row_id``.

        Raises:
            KeyError: No such row.
        """
        for row in self._resources:
            if row.id == row_id:
                return row
        raise KeyError(row_id)

    def resource_for(self, type_token: str) -> ResourcePrice | None:
        """Return the row that prices resources of Pulumi type ``type_token``, if any."""
        return self._by_type.get(type_token)

    def queue_delivery_limit(self, cloud: str) -> tuple[float, str] | None:
        """Return how long ``cloud``'s job queue waits for a worker, and its name, if bounded."""
        for row in self.resources(cloud):
            if row.meter == "messages" and "max_delivery_s" in row.prices:
                return row.prices["max_delivery_s"], row.name
        return None

    def queue_message_limit(self, cloud: str, *, private: bool = False) -> tuple[int, str]:
        """Return the largest message ``cloud``'s job queue takes, in bytes, and its name.

        Args:
            cloud: ``aws``, ``gcp`` or ``azure``.
            private: The tier svai builds under ``security.network.private`` (where it differs).

        Raises:
            KeyError: the catalog records no message limit for ``cloud``'s queue.
        """
        for row in self.resources(cloud):
            if row.meter == "messages" and "max_message_bytes" in row.prices:
                key = "private_max_message_bytes" if private else "max_message_bytes"
                return int(row.prices.get(key, row.prices["max_message_bytes"])), row.name
        raise KeyError(f"no {cloud} queue with max_message_bytes in the catalog")


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and validate the catalog; the default catalog is parsed once per process.

    Args:
        path: Another catalog file (tests); ``None`` loads the shipped one.

    Returns:
        The parsed, frozen catalog.

    Raises:
        CatalogError: The file is malformed.
    """
    return _load_cached(str(path or DEFAULT_PATH))


@functools.lru_cache(maxsize=8)
def _load_cached(path: str) -> Catalog:
    with open(path, encoding="utf-8") as fh:
        raw = yaml.load(fh, Loader=_Loader)  # only CSafeLoader / SafeLoader
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: top level must be a mapping")
    catalog = _parse_catalog(raw)
    regional_path = Path(path).with_name(REGIONAL_NAME)
    if not regional_path.is_file():
        return catalog  # a catalog without regional data (tests): every region as the reference
    with open(regional_path, encoding="utf-8") as fh:
        regional = yaml.load(fh, Loader=_Loader)  # only CSafeLoader / SafeLoader
    return dataclasses.replace(catalog, _regional=_parse_regional(regional, catalog))


# ----------------------------------------------------------------------------------- parsing


def _unwrap(node: Any, path: str, marks: list[UnverifiedMark]) -> Any:
    """Replace every ``{value, unverified, note}`` mapping by its value, recording the marks."""
    if isinstance(node, dict):
        if "value" in node and set(node) <= {"value", "unverified", "note"}:
            if node.get("unverified"):
                note = node.get("note")
                if not isinstance(note, str) or not note.strip():
                    raise CatalogError(f"{path}: unverified figure without a note")
                marks.append(UnverifiedMark(path, note))
            return node["value"]
        if node.get("unverified") is True:
            note = node.get("note") or node.get("source_note")
            if not isinstance(note, str) or not note.strip():
                raise CatalogError(f"{path}: unverified block without a note")
            marks.append(UnverifiedMark(path, note))
        return {
            k: _unwrap(v, f"{path}.{k}" if path else str(k), marks)
            for k, v in node.items()
            if k not in ("unverified",)
        }
    if isinstance(node, list):
        return [_unwrap(v, f"{path}[{i}]", marks) for i, v in enumerate(node)]
    return node


def _num(node: Mapping[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = node.get(key, default)
    if value is None:
        if default is not None:
            return default
        raise CatalogError(f"{where}.{key}: missing number")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CatalogError(f"{where}.{key}: expected a number, got {value!r}")
    if math.isnan(float(value)) or float(value) < 0:
        raise CatalogError(f"{where}.{key}: must be a non-negative number, got {value!r}")
    return float(value)


def _opt_num(node: Mapping[str, Any], key: str, where: str) -> float | None:
    if node.get(key) is None:
        return None
    return _num(node, key, where)


def _rates(node: Any, where: str) -> Rates:
    if node is None:
        node = {}
    if not isinstance(node, dict):
        raise CatalogError(f"{where}: expected a rate mapping")
    unknown = set(node) - {"gb_s", "vcpu_s", "gib_s", "instance_hour"}
    if unknown:
        raise CatalogError(f"{where}: unknown rate keys {sorted(unknown)}")
    return Rates(
        gb_s=_num(node, "gb_s", where, 0.0),
        vcpu_s=_num(node, "vcpu_s", where, 0.0),
        gib_s=_num(node, "gib_s", where, 0.0),
        instance_hour=_num(node, "instance_hour", where, 0.0),
    )


def _scale_to_zero(node: Any) -> bool:
    if isinstance(node, bool):
        return node
    if isinstance(node, dict):
        return bool(node.get("value"))
    return bool(node)


def _parse_offering(raw: dict[str, Any]) -> Offering:
    oid = raw.get("id")
    if not isinstance(oid, str):
        raise CatalogError(f"offering without an id: {raw!r:.80}")
    marks: list[UnverifiedMark] = []
    # scale_to_zero may carry a plain note without being unverified; keep its bool only.
    node = _unwrap(raw, "", marks)
    where = oid
    kind = node.get("kind")
    if kind not in _KINDS:
        raise CatalogError(f"{where}.kind: {kind!r} not in {_KINDS}")
    cloud = node.get("cloud")
    if cloud not in _CLOUDS:
        raise CatalogError(f"{where}.cloud: {cloud!r} not in {_CLOUDS}")
    lim = node.get("limits") or {}
    mem = lim.get("memory_mb") or {}
    notes = {k: str(v) for k, v in lim.items() if k.endswith("_note")}
    limits = Limits(
        memory_mb_min=int(_num(mem, "min", f"{where}.limits.memory_mb")),
        memory_mb_max=int(_num(mem, "max", f"{where}.limits.memory_mb")),
        memory_mb_step=int(_num(mem, "step", f"{where}.limits.memory_mb", 1.0)),
        vcpu_max=_num(lim, "vcpu_max", f"{where}.limits"),
        artifact_mb=_num(lim, "artifact_mb", f"{where}.limits"),
        request_mb=_num(lim, "request_mb", f"{where}.limits"),
        response_mb=_num(lim, "response_mb", f"{where}.limits"),
        timeout_s=_num(lim, "timeout_s", f"{where}.limits"),
        concurrency_default=int(_num(lim, "concurrency_default", f"{where}.limits")),
        concurrency_max=int(_num(lim, "concurrency_max", f"{where}.limits")),
        max_instances=int(_num(lim, "max_instances", f"{where}.limits")),
        scale_to_zero=_scale_to_zero(lim.get("scale_to_zero")),
        notes=MappingProxyType(notes),
    )
    sizes = []
    for i, s in enumerate(node.get("sizes") or []):
        sw = f"{where}.sizes[{i}]"
        sizes.append(
            Size(
                memory_mb=int(_num(s, "memory_mb", sw)),
                vcpu=_num(s, "vcpu", sw),
                gpu=s.get("gpu"),
                gpu_count=int(_num(s, "gpu_count", sw, 0.0)),
                name=s.get("name"),
                usd_per_hour=_opt_num(s, "usd_per_hour", sw),
                vram_gb=_opt_num(s, "vram_gb", sw),
            )
        )
    if not sizes:
        raise CatalogError(f"{where}: no sizes")
    g = node.get("gpu") or {}
    gpu = GpuSupport(
        available=g.get("available") is True,
        types=tuple(
            GpuType(
                name=str(t["name"]),
                vram_gb=_num(t, "vram_gb", f"{where}.gpu"),
                usd_per_hour=_opt_num(t, "usd_per_hour", f"{where}.gpu"),
            )
            for t in g.get("types") or []
        ),
    )
    wp = node.get("warm_pool") or {}
    warm_pool = WarmPool(
        available=bool(wp.get("available")),
        name=str(wp.get("name", "")),
        pricing=str(wp.get("pricing", "")),
        max=int(wp["max"]) if wp.get("max") is not None else None,
    )
    cs = node.get("cold_start") or {}
    csw = f"{where}.cold_start"
    cold = ColdStart(
        platform_s=_num(cs, "platform_s", csw),
        node_start_s=_num(cs, "node_start_s", csw, 0.0),
        gpu_node_start_s=_num(cs, "gpu_node_start_s", csw, 0.0),
        image_pull_mb_per_s=_opt_num(cs, "image_pull_mb_per_s", csw),
        artifact_fetch_mb_per_s=_opt_num(cs, "artifact_fetch_mb_per_s", csw),
        model_load_in_snapshot=bool(cs.get("model_load_in_snapshot", False)),
        start_fetch_above_mb=_opt_num(cs, "start_fetch_above_mb", csw),
    )
    pr = node.get("pricing") or {}
    pw = f"{where}.pricing"
    billing = pr.get("billing")
    if billing not in _BILLINGS:
        raise CatalogError(f"{pw}.billing: {billing!r} not in {_BILLINGS}")
    extras = {
        k: float(v)
        for k, v in pr.items()
        if k.endswith(("_usd", "_usd_per_gb", "_usd_per_hour"))
        and isinstance(v, int | float)
        and not isinstance(v, bool)
    }
    pricing = Pricing(
        billing=billing,
        requests_usd_per_million=_num(pr, "requests_usd_per_million", pw),
        active=_rates(pr.get("active"), f"{pw}.active"),
        idle=_rates(pr.get("idle"), f"{pw}.idle"),
        warm_idle=_rates(pr.get("warm_idle"), f"{pw}.warm_idle"),
        warm_busy=_rates(pr.get("warm_busy"), f"{pw}.warm_busy"),
        instance_based=(
            _rates(pr["instance_based"], f"{pw}.instance_based")
            if pr.get("instance_based")
            else None
        ),
        init_billed=bool(pr.get("init_billed", False)),
        granularity_s=_num(pr, "granularity_s", pw),
        min_billed_s=_num(pr, "min_billed_s", pw, 0.0),
        extras=MappingProxyType(extras),
    )
    sources = tuple(str(s) for s in node.get("sources") or [])
    if not sources:
        raise CatalogError(f"{where}: no sources")
    as_of = str(node.get("as_of") or "")
    if not as_of:
        raise CatalogError(f"{where}: no as_of date")
    keep = node.get("keep_alive_s")
    oh = node.get("overheads") or {}
    ohw = f"{where}.overheads"
    overheads = Overheads(
        gateway_s=_num(oh, "gateway_s", ohw, 0.0),
        proxy_s=_num(oh, "proxy_s", ohw, 0.0),
        invocation_s=_num(oh, "invocation_s", ohw, 0.0),
        network_s=_num(oh, "network_s", ohw, 0.0),
        sources=tuple(str(u) for u in oh.get("sources") or []),
    )
    return Offering(
        id=oid,
        name=str(node.get("name", oid)),
        cloud=cloud,
        kind=kind,
        limits=limits,
        sizes=tuple(sizes),
        gpu=gpu,
        warm_pool=warm_pool,
        keep_alive_s=None if keep is None else float(keep),
        cold_start=cold,
        pricing=pricing,
        sources=sources,
        as_of=as_of,
        unverified=tuple(marks),
        overheads=overheads,
    )


def _parse_resource(raw: dict[str, Any]) -> ResourcePrice:
    marks: list[UnverifiedMark] = []
    node = _unwrap(raw, "", marks)
    rid = str(node.get("id"))
    meter = node.get("meter")
    if meter not in _METER_PRICES:
        raise CatalogError(f"{rid}.meter: {meter!r} not in {tuple(_METER_PRICES)}")
    prices = {k: _num(node, k, rid) for k in node if k in _PRICE_KEYS}
    missing = [k for k in _METER_PRICES[meter] if k not in prices]
    if missing:
        raise CatalogError(f"{rid}: a {meter} row needs {', '.join(missing)}")
    note = str(node.get("note") or "")
    if meter == "free" and not note.strip():
        raise CatalogError(f"{rid}: a free row says why it is free (note)")
    sources = tuple(str(s) for s in node.get("sources") or [])
    if not sources or not node.get("as_of"):
        raise CatalogError(f"{rid}: a resource row needs sources and as_of")
    cloud = str(node.get("cloud"))
    if cloud not in (*_CLOUDS, "any"):
        raise CatalogError(f"{rid}.cloud: {cloud!r} not in {(*_CLOUDS, 'any')}")
    return ResourcePrice(
        id=rid,
        name=str(node.get("name") or rid),
        cloud=cloud,
        meter=meter,
        types=tuple(str(t) for t in node.get("types") or ()),
        prices=MappingProxyType(prices),
        note=note,
        sources=sources,
        as_of=str(node["as_of"]),
        unverified=tuple(marks),
    )


def _parse_usage(raw: Any) -> Usage:
    marks: list[UnverifiedMark] = []
    node = _unwrap(raw or {}, "usage", marks)
    ops = {
        str(name): (_num(v, "reads", f"usage.store_ops.{name}"), _num(v, "writes", f"usage.{name}"))
        for name, v in (node.get("store_ops") or {}).items()
    }
    logs = {
        str(cloud): tuple(_num(v, k, f"usage.log_bytes.{cloud}") for k in _LOG_KINDS)
        for cloud, v in (node.get("log_bytes") or {}).items()
    }
    if set(logs) != set(_CLOUDS):
        raise CatalogError(f"usage.log_bytes: needs {', '.join(_CLOUDS)}")
    return Usage(
        status_calls_per_job=_num(node, "status_calls_per_job", "usage"),
        front_duration_s=_num(node, "front_duration_s", "usage"),
        proxy_overhead_s=_num(node, "proxy_overhead_s", "usage"),
        store_ops=MappingProxyType(ops),
        log_bytes=MappingProxyType(logs),  # type: ignore[arg-type]
        unverified=tuple(marks),
    )


_LOG_KINDS = ("request", "function", "access")


def _parse_catalog(raw: dict[str, Any]) -> Catalog:
    offerings = tuple(_parse_offering(o) for o in raw.get("offerings") or [])
    ids = [o.id for o in offerings]
    if len(ids) != len(set(ids)):
        raise CatalogError("duplicate offering ids")
    resources = tuple(_parse_resource(r) for r in raw.get("resources") or [])
    ids = [r.id for r in resources]
    if len(ids) != len(set(ids)):
        raise CatalogError("duplicate resource row ids")
    tokens = [t for r in resources for t in r.types]
    twice = sorted({t for t in tokens if tokens.count(t) > 1})
    if twice:
        raise CatalogError(f"resource types priced by two rows: {', '.join(twice)}")
    gr = raw.get("gpu_runtime") or {}
    gpu_runtime = GpuRuntime(
        import_torch_s=_num(gr, "import_torch_s", "gpu_runtime"),
        cuda_context_s=_num(gr, "cuda_context_s", "gpu_runtime"),
        safetensors_gb_per_s=_num(gr, "safetensors_gb_per_s", "gpu_runtime"),
        first_forward_s=_num(gr, "first_forward_s", "gpu_runtime"),
        source=str(gr.get("source", "")),
        as_of=str(gr.get("as_of", "")),
    )
    return Catalog(
        version=str(raw.get("catalog_version", "")),
        as_of=str(raw.get("as_of", "")),
        regions=MappingProxyType(dict(raw.get("regions") or {})),
        gpu_runtime=gpu_runtime,
        usage=_parse_usage(raw.get("usage")),
        _offerings=offerings,
        _resources=resources,
        _by_type=MappingProxyType({t: row for row in resources for t in row.types}),
        builds=parse_builds(raw.get("builds")),
        gpu_throughput=_parse_gpu_throughput(raw.get("gpu_throughput") or {}),
    )


def _parse_gpu_throughput(node: Mapping[str, Any]) -> GpuThroughput:
    where = "gpu_throughput"
    cards = tuple(
        GpuCard(
            name=str(c["name"]),
            vram_gb=_num(c, "vram_gb", f"{where}.cards[{i}]"),
            memory_gb_per_s=_num(c, "memory_gb_per_s", f"{where}.cards[{i}]"),
            bf16_tflops=_num(c, "bf16_tflops", f"{where}.cards[{i}]"),
            fp8_tflops=_opt_num(c, "fp8_tflops", f"{where}.cards[{i}]"),
            memory_fraction=_num(c, "memory_fraction", f"{where}.cards[{i}]"),
            source=str(c.get("source", "")),
            unverified=c.get("unverified") is True,
        )
        for i, c in enumerate(node.get("cards") or [])
    )
    return GpuThroughput(
        decode_efficiency=_num(node, "decode_efficiency", where, 0.0),
        prefill_efficiency=_num(node, "prefill_efficiency", where, 0.0),
        cards=cards,
        source=str(node.get("source", "")),
    )


# ------------------------------------------------------------------------------------ regions


@dataclass(frozen=True)
class RegionalPrice:
    """An offering's price in one region, as a multiple of its reference-region price.

    Attributes:
        factor: The multiple (1 where the vendor prices the region as the reference).
        source: Where it comes from.
        as_of: When it was read.
        unverified: Why no official page confirmed it, if none did.
    """

    factor: float
    source: str
    as_of: str
    unverified: str | None = None


@dataclass(frozen=True)
class _Availability:
    """Where one offering, and each of its GPU types, runs."""

    regions: tuple[str, ...] | None
    gpu: Mapping[str, tuple[str, ...]]
    source: str


@dataclass(frozen=True)
class _Regional:
    """``regional.yaml``: availability per offering, prices per (cloud, region, offering)."""

    availability: Mapping[str, _Availability]
    prices: Mapping[tuple[str, str], Mapping[str, RegionalPrice]]

    def price(self, cloud: str, region: str, offering_id: str) -> RegionalPrice | None:
        """The recorded price of ``offering_id`` in ``region``, if any."""
        factors = self.prices.get((cloud, region), {})
        return factors.get(offering_id) or factors.get("*")


def _regional_view(base: Catalog, cloud: str, region: str) -> Catalog:
    regional = base._regional
    if regional is None:
        return dataclasses.replace(base, view_of=(cloud, region), _base=base, _views={})
    reference = base.regions.get(cloud)
    offerings = tuple(
        _offering_in(o, region, reference, regional) if o.cloud == cloud else o
        for o in base._offerings
    )
    return dataclasses.replace(
        base, _offerings=offerings, view_of=(cloud, region), _base=base, _views={}
    )


def _offering_in(
    offering: Offering, region: str, reference: str | None, regional: _Regional
) -> Offering:
    """``offering`` as it is sold in ``region``: its availability there, then its prices."""
    unavailable = None
    sizes, gpu = offering.sizes, offering.gpu
    elsewhere: dict[str, tuple[str, ...]] = {}
    where = regional.availability.get(offering.id)
    if where is not None:
        if where.regions is not None and region not in where.regions:
            unavailable = (
                f"{offering.name} is not offered in {region} "
                f"(it is in {', '.join(where.regions)}; {where.source})"
            )
        elsewhere = {n: r for n, r in where.gpu.items() if region not in r}
        if elsewhere:
            sizes = tuple(s for s in sizes if s.gpu is None or s.gpu not in elsewhere)
            types = tuple(t for t in gpu.types if t.name not in elsewhere)
            gpu = GpuSupport(available=gpu.available and bool(types), types=types)
        if not sizes:
            unavailable = unavailable or f"{offering.name} has no size in {region}"
            sizes = offering.sizes  # an offering keeps its sizes; the refusal says why
    view = dataclasses.replace(
        offering,
        sizes=sizes,
        gpu=gpu,
        region=region,
        unavailable=unavailable,
        gpus_elsewhere=MappingProxyType(elsewhere),
    )
    if region == reference:
        return view  # the catalog's own figures are the reference region's
    price = regional.price(offering.cloud, region, offering.id)
    if price is None:
        mark = UnverifiedMark(
            "pricing.region", f"no {region} price recorded; the {reference} prices are used"
        )
        return dataclasses.replace(view, unverified=(*view.unverified, mark))
    marks = view.unverified
    if price.unverified is not None:
        marks = (*marks, UnverifiedMark("pricing.region", f"{region}: {price.unverified}"))
    return _priced(dataclasses.replace(view, unverified=marks), price.factor)


def _priced(offering: Offering, factor: float) -> Offering:
    """``offering`` with every compute, instance and GPU price multiplied by ``factor``."""
    if factor == 1.0:
        return offering

    def scale(rates: Rates) -> Rates:
        # instance_hour multiplies the size's own price, which is scaled below
        return Rates(rates.gb_s * factor, rates.vcpu_s * factor, rates.gib_s * factor,
                     rates.instance_hour)  # fmt: skip

    p = offering.pricing
    pricing = dataclasses.replace(
        p,
        active=scale(p.active),
        idle=scale(p.idle),
        warm_idle=scale(p.warm_idle),
        warm_busy=scale(p.warm_busy),
        instance_based=scale(p.instance_based) if p.instance_based is not None else None,
        extras=MappingProxyType({k: v * factor for k, v in p.extras.items()}),
    )
    sizes = tuple(
        dataclasses.replace(s, usd_per_hour=s.usd_per_hour * factor)
        if s.usd_per_hour is not None
        else s
        for s in offering.sizes
    )
    types = tuple(
        dataclasses.replace(t, usd_per_hour=t.usd_per_hour * factor)
        if t.usd_per_hour is not None
        else t
        for t in offering.gpu.types
    )
    gpu = dataclasses.replace(offering.gpu, types=types)
    return dataclasses.replace(offering, pricing=pricing, sizes=sizes, gpu=gpu)


def _parse_regional(raw: Any, catalog: Catalog) -> _Regional:
    if not isinstance(raw, dict):
        raise CatalogError(f"{REGIONAL_NAME}: top level must be a mapping")
    offerings = {o.id: o for o in catalog.offerings()}
    availability: dict[str, _Availability] = {}
    for oid, node in (raw.get("availability") or {}).items():
        offering = offerings.get(oid)
        if offering is None:
            raise CatalogError(f"{REGIONAL_NAME}: availability of unknown offering {oid!r}")
        if not node.get("source") or not node.get("as_of"):
            raise CatalogError(f"{REGIONAL_NAME}: availability of {oid} needs source and as_of")
        regions = node.get("regions")
        gpus = {
            str(n): _regions(offering.cloud, r, oid) for n, r in (node.get("gpu") or {}).items()
        }
        for name in gpus:
            offering.gpu.get(name)  # KeyError -> a typo in the data
        availability[oid] = _Availability(
            regions=None if regions is None else _regions(offering.cloud, regions, oid),
            gpu=MappingProxyType(gpus),
            source=str(node["source"]),
        )
    prices: dict[tuple[str, str], dict[str, RegionalPrice]] = {}
    for cloud, groups in (raw.get("prices") or {}).items():
        for index, group in enumerate(groups):
            where = f"{REGIONAL_NAME}: prices.{cloud}[{index}]"
            source, as_of = group.get("source"), group.get("as_of")
            if not source or not as_of:
                raise CatalogError(f"{where}: a price group needs source and as_of")
            for key, value in (group.get("factors") or {}).items():
                if key != "*" and getattr(offerings.get(key), "cloud", None) != cloud:
                    raise CatalogError(f"{where}: {key!r} is not a {cloud} offering")
                price = _regional_price(value, str(source), str(as_of), f"{where}.{key}")
                for region in _regions(cloud, group.get("regions"), where):
                    factors = prices.setdefault((cloud, region), {})
                    if key in factors:
                        raise CatalogError(f"{where}: {key} priced twice in {region}")
                    factors[key] = price
    return _Regional(
        availability=MappingProxyType(availability),
        prices=MappingProxyType({k: MappingProxyType(v) for k, v in prices.items()}),
    )


def _regions(cloud: str, node: Any, where: str) -> tuple[str, ...]:
    known = cloud_regions(cloud).names
    if not isinstance(node, list) or not node:
        raise CatalogError(f"{REGIONAL_NAME}: {where}: expected a list of regions")
    unknown = [r for r in node if r not in known]
    if unknown:
        raise CatalogError(f"{REGIONAL_NAME}: {where}: unknown {cloud} regions {unknown}")
    return tuple(str(r) for r in node)


def _regional_price(node: Any, source: str, as_of: str, where: str) -> RegionalPrice:
    marks: list[UnverifiedMark] = []
    value = _unwrap(node, where, marks)
    factor = _num({"factor": value}, "factor", where)
    if factor <= 0:
        raise CatalogError(f"{where}: a price factor must be positive")
    return RegionalPrice(factor, source, as_of, marks[0].note if marks else None)
