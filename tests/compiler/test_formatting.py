"""How dollar figures read in plans, reviews and recommendations."""

from __future__ import annotations

import pytest

from svai.compiler.formatting import format_usd


@pytest.mark.parametrize(
    ("usd", "text"),
    [
        (294.39, "$294.39"),
        (1234.5, "$1,234"),
        (0.0093, "$0.0093"),
        (0.0001, "$0.0001"),
        (7.7e-07, "<$0.0001"),  # a storage line of a few kilobytes: never "$7.7e-07"
        (0.0, "$0"),
    ],
)
def test_dollars_read_without_an_exponent(usd: float, text: str) -> None:
    assert format_usd(usd) == text
