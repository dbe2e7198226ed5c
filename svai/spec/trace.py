"""A measured traffic trace (``traffic.trace``): a CSV of requests per minute.

Accepted rows: one count per row, or ``minute,requests`` (minutes 0, 1, 2, ... in order); a
first row that is not a number is a header; blank lines are skipped. 1 to 1,440 minutes; the
trace is repeated over the day. Every problem is reported at its row and column of the CSV
file (a :class:`~svai.errors.SpecError`, like the spec's own problems).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from pathlib import Path

from svai.diagnostics import Diagnostic
from svai.errors import SpecError, UsageError
from svai.spec.paths import project_file
from svai.spec.resolve import ResolvedSpec

__all__ = ["MAX_MINUTES", "read_trace", "with_trace"]

MAX_MINUTES = 1440
_CODE = "invalid-trace"


def with_trace(spec: ResolvedSpec, base_dir: Path) -> ResolvedSpec:
    """Return ``spec`` with its trace read (``traffic.trace_rpm``); unchanged without one.

    Raises:
        SpecError: the trace file is missing or not a valid trace (located).
    """
    relative = spec.traffic.trace
    if relative is None:
        return spec
    try:
        path = project_file(base_dir, relative, "traffic.trace")
    except UsageError as exc:
        raise SpecError(
            [Diagnostic(_CODE, str(exc), file=relative, path="traffic.trace")]
        ) from None
    rpm = read_trace(path)
    traffic = dataclasses.replace(spec.traffic, trace_rpm=rpm)
    return dataclasses.replace(spec, traffic=traffic)


def read_trace(path: Path) -> tuple[float, ...]:
    """Return the requests per minute in the CSV at ``path``.

    Raises:
        SpecError: every problem found, each at its line and column.
    """
    text = path.read_text(encoding="utf-8-sig")
    problems: list[Diagnostic] = []
    counts: list[float] = []
    lines = text.splitlines()
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if len(cells) > 2:
            problems.append(_diag(path, number, 1, f"expected 1 or 2 columns, got {len(cells)}"))
            continue
        value_cell = cells[-1]
        column = _column(lines[number - 1] if number <= len(lines) else "", len(cells) - 1)
        try:
            value = float(value_cell)
        except ValueError:
            if not counts and not problems and number == _first_row(lines):
                continue  # a header
            problems.append(_diag(path, number, column, f"{value_cell!r} is not a number"))
            continue
        if not math.isfinite(value) or value < 0:
            problems.append(
                _diag(path, number, column, f"requests must be finite and >= 0, got {value_cell}")
            )
            continue
        if len(cells) == 2 and cells[0] != str(len(counts)):
            problems.append(
                _diag(path, number, 1, f"minute {cells[0]!r} out of order: expected {len(counts)}")
            )
            continue
        counts.append(value)
    if not counts and not problems:
        problems.append(_diag(path, 0, 0, "no minutes in the trace"))
    if len(counts) > MAX_MINUTES:
        problems.append(
            _diag(path, 0, 0, f"{len(counts)} minutes; a trace holds at most {MAX_MINUTES}")
        )
    if problems:
        raise SpecError(problems)
    return tuple(counts)


def _first_row(lines: list[str]) -> int:
    return next((i for i, line in enumerate(lines, start=1) if line.strip()), 0)


def _column(line: str, index: int) -> int:
    """1-based column of cell ``index`` of ``line`` (its first non-blank character)."""
    start = 0
    for _ in range(index):
        start = line.find(",", start) + 1
    offset = len(line[start:]) - len(line[start:].lstrip())
    return start + offset + 1


def _diag(path: Path, line: int, col: int, message: str) -> Diagnostic:
    return Diagnostic(
        _CODE,
        message,
        file=str(path),
        line=line,
        col=col,
        path="traffic.trace",
        hint="one request count per minute, or `minute,requests` rows",
    )
