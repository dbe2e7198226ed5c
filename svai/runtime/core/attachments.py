"""What a queue worker adds to the HTTP server: extra routes and background work.

The protocols live in the core so that the workers (``svai.runtime.entry``) and the server that
hosts them (``svai.runtime.server``) both depend on them, and not on each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from svai.runtime.core.messages import Response

__all__ = ["Attachment", "Handler"]

Handler = Callable[[str, Mapping[str, str], bytes], Response]
"""An extra route: ``(method, headers with lower-case names, body) -> Response``."""


class Attachment(Protocol):
    """Extra routes and background work that a queue worker adds to the server."""

    @property
    def routes(self) -> Mapping[str, Handler]:
        """Exact paths this attachment answers (any method; the handler checks it)."""
        ...

    def start(self) -> None:
        """Begin background work; called once the model is ready."""
        ...

    def stop(self, timeout_s: float) -> bool:
        """Stop taking work and finish what is in hand; True when it finished in time."""
        ...
