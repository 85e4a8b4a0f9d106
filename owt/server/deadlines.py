"""Call timeouts with one loop timer for all calls in flight, not one per call.

``asyncio.timeout()`` schedules and cancels a loop timer for every call, about 8 µs on uvloop,
which is a tenth of a warm call's whole cost. Calls nearly always share one timeout, so
their deadlines come due in the order they started: one timer, set for the earliest
deadline, serves them all, and a call that ends in time costs a dict entry.

A call past its deadline has its task cancelled, and :meth:`Deadlines.within` turns that
cancellation (and only that one) into ``TimeoutError``, as ``asyncio.timeout()`` does.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["Deadlines"]

T = TypeVar("T")

SLACK = 0.001  # loop timers fire to the millisecond; treat "due within 1 ms" as due


class Deadlines:
    """Deadlines of the tasks awaiting :meth:`within`, on one event loop."""

    def __init__(self) -> None:
        self._due: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def __len__(self) -> int:
        return len(self._due)

    async def within(self, seconds: float | None, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable``; cancel it and raise ``TimeoutError`` after ``seconds``."""
        if seconds is None:
            return await awaitable
        task = asyncio.current_task()
        assert task is not None, "Deadlines.within runs inside a task"
        loop = task.get_loop()
        due = loop.time() + seconds
        self._due[task] = due
        if due < self._timer_at:
            self._arm(loop, due)
        cancelling = task.cancelling()
        try:
            return await awaitable
        except asyncio.CancelledError:
            if task in self._expired:
                self._expired.discard(task)
                if task.uncancel() <= cancelling:
                    raise TimeoutError from None
            raise
        finally:
            del self._due[task]
            if task in self._expired:  # expired, yet ended otherwise: take the cancel back
                self._expired.discard(task)
                task.uncancel()

    def _arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(at, self._expire, loop)
        self._timer_at = at

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._timer_at = None, math.inf
        now = loop.time() + SLACK
        earliest = math.inf
        for task, due in self._due.items():
            if due <= now:
                if task not in self._expired:
                    self._expired.add(task)
                    task.cancel()
            elif due < earliest:
                earliest = due
        if earliest < math.inf:
            self._arm(loop, earliest)
