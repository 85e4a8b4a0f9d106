"""A lean thread pool for leaving the event loop: one queue put, one loop wake-up per job.

``concurrent.futures`` chains a second future onto every job; on the hot path of a warm call
that hand-off is most of the cost, so owt keeps its own: threads start on demand up to a
bound and wait on one ``SimpleQueue``; each result goes back with ``call_soon_threadsafe``.
Cancelling the awaiting task abandons the job (the thread finishes it and moves on);
``busy`` counts the threads running a job, abandoned ones too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

__all__ = ["ThreadPool"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_STOP = None


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class ThreadPool:
    """Up to ``max_threads`` daemon threads running jobs for one event loop at a time."""

    def __init__(self, max_threads: int, name: str = "owt-call") -> None:
        self.max_threads = max_threads
        self.name = name
        self._jobs: SimpleQueue[Any] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self.busy = 0
        self._closed = False

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on a pool thread; its result or exception comes back here."""
        if self._closed:
            raise RuntimeError("the thread pool is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._put((fn, future, loop))
        return await future

    def submit(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` on a pool thread, from any thread; nobody waits for it, so ``fn``
        handles its own errors (one that escapes is logged)."""
        if self._closed:
            raise RuntimeError("the thread pool is closed")
        self._put((fn, None, None))

    def _put(self, job: tuple[Any, ...]) -> None:
        with self._lock:
            if self._idle == 0 and len(self._threads) < self.max_threads:
                self._start_thread()
            else:
                self._idle -= 1
        self._jobs.put(job)

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            fn, future, loop = job
            with self._lock:
                self.busy += 1
            try:
                result = (True, fn())
            except BaseException as exc:  # handed to the awaiting task, not lost
                result = (False, exc)
            finally:
                with self._lock:
                    self.busy -= 1
            if loop is None:
                if not result[0]:
                    log.error("a job failed", exc_info=result[1])
            else:
                try:
                    loop.call_soon_threadsafe(_settle, future, *result)
                except RuntimeError:  # the loop closed while the job ran
                    pass
            del job, fn, future, result
            with self._lock:
                self._idle += 1

    def close(self) -> None:
        """Stop the idle threads; busy ones finish their job first (they are daemons)."""
        self._closed = True
        for _ in self._threads:
            self._jobs.put(_STOP)
