"""The worker processes of one environment: each process, and the pool that shares them.

``WorkerProcess`` starts ``owt/core/worker.py`` with an interpreter, waits for its READY frame
and exchanges frames with it (see :mod:`owt.core.frames`); ``WorkerPool`` keeps ``size`` of
them, hands an idle one to each call (queueing at most ``max_queue`` calls), and replaces any
that dies, is killed or has served ``max_calls`` calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import time
from collections import deque
from pathlib import Path
from typing import Any

import owt.core
from owt.core.errors import Busy, OwtError, WorkerDied
from owt.core.frames import HEADER, pack

__all__ = ["WORKER_SCRIPT", "WorkerLost", "WorkerPool", "WorkerProcess", "describe_exit"]

log = logging.getLogger(__name__)

WORKER_SCRIPT = str(Path(owt.core.__file__).resolve().with_name("worker.py"))
START_TIMEOUT = 60.0  # a worker of a large virtualenv may take a while to import
STOP_GRACE = 2.0  # after its input closes, a worker has this long to exit


class WorkerLost(Exception):
    """The worker process is gone (or never became ready); ``exit_code`` says how it ended."""

    def __init__(self, message: str, exit_code: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def error(self) -> WorkerDied:
        return WorkerDied(self.message, exit_code=self.exit_code)


def describe_exit(code: int | None) -> str:
    if code is None:
        return "the worker process stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the worker process was killed by {name} during the call"
    return f"the worker process exited with code {code} during the call"


class WorkerProcess:
    """One worker process and the pipes to it, seen from the server."""

    def __init__(self, command: list[str], environ: dict[str, str] | None = None) -> None:
        self.command = command
        self.environ = environ
        self.proc: asyncio.subprocess.Process | None = None
        self.info: dict[str, Any] = {}
        self.warm: dict[str, Any] = {}
        self.calls = 0
        self.busy = False
        self.broken = False
        self.started = time.monotonic()
        self._dying: str | None = None
        self._size: int | None = None  # of a frame whose header is read and body is not

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None and not self.broken

    async def start(self, timeout: float = START_TIMEOUT) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # the worker's stderr (and its fd 1) is the server's log
            start_new_session=True,
            env=self.environ,
        )
        try:
            message = await asyncio.wait_for(self.receive(), timeout)
        except WorkerLost as lost:
            raise WorkerLost(
                f"{self.command[0]} exited with code {lost.exit_code} before it was ready "
                "(it must be Python >= 3.10; see the log above)",
                lost.exit_code,
            )
        except BaseException:  # too slow, or cancelled: no half-started process stays behind
            self.kill()
            raise
        if message[0] != "ready":
            self.kill()
            raise WorkerLost(f"{self.command[0]} did not start an owt worker", None)
        self.info = message[1]
        self.started = time.monotonic()

    async def send(self, message: tuple[Any, ...] | bytes) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(message if isinstance(message, bytes) else pack(message))
            await self.proc.stdin.drain()
        except (ConnectionError, RuntimeError):
            raise await self.lost()

    async def receive(self) -> tuple[Any, ...]:
        """The next message. Safe to cancel: a frame is consumed whole or not at all."""
        assert self.proc is not None and self.proc.stdout is not None
        stdout = self.proc.stdout
        try:
            if self._size is None:
                (self._size,) = HEADER.unpack(await stdout.readexactly(HEADER.size))
            data = await stdout.readexactly(self._size)
        except (asyncio.IncompleteReadError, ConnectionError):
            raise await self.lost()
        self._size = None
        message: tuple[Any, ...] = pickle.loads(data)
        if message[0] == "dying":
            self._dying = message[1]
            raise await self.lost()
        return message

    async def lost(self) -> WorkerLost:
        """The worker's output ended: wait for its exit code and say what happened."""
        assert self.proc is not None
        self.broken = True
        try:
            code = await asyncio.wait_for(self.proc.wait(), STOP_GRACE)
        except TimeoutError:
            self.kill()
            code = await self.proc.wait()
        return WorkerLost(self._dying or describe_exit(code), code)

    async def begin(self, frame: bytes) -> tuple[Any, ...]:
        """Send a packed call; its ``reply`` or the ``head`` of its stream."""
        self.calls += 1
        await self.send(frame)
        return await self.receive()

    def note(self, info: dict[str, Any] | None) -> None:
        if info is not None:
            self.warm = info

    def kill(self) -> None:
        """SIGKILL the worker and anything it started in its session."""
        self.broken = True
        if self.proc is None:
            return
        try:  # its session lives on while anything it started does, even after it exited
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            if self.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()

    async def stop(self) -> None:
        """Close its input (it exits after the call in hand), then kill it after a grace."""
        if self.proc is None:
            return
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), STOP_GRACE)
        except TimeoutError:
            log.warning("worker %s did not stop in %ss; killing it", self.pid, STOP_GRACE)
        self.kill()  # also whatever it left in its session
        await self.proc.wait()

    def status(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "busy": self.busy,
            "calls": self.calls,
            "rss": _rss(self.pid),
            "uptime": round(time.monotonic() - self.started, 3),
            "kept": self.warm.get("kept", []),
            "adaptors": len(self.warm.get("adaptors", [])),
        }


def _rss(pid: int | None) -> int | None:
    try:
        with open(f"/proc/{pid}/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class WorkerPool:
    """``size`` workers made by ``make``; calls wait for an idle one (at most ``max_queue``)."""

    def __init__(
        self,
        make: Any,
        size: int = 1,
        *,
        max_queue: int = 64,
        max_calls: int | None = None,
        label: str = "process",
    ) -> None:
        self.make = make
        self.size = max(1, size)
        self.max_queue = max_queue
        self.max_calls = max_calls
        self.label = label
        self.workers: list[WorkerProcess] = []
        self.idle: deque[WorkerProcess] = deque()
        self.waiters: deque[asyncio.Future[WorkerProcess]] = deque()
        self.starting = 0
        self.closing = False
        self.replaced = 0
        self.last_error: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()  # starts and watches: cancelled on close
        self._stops: set[asyncio.Task[Any]] = set()  # retiring workers: awaited on close

    def _background(
        self, coro: Any, tasks: set[asyncio.Task[Any]] | None = None
    ) -> asyncio.Task[Any]:
        group = self._tasks if tasks is None else tasks
        task = asyncio.get_running_loop().create_task(coro)
        group.add(task)
        task.add_done_callback(group.discard)
        return task

    async def fill(self) -> None:
        """Start every worker; raises if one cannot start (a wrong interpreter, say)."""
        starts = [self._spawn() for _ in range(self.size - len(self.workers) - self.starting)]
        await asyncio.gather(*starts)
        if self.last_error is not None and not self.workers:
            raise RuntimeError(f"environment {self.label!r}: {self.last_error}")

    def _spawn(self) -> asyncio.Task[Any]:
        self.starting += 1
        return self._background(self._start_one())

    async def _start_one(self) -> None:
        worker = self.make()
        try:
            await worker.start()
        except WorkerLost as lost:
            self.starting -= 1
            self.last_error = lost.message
            log.error("environment %r: %s", self.label, lost.message)
            if not self.workers and not self.starting:
                self._fail_waiters(lost.error())
            return
        except BaseException:
            self.starting -= 1
            raise
        self.starting -= 1
        if self.closing:
            await worker.stop()
            return
        self.last_error = None
        self.workers.append(worker)
        log.info("environment %r: worker %s ready", self.label, worker.pid)
        self._background(self._watch(worker))
        self._give(worker)

    async def _watch(self, worker: WorkerProcess) -> None:
        assert worker.proc is not None
        code = await worker.proc.wait()
        worker.kill()  # whatever it started in its session goes with it
        if worker in self.idle:
            self.idle.remove(worker)
            log.warning(
                "environment %r: idle worker %s exited (%s); replacing it",
                self.label,
                worker.pid,
                code,
            )
            self._discard(worker)

    def _discard(self, worker: WorkerProcess) -> None:
        worker.kill()
        if worker in self.workers:
            self.workers.remove(worker)
            self.replaced += 1
            if not self.closing and len(self.workers) + self.starting < self.size:
                self._spawn()

    def _fail_waiters(self, err: OwtError) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(err)

    def _give(self, worker: WorkerProcess) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                return
        worker.busy = False
        self.idle.append(worker)

    async def acquire(self) -> WorkerProcess:
        """An idle worker, marked busy; raises Busy when the queue is full."""
        while True:
            if self.closing:
                raise Busy(f"environment {self.label!r} is shutting down")
            while self.idle:
                worker = self.idle.popleft()
                if worker.alive:
                    worker.busy = True
                    return worker
                self._discard(worker)
            if len(self.waiters) >= self.max_queue:
                raise Busy(
                    f"environment {self.label!r} is busy: {len(self.workers)} worker(s) "
                    f"running and {len(self.waiters)} call(s) waiting"
                )
            if len(self.workers) + self.starting < self.size:
                self._spawn()  # an earlier start failed: try again for this call
            waiter = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            try:
                worker = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self.release(waiter.result())  # it was handed to us: hand it on
                elif waiter in self.waiters:
                    self.waiters.remove(waiter)
                raise
            if worker.alive:
                worker.busy = True
                return worker
            self._discard(worker)

    def release(self, worker: WorkerProcess) -> None:
        """Take a worker back after a call: reuse it, recycle it, or replace it if it died."""
        worker.busy = False
        if not worker.alive or self.closing:
            self._discard(worker)
        elif self.max_calls and worker.calls >= self.max_calls:
            log.info("environment %r: recycling worker %s", self.label, worker.pid)
            self.workers.remove(worker)
            self._background(worker.stop(), self._stops)
            if len(self.workers) + self.starting < self.size:
                self._spawn()
        else:
            self._give(worker)

    async def aclose(self) -> None:
        self.closing = True
        self._fail_waiters(Busy(f"environment {self.label!r} is shutting down"))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        workers, self.workers = self.workers, []
        self.idle.clear()
        stops = [*self._stops, *(w.stop() for w in workers)]
        await asyncio.gather(*stops, return_exceptions=True)
