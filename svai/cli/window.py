"""``--window`` / ``--since``: how far back the live commands read, as a spec duration."""

from __future__ import annotations

from svai.errors import UsageError
from svai.spec.units import UnitError, parse_duration

__all__ = ["window_seconds"]


def window_seconds(text: str, option: str = "--window") -> int:
    """Whole seconds of a duration such as ``15m`` or ``1h`` (at least one second).

    Raises:
        svai.errors.UsageError: not a duration, or under one second.
    """
    try:
        seconds = parse_duration(text)
    except UnitError as exc:
        raise UsageError(f"{option}: {exc}") from None
    if seconds < 1:
        raise UsageError(f"{option}: {text} is under one second")
    return round(seconds)
