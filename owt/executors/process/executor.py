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
import sys
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from owt.core.call import Call, Reply
from owt.core.errors import Internal, OwtError, error_from_payload
from owt.core.frames import pack
from owt.core.libs import lib_environ
from owt.executors.base import Executor
from owt.executors.process.pool import WORKER_SCRIPT, WorkerLost, WorkerPool, WorkerProcess

__all__ = ["WORKER_SCRIPT", "ProcessExecutor", "WorkerStream"]

log = logging.getLogger(__name__)

CLOSE_GRACE = 60.0  # a stream without a timeout may take this long to stop when closed
MIN_GRACE = 0.1  # less time than this left before the call's timeout: kill, don't close


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
        lib: Sequence[str] = (),
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
        environ.update(lib_environ(lib))  # --lib folders: the worker's Runner reads them
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
            return Internal(f"the call cannot be sent to a worker process: {exc}").reply()
        try:
            worker = await self.pool.acquire()
        except OwtError as err:
            return err.reply()
        try:
            message = await worker.begin(frame)
        except WorkerLost as lost:
            self.pool.release(worker)
            return lost.error().reply()
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
