"""The result every reader returns (:class:`Signals` over a :class:`Window`) and the dispatch."""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "Reader",
    "Signals",
    "Source",
    "Window",
    "cloud_module",
    "combine",
    "queue_age",
    "read",
    "window_ending",
]


@dataclass(frozen=True, slots=True)
class Window:
    """A time window, in whole seconds since the epoch (UTC), ``start`` included, ``end`` not."""

    start: int
    end: int

    @property
    def seconds(self) -> int:
        """The window's length."""
        return self.end - self.start


def window_ending(seconds: int, end: float | None = None) -> Window:
    """The window of ``seconds`` ending now (or at ``end``), to the second."""
    last = int(time.time() if end is None else end) + 1
    return Window(last - seconds, last)


@dataclass(frozen=True, slots=True)
class Source:
    """Where one target's signals are read: the cloud, its region and the names the runtime uses.

    Attributes:
        cloud: ``aws``, ``gcp`` or ``azure``.
        region: The target's region.
        service: The deployment's name (the ``service`` the runtime writes on every line).
        version: The model version whose signals are read.
    """

    cloud: str
    region: str
    service: str
    version: str


@dataclass(frozen=True, slots=True)
class Signals:
    """One version's live signals over a window; a figure the cloud does not measure is ``None``.

    Attributes:
        source: What was read.
        window: Over which window.
        requests: Requests seen: the sample count every rate and percentile rests on.
        errors: Responses with status >= 500.
        cold_starts: Requests served by a process that had just loaded the model.
        throttles: Responses with status 429.
        p50_s: Median latency, seconds.
        p95_s: 95th percentile latency, seconds.
        p99_s: 99th percentile latency, seconds.
        queue_age_s: Age of the oldest queued job (async deployments), seconds.
        notes: Why a figure is missing (``cold_start_rate: GCP has no cold-start metric``).
    """

    source: Source
    window: Window
    requests: int
    errors: int | None = None
    cold_starts: int | None = None
    throttles: int | None = None
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    queue_age_s: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def error_rate(self) -> float | None:
        """Errors per request (``None`` with no requests or no error count)."""
        return _rate(self.errors, self.requests)

    @property
    def cold_start_rate(self) -> float | None:
        """Cold starts per request (``None`` with no requests or no cold-start count)."""
        return _rate(self.cold_starts, self.requests)

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON-ready values (the shape of ``svai status --format json``)."""
        return {
            "cloud": self.source.cloud,
            "region": self.source.region,
            "version": self.source.version,
            "window": {"start": self.window.start, "end": self.window.end},
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "cold_starts": self.cold_starts,
            "cold_start_rate": self.cold_start_rate,
            "throttles": self.throttles,
            "p50_s": self.p50_s,
            "p95_s": self.p95_s,
            "p99_s": self.p99_s,
            "queue_age_s": self.queue_age_s,
            "notes": list(self.notes),
        }


def _rate(count: int | None, total: int) -> float | None:
    return None if count is None or total <= 0 else count / total


class Reader(Protocol):
    """A cloud module's entry point."""

    def __call__(self, source: Source, window: Window) -> Signals:
        """Read ``source``'s signals over ``window``."""
        ...


def read(source: Source, window: Window) -> Signals:
    """Read ``source``'s signals over ``window`` from its cloud.

    Raises:
        svai.errors.ToolMissingError: no credentials for the cloud (the message names what to set).
        svai.errors.DeployError: the cloud refused or failed the query.
        svai.errors.UsageError: an unknown cloud.
    """
    reader: Reader = _cloud(source.cloud).read
    return reader(source, window)


def queue_age(cloud: str, region: str, service: str, window: Window) -> float | None:
    """The age (s) of the oldest job of async deployment ``service`` over ``window``.

    ``None`` when the cloud has no figure in the window.

    Raises:
        svai.errors.ToolMissingError: no credentials for the cloud.
        svai.errors.DeployError: the cloud refused or failed the query.
        svai.errors.UsageError: an unknown cloud.
    """
    age: float | None = _cloud(cloud).queue_age(service, region, window)
    return age


def _cloud(cloud: str) -> Any:
    """The reader module of ``cloud``."""
    return cloud_module(cloud, "live signals reader")


def cloud_module(cloud: str, what: str) -> Any:
    """``svai.signals.<cloud>``: the module that reads ``cloud``'s signals, logs and bills.

    Raises:
        svai.errors.UsageError: svai knows no such cloud, or the cloud has no such module (a
            cloud may deploy without readers; ``what`` names the reader it lacks).
    """
    from svai.errors import UsageError
    from svai.spec.clouds import CLOUDS

    name = f"svai.signals.{cloud}"
    if cloud not in CLOUDS or importlib.util.find_spec(name) is None:
        raise UsageError(f"no {what} for cloud {cloud!r}")
    return importlib.import_module(name)


def combine(parts: Sequence[Signals]) -> dict[str, Any]:
    """Merge the signals of one version on several targets into gate evidence (``live``).

    Counts add up; a percentile is the worst target's (a conservative bound, since percentiles
    of separate targets cannot be merged exactly); a figure missing on any target is missing.
    """
    requests = sum(p.requests for p in parts)

    def total(name: str) -> int | None:
        values = [getattr(p, name) for p in parts]
        return None if not values or None in values else sum(values)

    def worst(name: str) -> float | None:
        values = [getattr(p, name) for p in parts if p.requests > 0]
        return None if not values or None in values else max(values)

    errors, cold = total("errors"), total("cold_starts")
    return {
        "requests": requests,
        "error_rate": _rate(errors, requests),
        "cold_start_rate": _rate(cold, requests),
        "throttles": total("throttles"),
        "p50_s": worst("p50_s"),
        "p95_s": worst("p95_s"),
        "p99_s": worst("p99_s"),
    }
