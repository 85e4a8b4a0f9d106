"""A lean thread pool for leaving the event loop: one wake-up per turn of the loop, not per job.

``concurrent.futures`` chains a second future onto every job; on the hot path of a warm call
that hand-off is most of the cost, so owt keeps its own: threads start on demand up to a
bound and wait on one ``SimpleQueue``; each result goes back with ``call_soon_threadsafe``.

The jobs an event loop hands over during one turn travel together, as one *batch*: one
thread wakes and takes them in order, and the hand-off (a wake-up, the GIL passed back and
forth) is paid once per batch instead of once per job. So that no job waits long behind a
slow one, a watch thread looks at the batches whose jobs wait: when the job at their head
has run for :data:`HANDOFF` seconds, another thread starts taking the rest (and so on, one
more thread per :data:`HANDOFF` while that lasts). Jobs handed in from a thread that runs no
event loop (:meth:`ThreadPool.submit`) form a batch of those handed in at once.

Cancelling the awaiting task abandons the job (a thread finishes it and moves on); ``busy``
counts the threads running a job, abandoned ones too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

__all__ = ["HANDOFF", "ThreadPool"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Job = tuple[Callable[[], Any], "asyncio.Future[Any] | None", "asyncio.AbstractEventLoop | None"]

#: Seconds a job may hold up the jobs of its batch behind it before another thread takes them.
HANDOFF = 0.002


class _Batch:
    """Jobs handed over together, taken in order by one thread or more."""

    __slots__ = ("jobs", "since")

    def __init__(self, jobs: deque[Job]) -> None:
        self.jobs = jobs
        self.since = 0.0  # when the job now holding up the others started; 0: none waits


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class ThreadPool:
    """Up to ``max_threads`` daemon threads running jobs for the event loops that await them."""

    def __init__(self, max_threads: int, name: str = "owt-call") -> None:
        self.max_threads = max_threads
        self.name = name
        self._batches: SimpleQueue[_Batch | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self.busy = 0
        self._closed = False
        self._gathering: dict[asyncio.AbstractEventLoop, _Batch] = {}  # this turn's, per loop
        self._waiting: set[_Batch] = set()  # batches whose jobs wait behind a running one
        self._watch_wake = threading.Event()
        self._watcher: threading.Thread | None = None

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on a pool thread; its result or exception comes back here."""
        if self._closed:
            raise RuntimeError("the thread pool is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        batch = self._gathering.get(loop)
        if batch is None:
            batch = self._gathering[loop] = _Batch(deque())
            loop.call_soon(self._dispatch, loop)
        batch.jobs.append((fn, future, loop))
        return await future

    def submit(self, *fns: Callable[[], Any]) -> None:
        """Run each ``fn()`` on a pool thread (as one batch), from any thread; nobody waits
        for them, so each handles its own errors (one that escapes is logged)."""
        if self._closed:
            raise RuntimeError("the thread pool is closed")
        self._put(_Batch(deque((fn, None, None) for fn in fns)))

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._gathering.pop(loop, None)
        if batch is not None:
            self._put(batch)

    def _put(self, batch: _Batch) -> None:
        with self._lock:
            if self._idle == 0 and len(self._threads) < self.max_threads:
                self._start_thread()
            else:
                self._idle -= 1
        self._batches.put(batch)

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while True:
            batch = self._batches.get()
            if batch is None:
                return
            self._take(batch)
            del batch
            with self._lock:
                self._idle += 1

    def _take(self, batch: _Batch) -> None:
        """Run the batch's jobs in order, until none is left (other threads may help)."""
        jobs = batch.jobs
        while True:
            try:
                job = jobs.popleft()
            except IndexError:
                return
            if jobs:  # others wait behind this one: the watch hands them on should it last
                batch.since = time.monotonic()
                self._watch(batch)
            self._run(job)
            batch.since = 0.0

    def _run(self, job: Job) -> None:
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
        elif future is not None:
            try:
                loop.call_soon_threadsafe(_settle, future, *result)
            except RuntimeError:  # the loop closed while the job ran
                pass

    # -- the watch: a slow job does not hold up its batch ------------------------------------

    def _watch(self, batch: _Batch) -> None:
        with self._lock:
            self._waiting.add(batch)
            if self._watcher is None:
                watcher = threading.Thread(
                    target=self._watching, name=f"{self.name}-watch", daemon=True
                )
                try:
                    watcher.start()
                except RuntimeError:  # no room for a thread (--worker-max-memory): no watch
                    log.warning("no thread for the pool's watch: a slow job may hold up its batch")
                    return
                self._watcher = watcher
        self._watch_wake.set()

    def _watching(self) -> None:
        while not self._closed:
            self._watch_wake.wait()
            time.sleep(HANDOFF)
            for batch in self._held_up():
                self._put(batch)

    def _held_up(self) -> list[_Batch]:
        """The batches whose waiting jobs another thread should take now."""
        now = time.monotonic()
        held = []
        with self._lock:
            for batch in list(self._waiting):
                if not batch.jobs:
                    self._waiting.discard(batch)
                elif batch.since and now - batch.since >= HANDOFF:
                    batch.since = now  # one more thread per HANDOFF, while it lasts
                    held.append(batch)
            if not self._waiting:
                self._watch_wake.clear()
        return held

    def close(self) -> None:
        """Stop the idle threads; jobs handed over before run first, busy ones finish (they
        are daemons)."""
        self._closed = True
        for loop in list(self._gathering):
            self._dispatch(loop)
        for _ in self._threads:
            self._batches.put(None)
        self._watch_wake.set()
