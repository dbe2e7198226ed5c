"""Suite-wide settings that keep generated output reproducible."""

from __future__ import annotations

import fnmatch
import os
import tomllib
from collections.abc import Iterator

import pytest

# Azure budgets start in the current month unless SOURCE_DATE_EPOCH pins "now" (reproducible
# builds convention); GCP budgets need a billing account, which svai reads from the environment.
PINNED_ENV = {
    "SOURCE_DATE_EPOCH": "1798761600",  # 2027-01-01T00:00:00Z
    "SVAI_GCP_BILLING_ACCOUNT": "000000-AAAAAA-000000",
}


@pytest.fixture(autouse=True, scope="session")
def _reproducible_environment() -> Iterator[None]:
    # Session scope: module-scoped fixtures (golden plans) run before function-scoped ones.
    with pytest.MonkeyPatch.context() as patch:
        for name, value in PINNED_ENV.items():
            patch.setenv(name, value)
        yield


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``make mutate``, run a mutant against only the tests named for its module.

    mutmut runs each mutant against every selected test that called the mutated function, and a
    rule engine is also called by the release tests' whole compiles (seconds each, where a rule
    test takes milliseconds). ``[tool.svai.mutate.tests]`` in ``pyproject.toml`` names, per mutant
    name pattern, the test paths that judge it; other tests are deselected for that mutant only.
    """
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    if "__mutmut_" not in mutant:  # a plain run, or mutmut's stats, clean or forced-fail run
        return
    pyproject = tomllib.loads((config.rootpath / "pyproject.toml").read_text(encoding="utf-8"))
    scopes: dict[str, list[str]] = pyproject["tool"]["svai"]["mutate"].get("tests", {})
    paths = [
        path
        for pattern, named in scopes.items()
        if fnmatch.fnmatch(mutant, pattern)
        for path in named
    ]
    if not paths:
        return
    kept = [item for item in items if item.nodeid.startswith(tuple(paths))]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept
