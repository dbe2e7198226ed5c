import pytest

from svai.spec.units import UnitError, format_bytes, format_seconds, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("1.5s", 1.5), ("10m", 600), ("10min", 600), ("2h", 7200), ("7d", 604800)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("256KB", 256_000),
        ("512MiB", 512 * 2**20),
        ("2GB", 2 * 10**9),
        ("16Gi", 16 * 2**30),
        ("1 B", 1),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["10", "10 parsecs", "-5s", "1e3ms", "", "5 m s", "0x10s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UnitError, match="not a duration"):
        parse_duration(text)


def test_size_case_slip_gets_a_hint() -> None:
    with pytest.raises(UnitError, match="did you mean MiB"):
        parse_size("512mib")


def test_round_trips() -> None:
    for seconds in (0.25, 1.5, 600, 7200, 604800):
        assert parse_duration(format_seconds(seconds)) == pytest.approx(seconds)
    assert format_bytes(512 * 2**20) == "512MiB"
