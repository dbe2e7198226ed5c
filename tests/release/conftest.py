"""Shared fixtures of the release tests: a small project whose model can be swapped A -> B."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.release.projects import Project, write_project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """Return a function writing a project under ``tmp_path`` (see :func:`write_project`)."""

    def make(**options: object) -> Path:
        return write_project(tmp_path / "project", **options)  # type: ignore[arg-type]

    return make
