"""The in-process executor (``--in-process``): calls run on threads inside the server.

A host (:mod:`owt.core.host`) lives in the server process: sync user code runs on its
threads, ``async def`` on its own event loop thread, so a blocking coroutine stalls neither
the server's loop nor ``/_owt/health`` (only other ``async def`` calls). A sync adaptor
takes a shorter road: its code goes straight from the server's loop to a host thread and
back.

Nothing here can stop a runaway call: a call past its timeout is answered 504, but its
thread runs to its end (Python threads cannot be stopped from outside), and a crash
(``os._exit``, a segfault) takes the whole server with it. The default, worker processes,
survives both.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
from collections.abc import Coroutine
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from owt.core.body import StreamedRequest
from owt.core.call import Call, Reply
from owt.core.compiling import load_precompiled, precompile
from owt.core.errors import CallerGone, OwtError
from owt.core.host import Head, Host
from owt.core.pumps import Item, SyncPump
from owt.core.runner import Runner
from owt.core.streams import SyncStream
from owt.executors.base import BatchStream, Executor, while_caller_stays

__all__ = ["PRECOMPILE_BYTES", "HostStream", "PumpStream", "ThreadExecutor"]

_ids = itertools.count()

#: Codes longer than this compile in another process (about 0.1 s of GIL-held parsing here).
PRECOMPILE_BYTES = 128 * 1024


class ThreadExecutor(Executor):
    """Runs calls in this process: ``options.threads`` threads and one loop thread."""

    name = "thread"
    streams_bodies = True

    def setup(self) -> None:
        self.runner = Runner(self.options.max_adaptors, lib=self.options.lib)
        self.host = Host(self.runner, self.options.threads, name="owt-in-process")
        self._compiler: ProcessPoolExecutor | None = None

    async def submit(self, call: Call) -> Reply:
        if isinstance(call.request, StreamedRequest):
            call.request.attach(call.request.source.reader())
        target = self.runner.cached(call)
        if target is None:  # compile on a thread (top-level code is user code)
            if len(call.code) > PRECOMPILE_BYTES and not self.runner.knows(call.sha256):
                await self._precompile(call)
            try:
                target = await self.host.pool.run(lambda: self.runner.target(call))
            except OwtError as err:
                return err.reply()
        if not target.is_async:  # sync code: from this loop to a host thread and back
            return self._pumped(await self._sync(call))
        call_id = str(next(_ids))
        return await self._on_host(call_id, self.host.begin(call_id, call))

    async def _sync(self, call: Call) -> Reply:
        """A sync call given up on (its caller left, its deadline passed) runs on, as a thread
        cannot be stopped; told so, what it waits for may let it go (its ``@batch`` item)."""

        async def drop() -> None:
            call.given_up = True

        try:
            return await while_caller_stays(
                self.runner.run(call, self.host.pool.run, self._finish), drop
            )
        except asyncio.CancelledError:
            call.given_up = True
            raise

    async def _finish(self, call: Call, result: Any) -> Reply:
        """What a sync function returned that is async (an async generator, a coroutine) is
        settled and streamed on the host's loop: this loop never runs user code."""
        call_id = str(next(_ids))
        return await self._on_host(call_id, self.host.finish(call_id, call, result))

    async def _on_host(self, call_id: str, begun: Coroutine[Any, Any, Head]) -> Reply:
        """A call's head from the host's loop, its streamed rest as a :class:`HostStream`."""
        host = self.host
        head = host.crossing.run(begun)

        async def drop() -> None:  # its caller left: cancel it on the host's loop
            host.soon(host.drop(call_id))

        try:
            status, headers, body, streamed, _ = await while_caller_stays(head, drop)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and not task.cancelling():  # dropped there: its caller left
                return CallerGone("the caller went away; the call was cancelled").reply()
            host.soon(host.drop(call_id))
            raise
        if not streamed:
            return Reply(status, headers, body)
        return Reply(status, headers, body, HostStream(host, call_id))

    def _pumped(self, reply: Reply) -> Reply:
        """A sync generator's rest runs on one host thread from here on, its chunks handed
        to this loop as they come (not one round trip to a thread per chunk)."""
        sync = getattr(reply.stream, "stream", None)
        if isinstance(sync, SyncStream):
            reply.stream = PumpStream(SyncPump(sync, self.host.pool, contextlib.nullcontext))
        return reply

    async def _precompile(self, call: Call) -> None:
        """Compiling holds the GIL: a large code compiles in another process, so the server's
        event loop (and every other call) does not wait for it; the runner only loads it."""
        if self._compiler is None:  # spawned, not forked: this process runs threads
            spawn = multiprocessing.get_context("spawn")
            self._compiler = ProcessPoolExecutor(1, mp_context=spawn)
        result = await asyncio.get_running_loop().run_in_executor(
            self._compiler, precompile, call.code, self.runner.filename(call)
        )
        self.runner.adopt(call.sha256, load_precompiled(result))

    async def aclose(self) -> None:
        self.host.close()
        if self._compiler is not None:
            self._compiler.shutdown(wait=False, cancel_futures=True)

    def status(self) -> dict[str, Any]:
        host = self.host.status()
        return {
            "executor": self.name,
            "threads": {"max": self.options.threads, "busy": self.host.pool.busy},
            "busy": max(host["calls"], self.host.pool.busy),
            "compiles": host["compiles"],
            "adaptors": host["adaptors"],
            "kept": host["kept"],
        }


class HostStream(BatchStream):
    """The rest of a stream that a host in this process pumps on its own loop."""

    def __init__(self, host: Host, call_id: str) -> None:
        super().__init__()
        self.host = host
        self.call_id = call_id

    async def fetch(self) -> list[Item]:
        return await self.host.crossing.run(self.host.batch(self.call_id))

    async def aclose(self) -> None:
        if not self.done:
            self._end()
            self.host.soon(self.host.drop(self.call_id))


class PumpStream(BatchStream):
    """The rest of a sync stream that a :class:`SyncPump` pulls on a host thread."""

    def __init__(self, pump: SyncPump) -> None:
        super().__init__()
        self.pump = pump

    async def fetch(self) -> list[Item]:
        return await self.pump.batch()

    async def aclose(self) -> None:
        if not self.done:
            self._end()
            await self.pump.close()
