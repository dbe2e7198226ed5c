"""Idempotency keys: a retry with the same client key gets the stored answer, not a second run.

``IdempotencyTable.begin`` returns one of three states for ``(tenant, key)``:

- ``NEW``: the caller owns the key, runs the model, then calls ``complete`` or ``abandon``;
- ``DONE``: a stored result exists; ``entry.future.result()`` is it;
- ``PENDING``: another request with the same key is running; wait on ``entry.future``
  (add a done-callback rather than block a worker).

A key reused with a different payload (by input hash) raises ``IdempotencyConflictError``.
Only successful results are kept: after an error or a timeout the key is forgotten, so the
client's retry runs again. Completed results can also be written to a shared ``CacheStore`` so a
retry that lands on another instance is answered too; a store outage only loses that sharing.
"""

from __future__ import annotations

import enum
import hashlib
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from svai.runtime.core.cache import CacheStore
from svai.runtime.core.errors import IdempotencyConflictError

__all__ = ["Entry", "IdempotencyTable", "State"]


class State(enum.Enum):
    """Outcome of ``IdempotencyTable.begin``."""

    NEW = "new"
    DONE = "done"
    PENDING = "pending"


@dataclass(slots=True)
class Entry:
    """One key's record: the payload hash it was first used with and its (future) result."""

    input_hash: str
    future: Future[Any] = field(default_factory=Future)
    expires: float = float("inf")


class IdempotencyTable:
    """In-process table of idempotency keys, bounded in size and time."""

    def __init__(
        self,
        ttl_s: float,
        max_entries: int,
        store: CacheStore | None = None,
        encode: Any = None,
        decode: Any = None,
    ) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._store = store
        self._encode = encode
        self._decode = decode

    @staticmethod
    def scoped(tenant: str, key: str) -> str:
        """Return the table key for a client key within a tenant."""
        return hashlib.sha256(f"{len(tenant)}:{tenant}:{key}".encode()).hexdigest()

    def begin(self, scoped_key: str, input_hash: str) -> tuple[State, Entry]:
        """Claim ``scoped_key`` or find its stored/pending result.

        Raises:
            IdempotencyConflictError: the key was used with a different payload.
        """
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(scoped_key)
            if entry is not None and entry.expires < now:
                del self._entries[scoped_key]
                entry = None
            if entry is None:
                entry = self._from_store(scoped_key)
                if entry is not None:
                    self._entries[scoped_key] = entry
            if entry is None:
                entry = Entry(input_hash)
                self._entries[scoped_key] = entry
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
                return State.NEW, entry
        if entry.input_hash != input_hash:
            raise IdempotencyConflictError(
                "idempotency key was already used with a different payload"
            )
        return (State.DONE if entry.future.done() else State.PENDING), entry

    def complete(self, scoped_key: str, entry: Entry, result: Any) -> None:
        """Store ``result`` for ``ttl_s`` and wake any duplicates waiting on it."""
        entry.expires = time.monotonic() + self._ttl
        entry.future.set_result(result)
        if self._store is not None and self._encode is not None:
            try:
                value = entry.input_hash.encode() + b"\n" + self._encode(result)
                self._store.put("idem:" + scoped_key, value, self._ttl)
            except Exception:  # a store outage only loses cross-instance replay
                pass

    def abandon(self, scoped_key: str, entry: Entry, error: BaseException) -> None:
        """Forget the key (so a retry runs again) and pass ``error`` to waiting duplicates."""
        with self._lock:
            if self._entries.get(scoped_key) is entry:
                del self._entries[scoped_key]
        if not entry.future.done():
            entry.future.set_exception(error)

    def _from_store(self, scoped_key: str) -> Entry | None:
        if self._store is None or self._decode is None:
            return None
        try:
            raw = self._store.get("idem:" + scoped_key)
        except Exception:  # outage: behave as if nothing was stored
            return None
        if raw is None:
            return None
        input_hash, _, body = raw.partition(b"\n")
        entry = Entry(input_hash.decode(), expires=time.monotonic() + self._ttl)
        entry.future.set_result(self._decode(body))
        return entry

    def __len__(self) -> int:
        return len(self._entries)
