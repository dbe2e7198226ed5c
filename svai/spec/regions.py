"""The regions of each cloud, and the validate-time check that every target names a real one.

The list is versioned data (``svai/spec/regions.yaml``, with sources and a date). A region that
is spelled like a region but is not one (``us-est-1``, ``eu-wset-1``, ``us-centrall1``) passes
the per-cloud pattern of :mod:`svai.spec.model`; :func:`unknown_regions` reports it at the
field, with the closest real region as the suggestion, so it fails ``svai validate`` instead of
the deploy. The compiler reads prices and availability per region from its own catalog; this
module only knows which regions exist.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import yaml

from svai.spec.checks import Finding
from svai.spec.clouds import SPEC_FIELDS
from svai.spec.model import Spec

__all__ = ["CloudRegions", "cloud_regions", "unknown_regions"]

_PATH = Path(__file__).with_name("regions.yaml")


@dataclass(frozen=True, slots=True)
class CloudRegions:
    """The regions of one cloud.

    Attributes:
        cloud: A name in :data:`svai.spec.clouds.CLOUDS`.
        default: The region svai's reference prices are for.
        names: Region code -> the provider's display name, in file order.
        sources: Where the list comes from.
        note: What the sources cover.
    """

    cloud: str
    default: str
    names: Mapping[str, str]
    sources: tuple[str, ...]
    note: str

    def suggest(self, region: str) -> tuple[str, ...]:
        """Return the real regions closest to ``region`` (ties kept), if close enough for a typo."""
        close = difflib.get_close_matches(region, list(self.names), n=3, cutoff=0.75)
        if not close:
            return ()
        best = _similarity(region, close[0])
        return tuple(c for c in close if _similarity(region, c) == best)


def _similarity(left: str, right: str) -> float:
    return difflib.SequenceMatcher(None, left, right).ratio()


def cloud_regions(cloud: str) -> CloudRegions:
    """Return the regions of ``cloud``.

    Raises:
        KeyError: svai knows no such cloud.
    """
    return _load()[cloud]


def unknown_regions(spec: Spec) -> list[Finding]:
    """Return a finding for every target whose region its cloud does not have."""
    findings: list[Finding] = []
    for index, target in enumerate(spec.targets):
        if target.cloud not in _load():
            continue  # a cloud whose regions are its users' own (a cluster's contexts)
        regions = cloud_regions(target.cloud)
        if target.region in regions.names:
            continue
        close = regions.suggest(target.region)
        if close:
            hint = "did you mean " + " or ".join(f"`{c}` ({regions.names[c]})" for c in close) + "?"
        else:
            hint = f"{target.cloud} regions include {', '.join(list(regions.names)[:6])}, ..."
        findings.append(
            Finding(
                ("targets", index, "region"),
                f"`{target.region}` is not {SPEC_FIELDS[target.cloud].named} region",
                hint,
            )
        )
    return findings


@functools.cache
def _load() -> Mapping[str, CloudRegions]:
    with open(_PATH, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    clouds = {}
    for cloud, node in raw["clouds"].items():
        names = {str(code): str(name) for code, name in node["regions"].items()}
        if node["default"] not in names:
            raise ValueError(f"{_PATH}: {cloud} default {node['default']!r} is not in its list")
        clouds[cloud] = CloudRegions(
            cloud=cloud,
            default=str(node["default"]),
            names=MappingProxyType(names),
            sources=tuple(str(s) for s in node["sources"]),
            note=str(node.get("note", "")),
        )
    return MappingProxyType(clouds)
