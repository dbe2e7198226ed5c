"""Suite-wide settings that keep generated output reproducible."""

from __future__ import annotations

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
