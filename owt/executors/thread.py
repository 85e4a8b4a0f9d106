"""The in-process executor: sync user code on worker threads, async code on the loop.

A call that outlives its timeout is answered 504 but its thread cannot be killed: it runs to
its end in the background (Python threads cannot be stopped from outside). Use worker
processes (``--isolate`` or ``--env``) when runaway code must really be stopped.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from owt.core.call import Call, Reply
from owt.core.compiling import load_precompiled, precompile
from owt.core.runner import Runner
from owt.core.threads import ThreadPool
from owt.executors.base import Executor

__all__ = ["PRECOMPILE_BYTES", "ThreadExecutor"]

#: Codes longer than this compile in another process (about 0.1 s of GIL-held parsing here).
PRECOMPILE_BYTES = 128 * 1024


class ThreadExecutor(Executor):
    """Runs calls in this process on a pool of up to ``threads`` threads."""

    name = "thread"

    def __init__(self, runner: Runner | None = None, threads: int = 64, **_: Any) -> None:
        self.runner = runner or Runner()
        self.threads = threads
        self.pool = ThreadPool(threads)
        self._compiler: ProcessPoolExecutor | None = None

    async def submit(self, call: Call) -> Reply:
        if len(call.code) > PRECOMPILE_BYTES and not self.runner.knows(call.sha256):
            # Compiling holds the GIL: a large code compiles in another process, so the
            # server's event loop (and every other call) does not wait for it.
            if self._compiler is None:  # spawned, not forked: this process runs threads
                spawn = multiprocessing.get_context("spawn")
                self._compiler = ProcessPoolExecutor(1, mp_context=spawn)
            result = await asyncio.get_running_loop().run_in_executor(
                self._compiler, precompile, call.code, self.runner.filename(call)
            )
            self.runner.adopt(call.sha256, load_precompiled(result))
        return await self.runner.run(call, self.pool.run)

    async def aclose(self) -> None:
        self.pool.close()
        if self._compiler is not None:
            self._compiler.shutdown(wait=False, cancel_futures=True)

    def status(self) -> dict[str, Any]:
        return {
            "executor": self.name,
            "threads": {"max": self.threads, "busy": self.pool.busy},
            **self.runner.status(),
        }
