"""Worker processes: a pool of long-lived workers of one interpreter per environment.

    executor = ProcessExecutor("/venvs/bark/bin/python", workers=2, env="tts")
    await executor.start()
    reply = await executor.submit(call)
    await executor.aclose()

Each worker (``owt/core/worker.py``, started by path, so the interpreter needs nothing
installed) runs one call at a time; a pool of N workers runs N calls at once and queues up to
``max_queue`` more, then answers 503. Faults cost one call: a call cancelled by its timeout
kills its worker (it is stuck in user code); a worker that exits, segfaults or runs out of
memory answers 502 ``worker_died`` with its exit code; either way a replacement starts at once
and the next call waits for it. A worker that dies while idle is replaced too, and one that
has served ``max_calls`` calls is retired and replaced.

Workers run in their own session (a terminal's Ctrl-C reaches only the server, which stops
them in order) and, on Linux, die with the server even when it is SIGKILLed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import sys
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from owt.core.call import Call, Reply
from owt.core.frames import HEADER, pack
from owt.exceptions import Busy, OwtError, WorkerDied, error_from_payload
from owt.executors.base import Executor

__all__ = ["WORKER_SCRIPT", "ProcessExecutor", "WorkerLost", "WorkerPool", "WorkerProcess"]

log = logging.getLogger(__name__)

WORKER_SCRIPT = str(Path(__file__).resolve().parent.parent / "core" / "worker.py")
START_TIMEOUT = 60.0  # a worker of a large virtualenv may take a while to import
STOP_GRACE = 2.0  # after its input closes, a worker has this long to exit
CLOSE_GRACE = 60.0  # a stream without a timeout may take this long to stop when closed
MIN_GRACE = 0.1  # less time than this left before the call's timeout: kill, don't close


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


class ProcessExecutor(Executor):
    """An environment run by a pool of worker processes of one Python interpreter."""

    name = "process"

    def __init__(
        self,
        python: str | None = None,
        workers: int = 1,
        *,
        env: str = "main",
        max_queue: int = 64,
        max_memory: int | None = None,
        max_calls: int | None = None,
        max_adaptors: int = 256,
        **_: Any,
    ) -> None:
        self.python = python or sys.executable
        self.env = env
        self.max_memory = max_memory
        command = [self.python, "-u", WORKER_SCRIPT, "--parent", str(os.getpid())]
        command += ["--max-adaptors", str(max_adaptors)]
        if max_memory:
            command += ["--max-memory", str(max_memory)]
        environ = {k: v for k, v in os.environ.items() if k != "PYTHONHOME"}
        self.pool = WorkerPool(
            lambda: WorkerProcess(command, environ),
            workers,
            max_queue=max_queue,
            max_calls=max_calls,
            label=env,
        )

    async def start(self) -> None:
        await self.pool.fill()

    async def submit(self, call: Call) -> Reply:
        try:
            frame = pack(("call", call))
        except Exception as exc:  # a value owt put in the call that cannot travel: a bug
            log.exception("cannot send a call to a worker")
            return _error_reply(OwtError(f"the call cannot be sent to a worker process: {exc}"))
        try:
            worker = await self.pool.acquire()
        except OwtError as err:
            return _error_reply(err)
        try:
            message = await worker.begin(frame)
        except WorkerLost as lost:
            self.pool.release(worker)
            return _error_reply(lost.error())
        except BaseException:
            # Cancelled (the call's timeout): the worker is stuck in user code.
            log.warning("environment %r: killing worker %s (call cancelled)", self.env, worker.pid)
            worker.kill()
            self.pool.release(worker)
            raise
        if message[0] == "reply":
            _, status, headers, body, info = message
            worker.note(info)
            self.pool.release(worker)
            return Reply(status, headers, body)
        _, status, headers, body = message
        return Reply(status, headers, body, WorkerStream(worker, self.pool, call.timeout))

    async def aclose(self) -> None:
        await self.pool.aclose()

    def status(self) -> dict[str, Any]:
        pool = self.pool
        adaptors: dict[str, Any] = {}
        kept: set[str] = set()
        for worker in pool.workers:
            for adaptor in worker.warm.get("adaptors", []):
                adaptors.setdefault(adaptor["sha256"], adaptor)
            kept.update(worker.warm.get("kept", []))
        info = pool.workers[0].info if pool.workers else {}
        return {
            "executor": self.name,
            "python": self.python,
            "version": info.get("python"),
            "prefix": info.get("prefix"),
            "size": pool.size,
            "starting": pool.starting,
            "queued": len(pool.waiters),
            "max_queue": pool.max_queue,
            "max_calls": pool.max_calls,
            "max_memory": self.max_memory,
            "replaced": pool.replaced,
            "last_error": pool.last_error,
            "workers": [w.status() for w in pool.workers],
            "adaptors": list(adaptors.values()),
            "kept": sorted(kept),
        }


def _error_reply(err: OwtError) -> Reply:
    return Reply(err.status, err.headers(), err.body())


class WorkerStream(AsyncIterator[bytes]):
    """The rest of a streamed reply, chunk by chunk as the worker sends it.

    The worker stays checked out until the stream ends. ``aclose()`` before the end asks the
    worker to close the generator (its ``finally`` runs) and waits for the end — unless the
    wait for a chunk was cancelled after the call's timeout had passed: then the worker is
    stuck in user code and is killed. A client that leaves mid-chunk, well within the
    timeout, costs no warm worker.
    """

    def __init__(self, worker: WorkerProcess, pool: WorkerPool, timeout: float | None) -> None:
        self.worker = worker
        self.pool = pool
        self.timeout = timeout or CLOSE_GRACE
        self.done = False
        self._waiting_since: float | None = None

    def _finish(self) -> None:
        if not self.done:
            self.done = True
            self.pool.release(self.worker)

    async def __anext__(self) -> bytes:
        if self.done:
            raise StopAsyncIteration
        self._waiting_since = time.monotonic()
        try:
            message = await self.worker.receive()
        except WorkerLost as lost:
            self._finish()
            raise lost.error()
        self._waiting_since = None
        if message[0] == "chunk":
            chunk: bytes = message[1]
            return chunk
        _, error, info = message
        self.worker.note(info)
        self._finish()
        if error is not None:
            raise error_from_payload(error)
        raise StopAsyncIteration

    async def aclose(self) -> None:
        if self.done:
            return
        since = self._waiting_since or time.monotonic()
        grace = self.timeout - (time.monotonic() - since)
        try:
            if grace < MIN_GRACE:
                log.warning(
                    "worker %s: no chunk within %ss; killing it", self.worker.pid, self.timeout
                )
                self.worker.kill()
            else:
                await self.worker.send(("close",))
                await asyncio.wait_for(self._drain(), grace)
        except (WorkerLost, TimeoutError):
            self.worker.kill()
        except BaseException:
            self.worker.kill()
            raise
        finally:
            self._finish()

    async def _drain(self) -> None:
        while True:
            message = await self.worker.receive()
            if message[0] == "end":
                self.worker.note(message[2])
                return

    def __del__(self) -> None:
        # Dropped without aclose (a bug somewhere above): never leave the worker checked out.
        if not self.done:
            self.worker.kill()
            with contextlib.suppress(RuntimeError):  # no running loop to start a replacement
                self._finish()
