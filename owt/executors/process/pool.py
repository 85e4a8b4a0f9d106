"""The worker processes of one environment, shared by its calls.

``WorkerPool`` keeps ``size`` workers (:class:`~owt.executors.process.worker.WorkerProcess`);
each runs up to ``capacity`` calls at once, and a call goes to the least loaded one. When
every worker is full, calls wait (at most ``max_queue`` of them, then 503). A worker that
dies is replaced at once. A worker that must go — a call in it ran past its deadline, or it
served ``max_calls`` calls — is *drained*: it takes no new call, a replacement starts at
once, and it is killed when its other calls end or ``drain_grace`` seconds pass. Workers idle
for ``idle_timeout`` seconds retire; the next call starts one again.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from owt.core.errors import Busy, CallerGone, OwtError
from owt.executors.base import EnvironmentFailed, unless_caller_goes
from owt.executors.process.ends import WorkerLost
from owt.executors.process.worker import Frames, WorkerProcess

__all__ = ["WorkerPool"]

log = logging.getLogger(__name__)


class WorkerPool:
    """``size`` workers made by ``make``, each running up to ``capacity`` calls at once."""

    def __init__(
        self,
        make: Callable[[], WorkerProcess],
        size: int = 1,
        *,
        capacity: int = 16,
        max_queue: int = 64,
        max_calls: int | None = None,
        drain_grace: float = 10.0,
        idle_timeout: float | None = None,
        label: str = "process",
    ) -> None:
        self.make = make
        self.size = max(1, size)
        self.capacity = max(1, capacity)
        self.max_queue = max_queue
        self.max_calls = max_calls
        self.drain_grace = drain_grace
        self.idle_timeout = idle_timeout
        self.label = label
        self.workers: list[WorkerProcess] = []  # ready and taking calls
        self.draining: list[WorkerProcess] = []  # finishing their calls, then killed
        self.waiters: deque[asyncio.Future[None]] = deque()
        # Places promised to woken waiters that have not taken them yet: a call arriving
        # meanwhile may not take them (calls that waited go first, in their order).
        self.granted = 0
        self.starting = 0
        self.closing = False
        self.replaced = 0
        self.retired = 0
        self.dropped = 0  # calls whose caller left while they waited: never run
        self.left_running = 0  # calls whose caller left while they ran (see the executor)
        self.last_error: str | None = None  # why the last start failed (None once one works)
        self.last_fault: str | None = None  # why a worker last failed to start, died or drained
        self._tasks: set[asyncio.Task[Any]] = set()

    def background(self, coro: Any, *, of_the_call: bool = False) -> asyncio.Task[Any]:
        """Run ``coro`` on its own; its log lines carry the current call's request id only
        when it is that call's work (``of_the_call``), not the pool's (starting a worker)."""
        context = None if of_the_call else contextvars.Context()
        task = asyncio.get_running_loop().create_task(coro, context=context)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def fill(self) -> None:
        """Start every worker; raises if one cannot start (a wrong interpreter, say)."""
        starts = [self._spawn() for _ in range(self.size - len(self.workers) - self.starting)]
        await asyncio.gather(*starts)
        if self.last_error is not None and not self.workers:
            raise EnvironmentFailed(f"environment {self.label!r}: {self.last_error}")
        if self.idle_timeout:
            self.background(self._retire_idle(self.idle_timeout))

    def _spawn(self) -> asyncio.Task[Any]:
        self.starting += 1
        return self.background(self._start_one())

    def _top_up(self) -> None:
        if not self.closing and len(self.workers) + self.starting < self.size:
            self._spawn()

    async def _start_one(self) -> None:
        worker = self.make()
        try:
            await worker.start()
        except Exception as exc:  # whatever stops a start, the calls waiting for it hear why
            lost = exc if isinstance(exc, WorkerLost) else WorkerLost(f"cannot start: {exc}", None)
            if not isinstance(exc, WorkerLost):
                log.exception("environment %r: starting a worker failed", self.label)
            self.last_error = self.last_fault = lost.message
            log.error("environment %r: %s", self.label, lost.message)
            if not self.workers and self.starting == 1:
                self._fail_waiters(lost.error())
            return
        finally:
            self.starting -= 1
        if self.closing:
            await worker.stop()
            return
        self.last_error = None
        worker.on_change = self._changed
        self.workers.append(worker)
        log.info("environment %r: worker %s ready", self.label, worker.pid)
        self._wake()

    def _changed(self, worker: WorkerProcess) -> None:
        """A call ended in ``worker``, or it died."""
        if worker.lost is not None and worker in self.workers:
            self.last_fault = f"worker {worker.pid}: {worker.lost.message}"
            log.warning("environment %r: %s; replacing it", self.label, self.last_fault)
            self.workers.remove(worker)
            self.replaced += 1
            self._top_up()
        self._wake()

    def _fail_waiters(self, err: OwtError) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(err)

    def _free(self) -> int:
        """Places free now and promised to no woken waiter."""
        free = sum(self.capacity - len(w.calls) for w in self.workers if w.alive)
        return free - self.granted

    def _wake(self) -> None:
        """Let as many waiting calls go as there are free places, each promised its place."""
        if not self.waiters:  # the usual case: a call ended and nobody waits
            return
        free = self._free()
        while free > 0 and self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self.granted += 1
                free -= 1

    def _least_loaded(self) -> WorkerProcess | None:
        best: WorkerProcess | None = None
        for worker in self.workers:
            load = len(worker.calls)
            if worker.alive and load < self.capacity and (best is None or load < len(best.calls)):
                best = worker
        return best

    async def open(self, call_id: str, code: str = "") -> tuple[WorkerProcess, Frames]:
        """A worker with room for the call (of the adaptor file ``code``), and the queue its
        frames arrive on.

        Raises Busy when the queue of waiting calls is full or the pool is closing.
        """
        promised = False  # woken with a place kept for this call
        while True:
            if promised:
                self.granted -= 1
            if self.closing:
                raise Busy(f"environment {self.label!r} is shutting down")
            worker = self._least_loaded()
            if worker is not None and (promised or (not self.waiters and self._free() > 0)):
                queue = worker.open(call_id, code)
                if self.max_calls and worker.served >= self.max_calls:
                    log.info("environment %r: recycling worker %s", self.label, worker.pid)
                    self.drain(worker)
                return worker, queue
            if len(self.waiters) >= self.max_queue:
                raise Busy(
                    f"environment {self.label!r} is busy: {len(self.workers)} worker(s) "
                    f"running and {len(self.waiters)} call(s) waiting; try again shortly, or give "
                    "it more room (--worker-threads, processes: --env NAME=PYTHON:N, --max-queue)"
                )
            self._top_up()  # an earlier start failed, or idle workers retired
            if self.waiters and self._free() > 0:
                self._wake()  # places that no waiting call was told of yet
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if promised:  # its place went (a worker died): it stays first in line
                self.waiters.appendleft(waiter)
            else:
                self.waiters.append(waiter)
            promised = False
            try:
                await unless_caller_goes(waiter)
            except CallerGone:
                self.dropped += 1
                if waiter in self.waiters:
                    self.waiters.remove(waiter)
                raise
            except asyncio.CancelledError:
                if waiter in self.waiters:
                    self.waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self.granted -= 1
                    self._wake()  # it was our turn: hand it on
                raise
            promised = True

    def drain(self, worker: WorkerProcess, fault: str | None = None) -> None:
        """Take no new calls in ``worker``; replace it now; kill it when its other calls end
        (those given up on do not count) or after ``drain_grace``. A ``fault`` (why, when it
        is one) shows in the status."""
        if worker.draining:
            return
        if fault is not None:
            self.last_fault = f"worker {worker.pid} drained: {fault}"
        worker.draining = True
        if worker in self.workers:
            self.workers.remove(worker)
            self.replaced += 1
        self.draining.append(worker)
        self._top_up()
        self.background(self._finish_draining(worker))

    async def _finish_draining(self, worker: WorkerProcess) -> None:
        try:
            await asyncio.wait_for(worker.free.wait(), self.drain_grace)
        except TimeoutError:
            log.warning(
                "environment %r: worker %s still busy after %ss; killing it",
                self.label,
                worker.pid,
                self.drain_grace,
            )
            worker.stopped_because(
                "owt stopped the worker: a call in it ran on past its timeout and the worker's "
                f"other calls did not end within --drain-grace ({self.drain_grace:g}s)"
            )
        else:
            log.info(
                "environment %r: drained worker %s has no other calls left; stopping it",
                self.label,
                worker.pid,
            )
        finally:
            worker.kill()
            if worker in self.draining:
                self.draining.remove(worker)
        if worker.reader is not None:
            await asyncio.gather(worker.reader, return_exceptions=True)

    async def _retire_idle(self, timeout: float) -> None:
        """Stop workers no call has used for ``timeout`` seconds; calls start them again."""
        while not self.closing:
            await asyncio.sleep(min(1.0, timeout / 4))
            now = time.monotonic()
            for worker in list(self.workers):
                if not worker.calls and now - worker.idle_since >= timeout:
                    log.info("environment %r: worker %s idle; retiring it", self.label, worker.pid)
                    self.workers.remove(worker)
                    self.retired += 1
                    self.background(worker.stop())

    @property
    def busy(self) -> int:
        """Calls running in this pool's processes, those past their deadline too."""
        return sum(len(w.calls) for w in [*self.workers, *self.draining])

    def refuse_new(self, reason: str | None = None) -> None:
        """Take no new calls (503, saying ``reason``); those waiting are refused now;
        running calls go on."""
        self.closing = True
        self._fail_waiters(Busy(reason or f"environment {self.label!r} is shutting down"))

    async def aclose(self, grace: float = 2.0) -> None:
        self.closing = True
        self._fail_waiters(Busy(f"environment {self.label!r} is shutting down"))
        workers = [*self.workers, *self.draining]
        self.workers, self.draining = [], []
        await asyncio.gather(*(w.stop(grace) for w in workers), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
