"""Live drift summaries: the runtime's ``drift`` lines of one version, read back and added up.

Each serving instance writes one line per window (:mod:`svai.runtime.core.drift`) with its
counts per bin; windows never overlap, so the lines of every instance and target in a time
window add up to that window's summary. The lines are read with the same log readers as
``svai logs`` (:mod:`svai.signals.logs`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from svai.compiler.drift import DriftReport, compare, read_baseline
from svai.signals.logs import LogLine, LogQuery, read_logs
from svai.signals.model import Window
from svai.spec.resolve import ResolvedSpec

__all__ = ["MAX_LINES", "live_drift", "live_drift_evidence", "live_summaries", "merge"]

MAX_LINES = 10_000
"""Most drift lines read per target (a week of one-minute windows from one instance)."""


def merge(lines: Iterable[LogLine]) -> dict[str, Any]:
    """Add up the ``drift`` lines: per path ``bins``, ``count``, ``sum``; ``_samples`` in all."""
    merged: dict[str, Any] = {"_samples": 0, "_lines": 0}
    for line in lines:
        fields = line.fields
        if fields.get("message") != "drift":
            continue
        merged["_lines"] += 1
        merged["_samples"] += int(fields.get("drift_samples") or 0)
        summaries = dict(fields.get("features") or {})
        prediction = fields.get("prediction")
        if isinstance(prediction, dict) and prediction.get("name"):
            summaries[str(prediction["name"])] = prediction
        for name, summary in summaries.items():
            if not isinstance(summary, dict) or not isinstance(summary.get("bins"), list):
                continue
            into = merged.setdefault(
                name, {"bins": [0] * len(summary["bins"]), "count": 0, "sum": 0.0}
            )
            if len(into["bins"]) != len(summary["bins"]):
                continue  # counted against another baseline: not comparable
            into["bins"] = [a + int(b) for a, b in zip(into["bins"], summary["bins"], strict=True)]
            into["count"] += int(summary.get("count") or 0)
            into["sum"] += float(summary.get("sum") or 0.0)
    return merged


def live_summaries(
    service: str, targets: Sequence[tuple[str, str]], version: str, window: Window
) -> dict[str, Any]:
    """The merged drift summaries of ``version`` on every ``(cloud, region)`` over ``window``.

    Raises:
        svai.errors.ToolMissingError: a target's cloud has no credentials.
        svai.errors.DeployError: a cloud failed the query.
    """
    lines: list[LogLine] = []
    for cloud, region in targets:
        query = LogQuery(
            cloud, region, service, window, version=version, limit=MAX_LINES, message="drift"
        )
        lines.extend(read_logs(query))
    return merge(lines)


def live_drift(
    spec: ResolvedSpec,
    base_dir: Path,
    targets: Sequence[tuple[str, str]],
    version: str,
    window: Window,
) -> DriftReport:
    """Judge ``version``'s live summaries on every target over ``window`` against the baseline.

    Raises:
        svai.errors.UsageError: the baseline is missing or malformed.
        svai.errors.ToolMissingError: a target's cloud has no credentials.
        svai.errors.DeployError: a cloud failed the query.
    """
    baseline = read_baseline(spec, base_dir)
    merged = live_summaries(spec.name, targets, version, window)
    where = ", ".join(f"{cloud}-{region}" for cloud, region in targets)
    source = f"live {version} on {where}, last {window.seconds}s"
    return compare(spec, baseline, summaries=merged, source=source)


def live_drift_evidence(
    spec: ResolvedSpec,
    base_dir: Path,
    targets: Sequence[tuple[str, str]],
    version: str,
    window: Window,
) -> dict[str, Any]:
    """The evidence key ``drift`` of a release step (``svai promote``); empty without drift."""
    ob = spec.observability
    if not (ob.drift_enabled and ob.drift.compared):
        return {}
    return {"drift": live_drift(spec, base_dir, targets, version, window).as_evidence(version)}
