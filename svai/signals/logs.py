"""The runtime's log lines, read back from a cloud's log service (``svai logs``).

Every cloud module has ``logs(query) -> list[LogLine]``: it asks its service for the lines of one
deployment in a window, with the filters sent server-side where the service can apply them, and
every line is checked again here (:func:`matches`), so what is shown never depends on how much a
service (or a test double) filtered.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from svai.signals.model import Window, cloud_module

__all__ = ["LEVELS", "LogLine", "LogQuery", "matches", "millis", "parse", "read_logs"]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
"""Severities in order; ``--level ERROR`` shows ERROR and CRITICAL."""


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Which lines to read.

    Attributes:
        cloud: ``aws``, ``gcp`` or ``azure``.
        region: The target's region.
        service: The deployment's name (the ``service`` on every runtime line).
        window: The time window.
        version: Only this model version's lines.
        request_id: Only this request's lines.
        level: Only lines at this severity or above (one of :data:`LEVELS`).
        limit: At most this many lines (the oldest first).
        message: Only lines with this ``message`` (``drift``: the drift summaries).
    """

    cloud: str
    region: str
    service: str
    window: Window
    version: str | None = None
    request_id: str | None = None
    level: str | None = None
    limit: int = 200
    message: str | None = None

    def fields(self) -> tuple[tuple[str, str], ...]:
        """The runtime line fields the query pins, ``(name, value)``: each cloud's filter."""
        pinned = (
            ("service", self.service),
            ("model_version", self.version),
            ("request_id", self.request_id),
            ("message", self.message),
        )
        return tuple((name, value) for name, value in pinned if value is not None)

    def severities(self) -> tuple[str, ...]:
        """The severities the level filter lets through (all without one)."""
        return LEVELS if self.level is None else LEVELS[LEVELS.index(self.level) :]


@dataclass(frozen=True, slots=True)
class LogLine:
    """One log line: the runtime's JSON fields when it is one of its lines, else the raw text."""

    timestamp_ms: int
    level: str
    message: str
    version: str | None = None
    request_id: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``svai logs --format json``)."""
        return {
            "timestamp_ms": self.timestamp_ms,
            "level": self.level,
            "message": self.message,
            "version": self.version,
            "request_id": self.request_id,
            "fields": self.fields,
        }


def parse(timestamp_ms: int, text: str | dict[str, Any], level: str | None = None) -> LogLine:
    """A line from its text (or already-parsed JSON object) and the service's timestamp."""
    fields: Any = text
    if isinstance(text, str):
        try:
            fields = json.loads(text)
        except ValueError:
            fields = None
    if not isinstance(fields, dict):
        return LogLine(timestamp_ms, (level or "INFO").upper(), str(text).rstrip("\n"))
    severity = str(fields.get("severity") or fields.get("level") or level or "INFO").upper()
    version, request = fields.get("model_version"), fields.get("request_id")
    return LogLine(
        timestamp_ms,
        "WARNING" if severity == "WARN" else severity,
        str(fields.get("message", "")),
        None if version is None else str(version),
        None if request is None else str(request),
        fields,
    )


def millis(stamp: str) -> int:
    """Milliseconds since the epoch of an RFC 3339 / ISO 8601 timestamp (0 when unreadable)."""
    try:
        return round(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0


def matches(line: LogLine, query: LogQuery) -> bool:
    """Whether ``line`` passes the query's filters and window."""
    return (
        query.window.start * 1000 <= line.timestamp_ms < query.window.end * 1000
        and (query.version is None or line.version == query.version)
        and (query.request_id is None or line.request_id == query.request_id)
        and (query.level is None or line.level in query.severities())
        and (query.message is None or line.message == query.message)
    )


def read_logs(query: LogQuery) -> list[LogLine]:
    """The lines of ``query`` from its cloud, oldest first, at most ``query.limit``.

    Raises:
        svai.errors.ToolMissingError: no credentials for the cloud (the message names them).
        svai.errors.DeployError: the cloud failed the query.
        svai.errors.UsageError: an unknown cloud or level.
    """
    from svai.errors import UsageError

    module = cloud_module(query.cloud, "log reader")
    if query.level is not None and query.level not in LEVELS:
        raise UsageError(f"--level: {query.level} is not one of {', '.join(LEVELS)}")
    reader: Callable[[LogQuery], list[LogLine]] = module.logs
    lines = sorted(
        (line for line in reader(query) if matches(line, query)), key=lambda x: x.timestamp_ms
    )
    return lines[: query.limit]
