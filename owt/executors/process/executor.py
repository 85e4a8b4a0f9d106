"""Worker processes: a pool of long-lived workers of one interpreter per environment.

    executor = ProcessExecutor("/venvs/bark/bin/python", workers=2, env="tts")
    await executor.start()
    reply = await executor.submit(call)
    await executor.aclose()

Each worker (``owt/core/worker.py``, started by path, so the interpreter needs nothing
installed) is a host that runs up to ``options.threads`` calls at once; a pool of N workers
runs N times that and queues up to ``max_queue`` more, then answers 503. Faults cost one
call: a call cancelled by its timeout is answered 504 by the server; should its code still
run :data:`SETTLE_GRACE` later, it *drains* its worker (no new calls; a replacement starts
at once; killed when its other calls end or after ``drain_grace``), while a call only a
little too slow leaves its worker, and the models it holds, serving; a worker that exits,
segfaults or runs out of memory answers 502 ``worker_died`` with its exit code to the calls
that were in it, and is replaced at once; when owt can tell what ended it (a call that
called ``os._exit``, the code in a crash's traceback: :mod:`.ends`), the calls beside it
which had not answered yet run again on the replacement instead (at most
:data:`MAX_RERUNS` times; not one whose body was streaming).

Workers run in their own session (a terminal's Ctrl-C reaches only the server, which stops
them in order) and, on Linux, die with the server even when it is SIGKILLed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import sys
import time
from typing import Any

from owt.core.body import StreamedRequest
from owt.core.call import Call, Reply
from owt.core.errors import CallerGone, Internal, OwtError
from owt.core.frames import pack
from owt.core.libs import lib_environ
from owt.core.pumps import Item, is_end
from owt.core.runner import Runner
from owt.executors.base import BatchStream, Executor, while_caller_stays
from owt.executors.process.ends import WorkerLost
from owt.executors.process.pool import WorkerPool
from owt.executors.process.worker import WORKER_SCRIPT, Frames, WorkerProcess

__all__ = ["WORKER_SCRIPT", "ProcessExecutor", "WorkerStream"]

log = logging.getLogger(__name__)

CLOSE_GRACE = 60.0  # a stream without a timeout may take this long to stop when closed
#: Seconds a call given up on (past its deadline, or a stream closed early) has to end in its
#: worker before the worker is drained.
SETTLE_GRACE = 1.0
#: Times a call runs again after another call (or code) ended its worker under it.
MAX_RERUNS = 16

_ids = itertools.count()


class ProcessExecutor(Executor):
    """An environment run by a pool of worker processes of one Python interpreter."""

    name = "process"
    streams_bodies = True

    def setup(self) -> None:
        opts = self.options
        env = self.env
        self.python = self.python or sys.executable
        self.max_memory = opts.max_memory
        self.timed_out = 0
        self.reruns = 0  # calls run again after another call ended their worker
        command = [self.python, "-u", WORKER_SCRIPT, "--parent", str(os.getpid())]
        command += ["--max-adaptors", str(opts.max_adaptors), "--threads", str(opts.threads)]
        if opts.max_memory:
            command += ["--max-memory", str(opts.max_memory)]
        if opts.log_format != "text":
            command += ["--log-format", opts.log_format]
        environ = {k: v for k, v in os.environ.items() if k != "PYTHONHOME"}
        environ.update(lib_environ(opts.lib))  # --lib folders: the worker's Runner reads them
        self.pool = WorkerPool(
            lambda: WorkerProcess(command, environ, advice=opts.start_advice),
            self.workers,
            capacity=opts.threads,
            max_queue=opts.max_queue,
            max_calls=opts.max_calls,
            drain_grace=opts.drain_grace,
            idle_timeout=opts.idle_timeout,
            label=env,
        )

    async def start(self) -> None:
        await self.pool.fill()

    async def submit(self, call: Call) -> Reply:
        call_id = str(next(_ids))
        try:
            frame = pack(("call", call_id, call))
        except Exception as exc:  # a value owt put in the call that cannot travel: a bug
            log.exception("cannot send a call to a worker")
            return Internal(f"the call cannot be sent to a worker process: {exc}").reply()
        # a streamed body, read as the worker asks: it goes once, so such a call never reruns
        source = call.request.source if isinstance(call.request, StreamedRequest) else None
        for rerun in itertools.count():
            try:
                worker, queue = await self.pool.open(call_id, Runner.filename(call))
            except OwtError as err:
                return err.reply()
            if source is not None:
                worker.bodies[call_id] = source
            try:
                await worker.send(frame)
                message = await self._head(worker, call_id, queue)
            except WorkerLost as lost:
                worker.forget(call_id)
                message = lost
            except BaseException:
                # Cancelled (its deadline, or the server stops): its code may be stuck.
                self.abandon(worker, call_id)
                raise
            if not isinstance(message, WorkerLost):
                break
            # Another call ended the worker under this one, which had not answered yet:
            # it runs again on the replacement (its body, if streamed, is partly read).
            spared = message.spares(call_id, Runner.filename(call))
            if source is not None or rerun >= MAX_RERUNS or not spared:
                return message.error().reply()
            self.reruns += 1
            log.warning(  # logged with the call's request id
                "environment %r: the call runs again on a new worker: another call ended the "
                "one it ran in (%s)",
                self.pool.label,
                message.message,
            )
        if message[0] == "items":  # dropped: its caller went away
            return CallerGone("the caller went away; the call was cancelled").reply()
        _, _, status, headers, body, streamed, info = message
        worker.note(info)
        if not streamed:
            return Reply(status, headers, body)
        return Reply(
            status, headers, body, WorkerStream(self, worker, call_id, queue, call.timeout)
        )

    async def _head(self, worker: WorkerProcess, call_id: str, queue: Frames) -> Any:
        """The call's first frame; should its caller leave meanwhile, the worker drops it
        (a coroutine is cancelled; sync code runs on, counted as busy, costing no worker)."""

        async def drop() -> None:
            if call_id in worker.calls:
                self.pool.left_running += 1
                await _send_quietly(worker, ("close", call_id))

        return await while_caller_stays(queue.get(), drop)

    def abandon(self, worker: WorkerProcess, call_id: str, grace: float = SETTLE_GRACE) -> None:
        """A call given up on mid-run: ask the worker to drop it, and drain the worker unless
        the call ends within ``grace`` (a coroutine stops at its next ``await``; sync code
        that sleeps or spins runs on, and only a new process stops it)."""
        queue = worker.calls.get(call_id)
        if queue is None:
            return
        worker.abandon(call_id)
        self.pool.background(_send_quietly(worker, ("close", call_id)))
        self.pool.background(
            self._drain_unless_ended(worker, call_id, queue, grace), of_the_call=True
        )

    async def _drain_unless_ended(
        self, worker: WorkerProcess, call_id: str, queue: Frames, grace: float
    ) -> None:
        try:
            async with asyncio.timeout(grace):
                while call_id in worker.calls:  # its last frames say it has ended
                    await queue.get()
            return
        except TimeoutError:
            pass
        if worker.draining or not worker.alive or self.pool.closing:
            return  # (shutting down: aclose stops every worker, no drain to tell of)
        log.warning(
            "environment %r: a call given up on still runs %gs later; draining worker %s",
            self.env,
            grace,
            worker.pid,
        )
        self.timed_out += 1
        self.pool.drain(worker, f"a call given up on still ran {grace:g}s after its cancel")

    def refuse_new(self) -> None:
        self.pool.refuse_new()

    async def aclose(self) -> None:
        await self.pool.aclose()

    async def retire(self, reason: str, grace: float | None = None) -> None:
        pool = self.pool
        pool.refuse_new(reason)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(pool.drain_grace if grace is None else grace):
                while pool.busy:
                    await asyncio.sleep(0.05)
        for worker in [*pool.workers, *pool.draining]:
            worker.stopped_because(reason)  # what the calls still in it are told
        await pool.aclose(grace=0.0 if pool.busy else 2.0)

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
            "threads": self.options.threads,
            "busy": pool.busy,
            "starting": pool.starting,
            "queued": len(pool.waiters),
            "max_queue": pool.max_queue,
            "max_calls": pool.max_calls,
            "max_memory": self.max_memory,
            "replaced": pool.replaced,
            "retired": pool.retired,
            "dropped": pool.dropped,
            # calls whose caller left while they ran: a coroutine is cancelled, sync code
            # runs to its end (counted busy meanwhile)
            "left_running": pool.left_running,
            "reruns": self.reruns,
            # workers drained (then killed) because a call ran past its deadline
            "killed_for_timeout": self.timed_out,
            "draining": [w.status() for w in pool.draining],
            "last_error": pool.last_fault,
            "workers": [w.status() for w in pool.workers],
            "adaptors": list(adaptors.values()),
            "kept": sorted(kept),
        }


async def _send_quietly(worker: WorkerProcess, message: tuple[Any, ...]) -> None:
    try:
        await worker.send(message)
    except WorkerLost:
        pass


class WorkerStream(BatchStream):
    """The rest of a streamed reply, in batches as the worker sends them.

    ``aclose()`` before the end asks the worker to drop the call (its generator's ``finally``
    runs) without waiting; should the end not come within what is left of the chunk's
    timeout (and at least :data:`SETTLE_GRACE`), the adaptor is stuck in user code and the
    worker is drained. A client that leaves mid-chunk costs no warm worker.
    """

    def __init__(
        self,
        executor: ProcessExecutor,
        worker: WorkerProcess,
        call_id: str,
        queue: Frames,
        timeout: float | None,
    ) -> None:
        super().__init__()
        self.executor = executor
        self.worker = worker
        self.call_id = call_id
        self.queue = queue
        self.timeout = timeout or CLOSE_GRACE
        self._waiting_since: float | None = None

    async def fetch(self) -> list[Item]:
        self._waiting_since = time.monotonic()
        message = await self.queue.get()
        self._waiting_since = None
        if isinstance(message, WorkerLost):
            self._end()
            raise message.error()
        self.worker.note(message[3])
        items: list[Item] = message[2]
        if not is_end(items):  # this batch is taken: the worker may send one more
            try:
                await self.worker.send(("pull", self.call_id))
            except WorkerLost as lost:
                self._end()
                raise lost.error()
        return items

    async def aclose(self) -> None:
        if self.done:
            return
        self._end()
        # Closed early (its caller left, or a chunk's timeout): its generator has what is
        # left of the chunk's timeout to stop, and at least SETTLE_GRACE.
        since = self._waiting_since or time.monotonic()
        grace = self.timeout - (time.monotonic() - since)
        self.executor.abandon(self.worker, self.call_id, max(grace, SETTLE_GRACE))
