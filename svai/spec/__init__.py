"""``svai.spec``: the first stage of the pipeline — read ``svai.yaml`` into a validated spec.

``load_spec`` reads a file safely and raises :class:`svai.errors.SpecError` with every located
problem; ``resolve`` fills defaults and normalises units into a frozen :class:`ResolvedSpec`,
which is all the compiler reads.
"""

from svai.spec.load import load_spec, load_spec_text
from svai.spec.model import Spec
from svai.spec.resolve import ResolvedSpec, ResolvedTarget, resolve
from svai.spec.schema import json_schema, render_schema

__all__ = [
    "ResolvedSpec",
    "ResolvedTarget",
    "Spec",
    "json_schema",
    "load_spec",
    "load_spec_text",
    "render_schema",
    "resolve",
]
