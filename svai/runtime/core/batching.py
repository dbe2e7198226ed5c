"""Micro-batching that never waits when the model is idle.

There is no dispatcher thread. A request thread that submits while fewer than ``max_runners``
batches are running becomes a runner itself: it takes up to ``max_batch`` queued items (its own
included), runs them as one batch outside the lock, hands every item its result and wakes the
others. So at concurrency 1 a request goes straight to the model on its own thread (no hand-off,
no timer), while under load the requests that queue up behind a busy model leave together in the
next batch.

``max_wait_s`` is only spent when waiting can fill the batch: a runner lingers (up to that long)
only if other requests have announced themselves (``announce``: admitted, still being parsed or
pre-processed) and the batch is not full. With nobody on the way it dispatches at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["MicroBatcher"]

T = TypeVar("T")
R = TypeVar("R")


class _Slot:
    __slots__ = ("done", "error", "item", "result")

    def __init__(self, item: Any) -> None:
        self.item = item
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class MicroBatcher(Generic[T, R]):
    """Group concurrent calls of ``run_batch`` into batches.

    Args:
        run_batch: runs a list of items and returns one result per item, in order.
        max_batch: most items in one batch.
        max_wait_s: longest a runner lingers for announced arrivals.
        max_runners: batches allowed to run at the same time (e.g. cores / intra-op threads).
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[T]], list[R]],
        max_batch: int,
        max_wait_s: float,
        max_runners: int = 1,
    ) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._max_wait = max_wait_s
        self._max_runners = max(1, max_runners)
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[_Slot] = deque()
        self._runners = 0
        self._announced = 0
        self._lingering = False
        self.batches = 0
        self.items = 0

    @property
    def queued(self) -> int:
        """Items waiting for a runner."""
        return len(self._queue)

    @property
    def announced(self) -> int:
        """Requests that said they would submit and have not (nor withdrawn)."""
        return self._announced

    def announce(self) -> None:
        """Say that a request will call ``submit`` soon (lets a runner wait for it)."""
        with self._cond:
            self._announced += 1

    def withdraw(self) -> None:
        """Cancel an ``announce`` for a request that will not submit after all."""
        with self._cond:
            self._announced = max(0, self._announced - 1)

    def submit(self, item: T, announced: bool = False) -> R:
        """Run ``item`` in the next batch and return its result (re-raising its error).

        Args:
            item: what ``run_batch`` takes.
            announced: whether this request called ``announce`` before.
        """
        slot = _Slot(item)
        cond = self._cond
        with cond:
            if announced:
                self._announced = max(0, self._announced - 1)
            self._queue.append(slot)
            if self._lingering:
                cond.notify_all()
            while not slot.done:
                if self._runners < self._max_runners and self._queue:
                    self._lead()
                else:
                    cond.wait()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[no-any-return]

    def _lead(self) -> None:
        """Run one batch; called and returns with the lock held."""
        cond = self._cond
        self._runners += 1
        if self._max_wait > 0 and self._announced > 0 and len(self._queue) < self._max_batch:
            deadline = time.monotonic() + self._max_wait
            self._lingering = True
            while self._announced > 0 and len(self._queue) < self._max_batch:
                left = deadline - time.monotonic()
                if left <= 0 or not cond.wait(left):
                    break
            self._lingering = False
        n = min(self._max_batch, len(self._queue))
        batch = [self._queue.popleft() for _ in range(n)]
        cond.release()
        try:
            try:
                results = self._run_batch([s.item for s in batch])
                if len(results) != len(batch):
                    raise RuntimeError("run_batch returned a wrong number of results")
                for s, r in zip(batch, results, strict=True):
                    s.result = r
            except BaseException as exc:  # every waiter must get the error
                for s in batch:
                    s.error = exc
        finally:
            cond.acquire()
            for s in batch:
                s.done = True
            self._runners -= 1
            self.batches += 1
            self.items += len(batch)
            cond.notify_all()
