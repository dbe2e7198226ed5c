"""What one release costs on top of the month: the capacity the previous version keeps meanwhile.

A monthly bill prices the deployment as it runs between releases. While a canary or blue/green
release is in progress some offerings run two fleets: the cloud's own blue/green update
provisions a new fleet beside the live one, or the previous version's deployment, variant or
revision keeps its instances while traffic is split. That capacity is paid once per release, so
it is priced per release (:class:`ReleaseCost`), never folded into the month: the spec declares
no release cadence to turn it into one.

How an offering holds the previous version (:data:`Held`) is a catalog fact, its
``builds.offerings.<offering>.release_fleet``; how long it holds it comes from the plan's rollout:

* ``blue-green``: the cloud's blue/green update runs the shift itself (a native shift,
  :func:`svai.compiler.gate.native_shift`): a new fleet as large as the live one is up for every
  baking period (one per step: one for all-at-once and canary, one per linear step) plus the
  termination wait, each one interval long, as the backend declares them. Steps it cannot run
  fall back to ``while-split``.
* ``while-split``: the previous version's fleet keeps its instances at every stage of the
  release that keeps it (:func:`svai.compiler.rollout.stages`), a 0% standby included.
* ``while-routed``: the previous revision keeps its minimum instances only while it takes a
  share of the traffic (a 0% standby keeps none).

Each stage lasts one ``rollout.interval``: the gate job (or a person) advances the release once
its interval has passed and the gates hold. Instances are the fleet as provisioned: an
instance-priced endpoint keeps at least one, a scale-to-zero service its minimum (warm) ones.
A fleet autoscaling has grown when the release starts is doubled as it stands, so the figure is
a floor then. They are priced at the offering's catalog rate for an instance kept alive: the
fleet rate of an always-on offering, the warm idle rate (GPU included) of the others.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from svai.compiler import gate
from svai.compiler.builds import Held
from svai.compiler.catalog import Catalog, Offering, Size
from svai.compiler.formatting import format_usd
from svai.compiler.rollout import stages
from svai.ir import Compute, Rollout, Service

__all__ = [
    "NO_RELEASE_COST",
    "Held",
    "ReleaseCost",
    "ReleaseLine",
    "guardrail_window_s",
    "held_s",
    "line_text",
    "per_release_lines",
    "release_cost",
]


_WHAT: Mapping[str, str] = {
    "blue-green": "new fleet beside the live one (blue/green update)",
    "while-split": "previous version's fleet while the release keeps it",
    "while-routed": "previous revision's minimum instances while it takes traffic",
}


@dataclass(frozen=True, slots=True)
class ReleaseLine:
    """The second fleet of one service during one release.

    Attributes:
        service: The plan's service (``api``, ``worker``).
        held: How the release holds it (:data:`Held`).
        what: The same in words.
        instances: Instances of the second fleet.
        size: The instance type, or the sizing where the offering has none.
        hours: How long the release holds them.
        usd_per_instance_hour: The catalog's rate of one of them.
    """

    service: str
    held: Held
    what: str
    instances: int
    size: str
    hours: float
    usd_per_instance_hour: float

    @property
    def usd(self) -> float:
        """Instances × hours × the rate."""
        return self.instances * self.hours * self.usd_per_instance_hour


@dataclass(frozen=True, slots=True)
class ReleaseCost:
    """What one release costs beside the month: one line per service that keeps two fleets.

    Attributes:
        usd: The total of one release.
        lines: The priced second fleets, by service name.
    """

    usd: float
    lines: tuple[ReleaseLine, ...]


NO_RELEASE_COST = ReleaseCost(0.0, ())
"""A release that keeps no second fleet (all-at-once, or offerings that keep none)."""


def guardrail_window_s(shift: gate.Shift) -> float:
    """How long a cloud's blue/green update keeps the new fleet beside the live one.

    Every baking period (one for an all-at-once switch and for a canary step, one per linear
    step) and the termination wait after the last one; each lasts ``shift.minutes``, as
    :func:`svai.backends.aws.deployments.endpoint_deployment_config` declares them.
    """
    wait_s = shift.minutes * 60.0
    bakes = 100 // shift.percent if shift.kind == "linear" else 1
    return bakes * wait_s + wait_s


def held_s(rollout: Rollout, *, routed_only: bool = False) -> float:
    """How long a release with ``rollout`` keeps the previous version beside the new one.

    One interval per stage that keeps it; with ``routed_only``, only the stages where it still
    takes a share of the traffic.
    """
    kept = [
        stage
        for stage in stages(rollout.strategy, rollout.steps)
        if stage.keep_previous and (not routed_only or stage.percent < 100)
    ]
    return len(kept) * rollout.interval_s


def release_cost(services: Iterable[Service], rollout: Rollout, catalog: Catalog) -> ReleaseCost:
    """Price the second fleets one release of ``rollout`` keeps up.

    Args:
        services: The services that run the model.
        rollout: The plan's rollout (strategy, steps, interval).
        catalog: The catalog, as seen from the plan's region; an offering without a
            ``release_fleet`` keeps no second fleet.
    """
    held = catalog.builds.release_fleets
    lines = []
    for service in services:
        how = held.get(service.compute.offering)
        if how is None:
            continue
        line = _line(service, how, rollout, catalog.get(service.compute.offering))
        if line.usd > 0:
            lines.append(line)
    lines.sort(key=lambda line: line.service)
    return ReleaseCost(sum(line.usd for line in lines), tuple(lines))


def _line(service: Service, how: Held, rollout: Rollout, offering: Offering) -> ReleaseLine:
    compute = service.compute
    shift = gate.native_shift(rollout) if gate.automatic(rollout) else None
    if how == "blue-green" and shift is not None:
        window_s = guardrail_window_s(shift)
    else:
        if how == "blue-green":  # steps the cloud cannot run: the gate job weighs two variants
            how = "while-split"
        window_s = held_s(rollout, routed_only=how == "while-routed")
    always_on = offering.pricing.billing == "always_on"
    instances = max(1, compute.min_instances) if always_on else compute.min_instances
    size = _size(offering, compute)
    return ReleaseLine(
        service=service.name,
        held=how,
        what=_WHAT[how],
        instances=instances,
        size=_label(compute),
        hours=window_s / 3600.0,
        usd_per_instance_hour=_kept_rate_per_s(offering, size) * 3600.0,
    )


def _size(offering: Offering, compute: Compute) -> Size:
    """The catalog size ``compute`` runs: its instance type's, else its memory and CPU."""
    for size in offering.sizes:
        if compute.instance_type is not None and size.name == compute.instance_type:
            return size
    return Size(
        memory_mb=compute.memory_mb,
        vcpu=compute.vcpu,
        gpu=compute.gpu_type,
        gpu_count=compute.gpu_count if compute.gpu_type else 0,
    )


def _label(compute: Compute) -> str:
    if compute.instance_type:
        return compute.instance_type
    gpu = f", {compute.gpu_count}× {compute.gpu_type}" if compute.gpu_type else ""
    return f"{compute.vcpu:g} vCPU, {compute.memory_mb:,} MB{gpu}"


def _kept_rate_per_s(offering: Offering, size: Size) -> float:
    """USD per second of one instance of ``size`` kept alive, as the cost model bills it."""
    pricing = offering.pricing
    if pricing.billing == "always_on":
        rates = pricing.active
    elif size.gpu is not None and pricing.instance_based is not None:
        rates = pricing.instance_based  # a GPU size bills the instance's whole life
    else:
        rates = pricing.warm_idle
    return rates.per_second(size) + offering.gpu_usd_per_s(size)


# ---- as people read it ------------------------------------------------------------------------


def line_text(line: ReleaseLine) -> str:
    """``api: new fleet beside the live one (...), 1× ml.g5.xlarge for 1 h at $1.41/h: $1.41``."""
    return (
        f"{line.service}: {line.what}, {line.instances}× {line.size} for "
        f"{_duration(line.hours)} at {format_usd(line.usd_per_instance_hour)}/h: "
        f"{format_usd(line.usd)}"
    )


def per_release_lines(cost: ReleaseCost, indent: str) -> list[str]:
    """The per-release figure for ``svai plan``'s text: the total, then one line per fleet."""
    head = f"{indent}per release: {format_usd(cost.usd)} (each canary or blue/green release)"
    return [head, *(f"{indent}  {line_text(line)}" for line in cost.lines)]


def _duration(hours: float) -> str:
    return f"{hours:.3g} h" if hours >= 1 else f"{hours * 60:.3g} min"
