"""A lean thread pool for leaving the event loop: one wake-up per turn of the loop, not per job.

``concurrent.futures`` chains a second future onto every job; on the hot path of a warm call
that hand-off is most of the cost, so owt keeps its own: threads start on demand up to a
bound and wait on one ``SimpleQueue``; each result goes back with ``call_soon_threadsafe``.

The jobs an event loop hands over during one turn travel together, as one *batch*: one
thread wakes and takes them in order, and the hand-off (a wake-up, the GIL passed back and
forth) is paid once per batch instead of once per job. So that no job waits long behind a
slow one, a watch thread looks at what the threads do (every :data:`LOOK` seconds while
batches have jobs waiting, asleep otherwise): when the job at a batch's head has run for
:data:`HANDOFF` seconds, another thread starts taking the rest (and so on, one more thread
per :data:`HANDOFF` while that lasts). Jobs handed in from a thread that runs no
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

__all__ = ["HANDOFF", "LOOK", "QUIET", "ThreadPool"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Job = tuple[Callable[[], Any], "asyncio.Future[Any] | None", "asyncio.AbstractEventLoop | None"]

#: Seconds a job may hold up the jobs of its batch behind it before another thread takes them
#: (found by the watch within LOOK more).
HANDOFF = 0.002

#: Seconds between two looks of the watch while jobs wait in batches.
LOOK = 0.01

#: Seconds the watch goes on looking after the last job it saw waiting, before it sleeps.
QUIET = 0.1


class _Batch:
    """Jobs handed over together, taken in order by one thread or more."""

    __slots__ = ("jobs", "since")

    def __init__(self, jobs: deque[Job]) -> None:
        self.jobs = jobs
        self.since = 0.0  # when the job now holding up the others started; 0: none waits


class _Slot:
    """What one pool thread is doing: the batch it takes jobs from, and whether a job runs."""

    __slots__ = ("batch", "busy")

    def __init__(self) -> None:
        self.batch: _Batch | None = None
        self.busy = False


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
        self._slots: list[_Slot] = []  # one per thread
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False
        self._gathering: dict[asyncio.AbstractEventLoop, _Batch] = {}  # this turn's, per loop
        self._watch_wake = threading.Event()
        self._watch_awake = False
        self._watcher: threading.Thread | None = None
        self._short = False  # a thread failed to start (said once)

    @property
    def busy(self) -> int:
        """Threads running a job now (abandoned ones too)."""
        return sum(slot.busy for slot in self._slots)

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
        if batch is None:
            return
        try:
            self._put(batch)
        except RuntimeError as exc:  # no thread at all: each awaiting task hears why
            for _, future, _ in batch.jobs:
                if future is not None:
                    _settle(future, False, exc)

    def _put(self, batch: _Batch) -> None:
        with self._lock:
            room = self._idle == 0 and len(self._slots) < self.max_threads
            if not (room and self._start_thread()):
                self._idle -= 1  # a thread that is running takes it when free
        self._batches.put(batch)

    def _start_thread(self) -> bool:
        """Start one more thread (under ``_lock``); False when the system has no room for
        it (``--worker-max-memory`` counts each thread's stack), and the threads running
        take the work. With no thread at all, RuntimeError: nothing would run it."""
        slot = _Slot()
        thread = threading.Thread(
            target=self._work, args=(slot,), name=f"{self.name}-{len(self._slots)}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError as exc:
            if not self._slots:
                raise RuntimeError(f"{self.name}: no thread could start ({exc})") from exc
            if not self._short:
                self._short = True
                log.warning(
                    "%s: no room for thread %d of %d (%s); calls wait for the %d running. Under "
                    "--worker-max-memory, give each worker more memory or fewer "
                    "--worker-threads",
                    self.name,
                    len(self._slots) + 1,
                    self.max_threads,
                    exc,
                    len(self._slots),
                )
            return False
        self._slots.append(slot)
        return True

    def _work(self, slot: _Slot) -> None:
        while True:
            batch = self._batches.get()
            if batch is None:
                return
            slot.batch = batch
            self._take(batch, slot)
            slot.batch = batch = None
            with self._lock:
                self._idle += 1

    def _take(self, batch: _Batch, slot: _Slot) -> None:
        """Run the batch's jobs in order, until none is left (other threads may help)."""
        jobs = batch.jobs
        while True:
            try:
                job = jobs.popleft()
            except IndexError:
                return
            if jobs:  # others wait behind this one: the watch hands them on should it last
                batch.since = time.monotonic()
                if not self._watch_awake:
                    self._wake_watch()
            self._run(job, slot)
            batch.since = 0.0

    def _run(self, job: Job, slot: _Slot) -> None:
        fn, future, loop = job
        slot.busy = True
        try:
            result = (True, fn())
        except BaseException as exc:  # handed to the awaiting task, not lost
            result = (False, exc)
        finally:
            slot.busy = False
        if loop is None:
            if not result[0]:
                log.error("a job failed", exc_info=result[1])
        elif future is not None:
            try:
                loop.call_soon_threadsafe(_settle, future, *result)
            except RuntimeError:  # the loop closed while the job ran
                pass

    # -- the watch: a slow job does not hold up its batch ------------------------------------
    #
    # The watch looks at what the threads do every LOOK seconds while jobs have waited in the
    # last QUIET seconds, every HANDOFF while it is handing a batch on, and sleeps otherwise.
    # Under load it wakes 1/LOOK times a second however many batches pass (each wake takes
    # the GIL from the threads that serve calls; waking it for each batch cost ~6 % of warm
    # echo throughput).

    def _wake_watch(self) -> None:
        self._watch_awake = True
        with self._lock:
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
        pause = LOOK
        quiet_since = time.monotonic()
        while not self._closed:
            time.sleep(pause)
            now = time.monotonic()
            waiting, handed = self._hand_on(now)
            pause = HANDOFF if handed else LOOK
            if waiting:
                quiet_since = now
            elif now - quiet_since >= QUIET:
                # Going to sleep: a thread that finds the watch asleep wakes it; one that
                # found it awake a moment ago has left a batch the look below sees.
                self._watch_awake = False
                self._watch_wake.clear()
                if not self._hand_on(now)[0]:
                    self._watch_wake.wait()
                self._watch_awake = True
                quiet_since = time.monotonic()

    def _hand_on(self, now: float) -> tuple[bool, bool]:
        """Hand each batch held up for HANDOFF to one more thread. Whether jobs wait, and
        whether a batch was handed on."""
        waiting = handed = False
        for batch in {slot.batch for slot in self._slots}:
            if batch is None or not batch.jobs or not batch.since:
                continue
            waiting = True
            if now - batch.since >= HANDOFF:
                batch.since = now  # one more thread per HANDOFF, while it lasts
                handed = True
                self._put(batch)
        return waiting, handed

    def close(self) -> None:
        """Stop the idle threads; jobs handed over before run first, busy ones finish (they
        are daemons)."""
        self._closed = True
        for loop in list(self._gathering):
            self._dispatch(loop)
        for _ in self._slots:
            self._batches.put(None)
        self._watch_wake.set()
