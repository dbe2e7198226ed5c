"""The live evidence of a release step, read from every target's cloud (``svai promote``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from svai.compiler.rollout import GateResult
from svai.signals.model import Signals, Source, Window, combine, read

__all__ = ["DEFAULT_MIN_SAMPLES", "DEFAULT_WINDOW_S", "live_evidence"]

DEFAULT_WINDOW_S = 900
"""How far back ``svai promote`` looks by default: the last 15 minutes of the step."""

DEFAULT_MIN_SAMPLES = 100
"""Requests needed before the live gates judge, when ``rollout.gates`` sets no ``min_samples``."""


def live_evidence(
    service: str,
    targets: Sequence[tuple[str, str]],
    version: str,
    window: Window,
    min_samples: int,
) -> tuple[dict[str, Any], GateResult, tuple[Signals, ...]]:
    """Read ``version``'s signals on every ``(cloud, region)`` target over ``window``.

    Returns:
        The evidence key ``live`` for :func:`svai.compiler.rollout.evaluate_gates`, the ``live_samples`` gate (a hold below ``min_samples`` requests; its
        observed text names the window and each target's count), and each target's signals.

    Raises:
        svai.errors.ToolMissingError: a target's cloud has no credentials.
        svai.errors.DeployError: a cloud failed the query.
    """
    parts = tuple(
        read(Source(cloud, region, service, version), window) for cloud, region in targets
    )
    live = combine(parts)
    counts = ", ".join(f"{p.source.cloud} {p.source.region}: {p.requests}" for p in parts)
    enough = live["requests"] >= min_samples
    gate = GateResult(
        "live_samples",
        "live",
        f">= {min_samples}",
        f"{live['requests']} requests over the last {window.seconds}s ({counts})",
        enough,
        hold=not enough,
    )
    return {"live": live}, gate, parts
