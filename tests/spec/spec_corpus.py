"""The spec corpus: YAML cases beside their exact expected diagnostics.

``tests/spec/cases/NAME.yaml`` is loaded as ``cases/NAME.yaml`` (relative to ``tests/spec``) and
its rendered diagnostics must equal ``NAME.expected`` byte for byte; a valid case expects an empty
file. ``SVAI_UPDATE_GOLDEN=1`` rewrites the ``.expected`` files from the current output (review
the diff before committing it).
"""

from __future__ import annotations

from pathlib import Path

from svai.errors import SpecError
from svai.spec import Spec, load_spec

ROOT = Path(__file__).parent
CASES = ROOT / "cases"
CASE_FILES = sorted(CASES.glob("*.yaml"))


def relative(case: Path) -> str:
    """Return the case's path as the diagnostics name it: ``cases/NAME.yaml``."""
    return case.relative_to(ROOT).as_posix()


def load_case(case: Path) -> Spec | SpecError:
    """Load ``case`` from ``tests/spec`` (the caller chdirs there); return the spec or the error."""
    try:
        return load_spec(relative(case))
    except SpecError as error:
        return error


def render(result: Spec | SpecError) -> str:
    """Render a load result the way the ``.expected`` files hold it."""
    if isinstance(result, SpecError):
        return "\n".join(d.render() for d in result.diagnostics) + "\n"
    return ""


READING_ONLY = frozenset(
    {
        "file-not-found",
        "file-unreadable",
        "file-too-large",
        "encoding",
        "invalid-character",
        "yaml-syntax",
        "multiple-documents",
        "unsafe-tag",
        "too-deep",
        "alias-bomb",
        "empty-file",
        "duplicate-key",
        "merge-key",
        "invalid-key",
        "invalid-number",
    }
)
"""Codes of refusals made while reading the text: no data reaches either validator."""

CODES = READING_ONLY | frozenset(
    {
        # validating the data
        "wrong-type",
        "unknown-field",
        "missing-field",
        "invalid-value",
        "bad-unit",
        "out-of-range",
        "invalid-length",
        "cross-field",
        "secret-value",
        # a region its cloud does not have (svai/spec/regions.yaml)
        "unknown-region",
        # the files it names, on disk (tests/test_path_policy.py)
        "path-escapes",
        # a local model svai cannot serve (tests/runtimes/test_formats_*.py)
        "model-unservable",
        # a drift feature the request schema does not have (tests/drift/test_spec.py)
        "unknown-feature",
    }
)
"""Every diagnostic code the spec loader emits; ``docs/spec.md`` documents each one."""

SEMANTIC_ONLY = frozenset({"cross-field", "secret-value", "unknown-region"})
"""Checks on valid-shaped data that JSON Schema cannot express (pydantic validators).

``cross-field`` alone always means the schema accepts the data. ``secret-value`` is reported
instead of the reference's name pattern, so the schema may still refuse such a value (when it
also breaks the pattern, like ``Zx8#qL2!...``) or accept it (``AKIAIOSFODNN7EXAMPLE``).
``unknown-region`` is a region spelled like one (the schema checks the spelling) that the cloud
does not have.
"""

PYDANTIC_ONLY = READING_ONLY | SEMANTIC_ONLY
"""Everything that ``jsonschema`` on the parsed data cannot report."""
