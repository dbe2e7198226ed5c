"""Lock an artifact's requirements: the pins, then everything they need, for the target's Python.

``requirements.txt`` names the runtime's packages and the spec's ``model.requirements``; left at
that, pip would choose their dependencies when the image, zip or environment is built, and two
builds of the same spec could ship different code. ``lock`` appends the transitive closure,
each package pinned, resolved here and without the package index:

* a package's dependencies come from its metadata (``Requires-Dist``), from the distribution
  installed here when its version is the one pinned, else from a wheel of that version in the
  local wheelhouse (``<cache>/wheels``, the one ``svai serve`` fills);
* each ``Requires-Dist`` marker is evaluated for the target (CPython ``python`` on Linux x86_64,
  what every svai package runs on), with the extras that were asked for, so a dependency only
  another Python or platform needs is left out;
* an unpinned dependency takes the version installed here when it satisfies every requirement
  on it (the version svai was tested with), else the newest satisfying wheel in the wheelhouse;
  one found in neither stays a plain requirement with a comment saying so, for pip to resolve.

The output depends only on the pins, the target Python, and what is installed here and in the
wheelhouse: the same inputs give a byte-identical file.
"""

from __future__ import annotations

import email.parser
import importlib.metadata
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from svai.errors import UsageError

__all__ = ["lock", "target_environment"]

LOCK_HEADER = "# Locked by svai build: what the pins above need"


@dataclass(frozen=True, slots=True)
class _Dist:
    """One distribution's name, version and dependencies, wherever its metadata was read."""

    name: str
    version: Version
    requires: tuple[str, ...]
    requires_python: str


def target_environment(python: str) -> dict[str, str]:
    """The marker environment (PEP 508) of CPython ``python`` ("3.12") on Linux x86_64."""
    full = python if python.count(".") >= 2 else f"{python}.0"
    return {
        "implementation_name": "cpython",
        "implementation_version": full,
        "os_name": "posix",
        "platform_machine": "x86_64",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": full,
        "python_version": ".".join(full.split(".")[:2]),
        "sys_platform": "linux",
    }


def lock(requirements: str, python: str, wheelhouse: Path | None) -> str:
    """Return ``requirements`` with its transitive closure appended, pinned, for ``python``.

    Lines without an exact pin (``name  # not installed here …``) are kept and not followed.

    Raises:
        UsageError: a pin whose metadata is neither installed here nor in the wheelhouse, or
            two requirements on one package that no available version satisfies.
    """
    environment = target_environment(python)
    wheels = _wheel_index(wheelhouse)
    top: dict[str, Requirement] = {}
    for line in requirements.splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        requirement = Requirement(text)
        if _exact(requirement) is not None:
            top[canonicalize_name(requirement.name)] = requirement
    chosen: dict[str, _Dist] = {}
    constraints: dict[str, list[tuple[Requirement, str]]] = {}
    extras: dict[str, set[str]] = {}
    via: dict[str, set[str]] = {}
    unresolved: dict[str, list[str]] = {}
    queue: list[tuple[Requirement, str]] = [(r, "") for _, r in sorted(top.items())]
    while queue:
        requirement, parent = queue.pop(0)
        name = canonicalize_name(requirement.name)
        constraints.setdefault(name, []).append((requirement, parent))
        if parent:
            via.setdefault(name, set()).add(parent)
        wanted = extras.setdefault(name, set())
        known = chosen.get(name)
        if known is not None:
            if known.version not in requirement.specifier:
                raise UsageError(_conflict(name, known.version, constraints[name]))
            if set(requirement.extras) <= wanted:
                continue
        wanted.update(requirement.extras)
        if known is None:
            found = _choose(name, [r for r, _ in constraints[name]], wheels)
            if found is None:
                if name in top:
                    raise UsageError(
                        f"cannot lock {top[name]}: it is not installed here and no wheel of it "
                        f"is in {wheelhouse}; install it, or run `pip download --no-deps "
                        f"{top[name]} -d {wheelhouse}`"
                    )
                unresolved.setdefault(name, []).append(str(requirement.specifier))
                continue
            if found.requires_python and not SpecifierSet(found.requires_python).contains(
                environment["python_full_version"], prereleases=True
            ):
                raise UsageError(
                    f"cannot lock {found.name}=={found.version} for Python {python}: it requires "
                    f"Python {found.requires_python}"
                )
            known = chosen[name] = found
        for text in known.requires:
            dependency = Requirement(text)
            if _applies(dependency, environment, wanted):
                dependency.marker = None
                queue.append((dependency, name))
    lines = requirements.rstrip("\n").split("\n")
    locked = sorted(key for key in chosen if key not in top)
    missing = sorted(key for key in unresolved if key not in chosen)
    if locked or missing:
        lines.append(f"{LOCK_HEADER}, for CPython {python} on Linux x86_64.")
    for key in locked:
        parents = ", ".join(sorted(via.get(key, ())))
        lines.append(f"{chosen[key].name}=={chosen[key].version}  # via {parents}")
    for key in missing:
        spec = ",".join(sorted({s for s in unresolved[key] if s}))
        lines.append(f"{key}{spec}  # not installed here nor in the wheelhouse: pip resolves it")
    return "\n".join(lines) + "\n"


def _exact(requirement: Requirement) -> Version | None:
    specifiers = list(requirement.specifier)
    if len(specifiers) != 1 or specifiers[0].operator != "==" or "*" in specifiers[0].version:
        return None
    return Version(specifiers[0].version)


def _applies(requirement: Requirement, environment: Mapping[str, str], extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    # A marker without "extra" is evaluated once with extra "", which never matches an extra.
    return any(
        requirement.marker.evaluate({**environment, "extra": extra})
        for extra in sorted(extras | {""})
    )


def _choose(
    name: str, wanted: Iterable[Requirement], wheels: Mapping[str, list[Path]]
) -> _Dist | None:
    """The installed distribution when it satisfies ``wanted``, else the newest such wheel."""
    specifier = SpecifierSet()
    for requirement in wanted:
        specifier &= requirement.specifier
    installed = _installed(name)
    if installed is not None and specifier.contains(installed.version, prereleases=True):
        return installed
    candidates = []
    for wheel in wheels.get(name, ()):
        version = _wheel_version(wheel)
        if version is not None and specifier.contains(version, prereleases=True):
            candidates.append((version, wheel.name, wheel))
    if not candidates:
        return None
    return _from_wheel(max(candidates)[2])


def _installed(name: str) -> _Dist | None:
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    return _Dist(
        name=dist.metadata["Name"],
        version=Version(dist.version),
        requires=tuple(dist.requires or ()),
        requires_python=dist.metadata["Requires-Python"] or "",
    )


_WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


def _wheel_index(wheelhouse: Path | None) -> dict[str, list[Path]]:
    index: dict[str, list[Path]] = {}
    if wheelhouse is None or not wheelhouse.is_dir():
        return index
    for wheel in sorted(wheelhouse.glob("*.whl")):
        match = _WHEEL_NAME.match(wheel.name)
        if match:
            index.setdefault(canonicalize_name(match["name"]), []).append(wheel)
    return index


def _wheel_version(wheel: Path) -> Version | None:
    match = _WHEEL_NAME.match(wheel.name)
    try:
        return Version(match["version"]) if match else None
    except InvalidVersion:
        return None


def _from_wheel(wheel: Path) -> _Dist:
    with zipfile.ZipFile(wheel) as archive:
        member = next(
            n for n in sorted(archive.namelist())
            if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        )  # fmt: skip
        metadata = email.parser.Parser().parsestr(archive.read(member).decode("utf-8"))
    return _Dist(
        name=str(metadata["Name"]),
        version=Version(str(metadata["Version"])),
        requires=tuple(str(r) for r in metadata.get_all("Requires-Dist") or ()),
        requires_python=str(metadata.get("Requires-Python") or ""),
    )


def _conflict(name: str, version: Version, wanted: list[tuple[Requirement, str]]) -> str:
    who = "; ".join(f"{parent or 'requirements.txt'} needs {r}" for r, parent in wanted)
    return f"cannot lock {name}: {version} was chosen, but {who}"
