"""The one exception tree of svai.

Every error a *user* can cause derives from :class:`SvaiError` and carries an exit code; the CLI
prints it without a traceback. Anything else that escapes is a bug and shows one.

::

    SvaiError                      exit 2 unless stated
    ├── SpecError                  the svai.yaml is invalid (carries every diagnostic)
    ├── UsageError                 a bad option, path or combination on the command line
    ├── ToolMissingError           exit 3: an external tool (the pulumi CLI, credentials) is missing
    └── DeployError                exit 1: the cloud or Pulumi refused an operation
"""

from __future__ import annotations

from collections.abc import Sequence

from svai.diagnostics import Diagnostic

__all__ = ["DeployError", "SpecError", "SvaiError", "ToolMissingError", "UsageError"]


class SvaiError(Exception):
    """Base of every error a user can cause; ``exit_code`` is what the CLI exits with."""

    exit_code: int = 2


class SpecError(SvaiError):
    """The spec is invalid. ``diagnostics`` holds every problem found, not only the first."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))


class UsageError(SvaiError):
    """A command-line option, path or combination that cannot work."""


class ToolMissingError(SvaiError):
    """An external tool or credential is missing; the message says exactly what to install or set."""

    exit_code = 3


class DeployError(SvaiError):
    """Pulumi or the cloud refused an operation."""

    exit_code = 1
