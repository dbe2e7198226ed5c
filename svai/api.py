"""``svai.api``: the library entry points; each CLI command calls exactly one of these.

Library users call the same functions::

    from svai import api
    spec = api.validate("svai.yaml")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from svai.spec import ResolvedSpec, Spec, load_spec, resolve

__all__ = ["LoadedSpec", "validate"]


@dataclass(frozen=True, slots=True)
class LoadedSpec:
    """A validated spec, its resolved form, and the folder its relative paths resolve against."""

    path: Path
    spec: Spec
    resolved: ResolvedSpec

    @property
    def base_dir(self) -> Path:
        """The folder holding the spec file."""
        return self.path.resolve().parent


def validate(path: str | Path) -> LoadedSpec:
    """Load, validate and resolve the spec at ``path``.

    Raises:
        svai.errors.SpecError: with every located problem.
    """
    spec = load_spec(path)
    return LoadedSpec(Path(path), spec, resolve(spec))
