"""Coroutines run on another thread's event loop, awaited from this one. Stdlib only.

``asyncio.run_coroutine_threadsafe`` and ``asyncio.wrap_future`` cross with two futures, a
lock and a wake-up of the other loop per coroutine, and the same again on the way back. A
:class:`Crossing` sends the coroutines started during one turn of the calling loop over
together (one wake-up of the target loop), and the results ready during one turn of the
target loop back together (one wake-up of the caller's). Cancelling the awaiting task
cancels the coroutine's task over there; a coroutine cancelled over there raises
``CancelledError`` here.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["Crossing"]

T = TypeVar("T")


class _Passage:
    """One coroutine on its way: its task over there, once started; cancelled before?"""

    __slots__ = ("cancelled", "task")

    def __init__(self) -> None:
        self.task: asyncio.Task[Any] | None = None
        self.cancelled = False

    def cancel(self) -> None:  # on the target loop
        self.cancelled = True
        if self.task is not None:
            self.task.cancel()


class Crossing:
    """Runs coroutines on ``target`` (a loop running in another thread) for any caller loop."""

    def __init__(self, target: asyncio.AbstractEventLoop) -> None:
        self.target = target
        self._going: dict[asyncio.AbstractEventLoop, list[Any]] = {}  # per caller, this turn
        self._coming: dict[asyncio.AbstractEventLoop, list[Any]] = {}  # per caller, that turn

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the target loop and return (or raise) what it did."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        passage = _Passage()
        going = self._going.get(loop)
        if going is None:
            going = self._going[loop] = []
            loop.call_soon(self._send, loop)
        # Its task over there runs in this task's context (a request id names its log lines).
        going.append((coro, future, passage, contextvars.copy_context()))
        try:
            return await future
        except asyncio.CancelledError:
            if not future.done() or future.cancelled():
                self._cancel_over_there(passage)
            raise

    def _cancel_over_there(self, passage: _Passage) -> None:
        try:
            self.target.call_soon_threadsafe(passage.cancel)
        except RuntimeError:  # the target loop is closed: nothing runs there any more
            pass

    def _send(self, loop: asyncio.AbstractEventLoop) -> None:
        going = self._going.pop(loop)
        try:
            self.target.call_soon_threadsafe(self._start, loop, going)
        except RuntimeError as exc:  # the target loop is closed
            for coro, future, _, _ in going:
                coro.close()
                if not future.done():
                    future.set_exception(exc)

    # -- on the target loop ----------------------------------------------------------------

    def _start(self, loop: asyncio.AbstractEventLoop, going: list[Any]) -> None:
        for coro, future, passage, context in going:
            if passage.cancelled:
                coro.close()
                continue
            task = passage.task = self.target.create_task(coro, context=context)
            task.add_done_callback(functools.partial(self._done, loop, future))

    def _done(
        self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], task: asyncio.Task[Any]
    ) -> None:
        coming = self._coming.get(loop)
        if coming is None:
            coming = self._coming[loop] = []
            self.target.call_soon(self._return, loop)
        coming.append((future, task))

    def _return(self, loop: asyncio.AbstractEventLoop) -> None:
        coming = self._coming.pop(loop)
        try:
            loop.call_soon_threadsafe(_settle_all, coming)
        except RuntimeError:  # the caller's loop closed meanwhile: nobody awaits these
            pass


def _settle_all(coming: list[tuple[asyncio.Future[Any], asyncio.Task[Any]]]) -> None:
    for future, task in coming:
        if task.cancelled():
            if not future.done():
                future.cancel()
            continue
        exc = task.exception()  # retrieved even when nobody awaits it any more
        if future.done():
            continue
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(task.result())
