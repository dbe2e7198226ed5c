"""Units as people write them: ``250ms``, ``10m``, ``7d``, ``512MiB``, ``2GB``, ``256KB``, ``16Gi``.

Each quantity has one regular expression (also published in the JSON Schema, so editors and
``jsonschema`` agree with svai) and one parser that returns plain SI numbers: seconds for
durations, bytes for sizes. A bare number is refused: ``timeout: 30`` could be seconds or
milliseconds, and guessing is how outages start.
"""

from __future__ import annotations

import re

__all__ = [
    "DURATION_PATTERN",
    "SIZE_PATTERN",
    "UnitError",
    "format_bytes",
    "format_seconds",
    "parse_duration",
    "parse_size",
    "quote",
]


def quote(text: str, limit: int = 60) -> str:
    """Show user text in a one-line message: in backticks, or its ``repr`` if it has odd characters.

    Long text is cut to ``limit`` characters, so a hostile megabyte scalar stays a short message.
    """
    cut = text if len(text) <= limit else text[:limit] + "..."
    if cut.isprintable() and "`" not in cut:
        return f"`{cut}`"
    return repr(cut)


class UnitError(ValueError):
    """A quantity that does not parse; the message says what a valid one looks like."""


_DURATION_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_SIZE_UNITS: dict[str, int] = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "TiB": 1024**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}

_NUMBER = r"(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,6})?"
DURATION_PATTERN = rf"^{_NUMBER} ?(?:ms|s|min|m|h|d)$"
SIZE_PATTERN = rf"^{_NUMBER} ?(?:B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|Ki|Mi|Gi|Ti)$"

_DURATION_RE = re.compile(rf"^({_NUMBER}) ?(ms|s|min|m|h|d)$")
_SIZE_RE = re.compile(rf"^({_NUMBER}) ?(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|Ki|Mi|Gi|Ti)$")
_CASE_SLIPS = {unit.lower(): unit for unit in _SIZE_UNITS}


def parse_duration(text: str) -> float:
    """Parse a duration such as ``250ms``, ``1.5s``, ``10m``, ``2h`` or ``7d`` into seconds.

    Raises:
        UnitError: the text is not a number followed by one of ms, s, m/min, h, d.
    """
    match = _DURATION_RE.fullmatch(text)
    if match is None:
        raise UnitError(
            f"{quote(text)} is not a duration; write a number and a unit: ms, s, m, h or d "
            "(for example 250ms, 30s, 10m, 7d)"
        )
    return float(match[1]) * _DURATION_UNITS[match[2]]


def parse_size(text: str) -> int:
    """Parse a size such as ``256KB``, ``512MiB``, ``2GB`` or ``16Gi`` into bytes.

    KB/MB/GB are decimal (1000), KiB/MiB/GiB and the Kubernetes forms Ki/Mi/Gi are binary (1024).

    Raises:
        UnitError: the text is not a number followed by a known size unit.
    """
    stripped = text.strip()
    match = _SIZE_RE.fullmatch(text)
    if match is None:
        unit = re.sub(r"^[0-9. ]+", "", stripped)
        slip = _CASE_SLIPS.get(unit.lower())
        hint = f" (did you mean {slip}?)" if slip and slip != unit else ""
        raise UnitError(
            f"{quote(text)} is not a size{hint}; write a number and a unit: B, KB, MB, GB, "
            "KiB, MiB, GiB or Ki, Mi, Gi (for example 256KB, 512MiB, 2GB)"
        )
    return round(float(match[1]) * _SIZE_UNITS[match[2]])


def format_seconds(seconds: float) -> str:
    """Render seconds the way people read them: ``250ms``, ``1.5s``, ``10m``, ``7d``."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    for unit, factor in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= factor and (seconds / factor).is_integer():
            return f"{seconds / factor:g}{unit}"
    return f"{seconds:g}s"


def format_bytes(size: int) -> str:
    """Render bytes with a binary unit: ``512MiB``, ``1.5GiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:g}{unit}"
        value /= 1024
    return f"{value:g}TiB"
