"""Numbers as people read them in reports: milliseconds, dollars."""

from __future__ import annotations

__all__ = ["format_ms", "format_usd"]


def format_ms(ms: float) -> str:
    """Render milliseconds compactly: ``8.2 ms``, ``140 ms``, ``2.9 s``."""
    if ms >= 120_000:
        return f"{ms / 60_000:.3g} min"
    if ms >= 1000:
        return f"{ms / 1000:.3g} s"
    if ms >= 100:
        return f"{ms:.0f} ms"
    return f"{ms:.2g} ms" if ms < 10 else f"{ms:.3g} ms"


def format_usd(usd: float) -> str:
    """Render dollars with sensible precision: ``$1,234``, ``$12.40``, ``$0.0031``, ``<$0.0001``."""
    if usd >= 1000:
        return f"${usd:,.0f}"
    if usd >= 1:
        return f"${usd:,.2f}"
    if usd >= 0.0001:
        return f"${usd:.2g}"  # two significant digits, never an exponent from here up
    return "<$0.0001" if usd > 0 else "$0"
