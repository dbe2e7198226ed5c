"""Diagnostics: located, coded problems, reported all together.

A :class:`Diagnostic` is data (a stable code, severity, file, line, column, dotted path, message
and hint); rendering is one method. The spec loader, the resolver and the readiness rules all speak
it, so every problem reaches the user in the same ``file:line:col`` shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["Diagnostic", "Severity"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a file.

    Attributes:
        code: Stable identifier, e.g. ``unknown-field``; documented in ``docs/spec.md``.
        message: What is wrong, in one sentence.
        file: The file it was found in.
        line: 1-based line, or 0 when the problem concerns the whole file.
        col: 1-based column, or 0 when unknown.
        path: Dotted path of the field (``targets[0].region``), empty for the document itself.
        hint: What to do about it, or empty.
        severity: ``error`` stops the pipeline; ``warning`` is reported and carries on.
    """

    code: str
    message: str
    file: str = "<string>"
    line: int = 0
    col: int = 0
    path: str = ""
    hint: str = ""
    severity: Severity = "error"

    def render(self) -> str:
        """Return ``file:line:col: severity[code] path: message`` plus an indented hint line."""
        where = f"{self.file}:{self.line}:{self.col}"
        subject = f" {self.path}:" if self.path else ""
        text = f"{where}: {self.severity}[{self.code}]{subject} {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Return the diagnostic as a JSON-ready mapping."""
        return asdict(self)
