"""The gate job moves the split it decided through each cloud's own module.

Each cloud whose traffic svai's gate job routes has a module named after it in this package
(:mod:`svai.controller.aws`, :mod:`svai.controller.gcp`, :mod:`svai.controller.azure`):

* ``route(moved, sleep)``: set one exported service's split (:class:`~svai.controller.revisions.
  Moved`), through the cloud's documented API; what was set.
* ``UP_ROUTES_SERVICES``: whether ``pulumi up`` sets the services' split itself (then
  ``svai apply`` does not route them after it).
* ``move_regions(state, regions)``: where the cloud routes per target region rather than per
  exported service (:attr:`svai.backends.cloud.Cloud.gate_routes` ``aliases``), what was set.
* ``deactivate(resource, idle)``: where a move reports idle revisions, retire them once the
  release ended.

The backend that routes aliases marks their split ``ignore_changes`` where a gate job owns
them, so ``svai apply`` moves them through :func:`move` too instead of undoing the job's work.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from types import ModuleType
from typing import Protocol

from svai.compiler.release_state import ReleaseState
from svai.spec.clouds import CLOUDS

__all__ = ["Routed", "cloud_module", "move", "routes_aliases", "up_routes_services"]


class Routed(Protocol):
    """Something a move set: it says so in one line."""

    def line(self) -> str:
        """What was set, for people."""
        ...


def cloud_module(cloud: str) -> ModuleType | None:
    """``svai.controller.<cloud>``, the gate job's routes on ``cloud``; ``None``: it has none."""
    name = f"svai.controller.{cloud}"
    if cloud not in CLOUDS or importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


def routes_aliases(cloud: str) -> bool:
    """Whether the gate job routes ``cloud`` per target region (its functions' aliases)."""
    from svai.backends.registry import cloud as cloud_named

    return cloud_named(cloud).gate_routes == "aliases"


def up_routes_services(cloud: str) -> bool:
    """Whether ``pulumi up`` set the split of ``cloud``'s routed services itself."""
    module = cloud_module(cloud)
    return module is not None and bool(module.UP_ROUTES_SERVICES)


def move(state: ReleaseState, targets: Sequence[tuple[str, str]]) -> tuple[Routed, ...]:
    """Route ``state``'s split in every ``(cloud, region)`` target routed per region.

    Raises:
        UsageError: the state lacks what a route needs (the message names it).
        svai.errors.ToolMissingError: no credentials for a cloud.
        svai.errors.DeployError: a cloud refused a change (the message names the resource).
    """
    regions: dict[str, list[str]] = {}
    for cloud, region in targets:
        if routes_aliases(cloud):
            regions.setdefault(cloud, []).append(region)
    moved: list[Routed] = []
    for cloud, where in regions.items():
        module = cloud_module(cloud)
        if module is not None:
            moved.extend(module.move_regions(state, where))
    return tuple(moved)
