"""``--max-concurrency``: at most N calls run at once; a bounded queue waits, the rest get 503.

A call holds its slot until its reply is complete: for a streamed reply that is when the
stream ends or is closed (the client went away), not when its first chunk is ready, since
producing the rest is work too. Cache hits never take a slot. A waiting call whose client
leaves is dropped from the queue (counted as ``dropped``), as an environment's queue does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from owt.core.call import Reply
from owt.core.errors import Busy, CallerGone, shutting_down
from owt.executors.base import unless_caller_goes

__all__ = ["ConcurrencyLimit"]


class ConcurrencyLimit:
    """At most ``max_concurrency`` calls at once (0: no limit), ``max_queue`` more waiting.

    >>> limit = ConcurrencyLimit(2, max_queue=8)
    >>> # reply = await limit.run(lambda: executor.submit(call))
    """

    def __init__(self, max_concurrency: int = 0, max_queue: int = 64) -> None:
        self.max_concurrency = max(0, max_concurrency)
        self.max_queue = max(0, max_queue)
        self._slots = asyncio.Semaphore(self.max_concurrency) if self.max_concurrency else None
        self.running = 0
        self.waiting = 0
        self.rejected = 0
        self.dropped = 0  # waiting calls whose client left
        self.closing = False  # shutting down: waiting and new calls are refused
        self._acquiring: set[asyncio.Future[Any]] = set()

    async def run(self, submit: Callable[[], Awaitable[Reply]]) -> Reply:
        """``submit()`` once a slot is free; raises Busy when the queue is full too."""
        if self._slots is None:
            return await submit()
        await self._acquire(self._slots)
        slot = _Slot(self)
        try:
            reply = await submit()
        except BaseException:
            slot.release()
            raise
        if isinstance(reply.stream, AsyncIterator):
            reply.stream = _Holding(reply.stream, slot)
        else:
            slot.release()
        return reply

    async def _acquire(self, slots: asyncio.Semaphore) -> None:
        if self.closing:
            raise shutting_down()
        if not slots.locked():
            await slots.acquire()  # free: taken at once
        else:
            if self.waiting >= self.max_queue:
                self.rejected += 1
                raise Busy(
                    f"the server is running {self.max_concurrency} calls and "
                    f"{self.waiting} more are waiting; try again shortly (or start owt with a "
                    "larger --max-concurrency or --max-queue)"
                )
            self.waiting += 1
            acquiring = asyncio.ensure_future(slots.acquire())
            self._acquiring.add(acquiring)
            try:
                await unless_caller_goes(acquiring)
            except BaseException as exc:  # its client left (dropped, never run), or cut
                if isinstance(exc, CallerGone):
                    self.dropped += 1
                if not acquiring.done():
                    acquiring.cancel()
                elif not acquiring.cancelled() and acquiring.exception() is None:
                    slots.release()  # the slot came just as the call was given up
                task = asyncio.current_task()
                if self.closing and acquiring.cancelled() and task and not task.cancelling():
                    raise shutting_down() from None  # refuse_new() cancelled its wait
                raise
            finally:
                self.waiting -= 1
                self._acquiring.discard(acquiring)
        self.running += 1

    def refuse_new(self) -> None:
        """The server is shutting down: waiting calls are refused now (503), as new ones."""
        self.closing = True
        for acquiring in list(self._acquiring):
            acquiring.cancel()

    def status(self) -> dict[str, Any]:
        return {
            "max": self.max_concurrency,
            "max_queue": self.max_queue,
            "running": self.running,
            "waiting": self.waiting,
            "rejected": self.rejected,
            "dropped": self.dropped,
        }


class _Slot:
    """One taken slot, released exactly once, from whichever task finishes the reply."""

    def __init__(self, limit: ConcurrencyLimit) -> None:
        self._limit = limit
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._limit.running -= 1
            assert self._limit._slots is not None
            self._limit._slots.release()


class _Holding(AsyncIterator[bytes]):
    """A reply stream that keeps its call's slot until it ends or is closed."""

    def __init__(self, stream: AsyncIterator[bytes], slot: _Slot) -> None:
        self._stream = stream
        self._slot = slot

    async def __anext__(self) -> bytes:
        try:
            return await self._stream.__anext__()
        except BaseException:
            self._slot.release()
            raise

    async def aclose(self) -> None:
        self._slot.release()
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()
