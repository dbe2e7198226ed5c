"""Test doubles for the cache's shared store: a call-counting wrapper and a hand-wound clock."""

from __future__ import annotations

from svai.runtime.core.cache import CacheStore


class CountingStore:
    """A ``CacheStore`` that records each call before passing it to the real store.

    Attributes:
        calls: The method names called, in order (``"get"``, ``"put"``).
    """

    def __init__(self, inner: CacheStore) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def get(self, key: str) -> bytes | None:
        """Record the call, then read from the real store."""
        self.calls.append("get")
        return self.inner.get(key)

    def put(self, key: str, value: bytes, ttl_s: float) -> None:
        """Record the call, then write to the real store."""
        self.calls.append("put")
        self.inner.put(key, value, ttl_s)

    def close(self) -> None:
        """Close the real store."""
        self.inner.close()


class ManualClock:
    """A clock that moves only when told to.

    Call it (the cache's ``clock`` argument), or put it in place of a module's ``time``
    (``monkeypatch.setattr(module, "time", clock)``): ``monotonic()`` and ``time()`` read it too,
    so expiry is tested without sleeping.
    """

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        """The current reading, as ``time.monotonic``."""
        return self.now

    def time(self) -> float:
        """The current reading, as ``time.time``."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds
