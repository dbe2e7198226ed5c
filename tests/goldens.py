"""Golden files: one comparison and one refresh flag for every golden the tests keep.

A golden is compared byte for byte. ``SVAI_UPDATE_GOLDEN=1`` rewrites it from the current output
(review the diff before committing); without the flag a missing golden fails the test, so a
deleted golden can never be silently recreated from the code under test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FLAG = "SVAI_UPDATE_GOLDEN"


def updating() -> bool:
    """Whether this run rewrites goldens (``SVAI_UPDATE_GOLDEN=1``)."""
    return os.environ.get(FLAG) == "1"


def check_golden(path: Path, actual: str) -> None:
    """Compare ``actual`` with the golden file at ``path``, or rewrite it under the flag."""
    if updating():
        path.write_text(actual, encoding="utf-8")
    if not path.exists():
        pytest.fail(f"{path} is missing; run with {FLAG}=1 to create it")
    assert actual == path.read_text(encoding="utf-8"), (
        f"{path.name} differs from its golden file; if intended, refresh with {FLAG}=1"
    )
