"""The in-process executor: sync user code on anyio worker threads, async code on the loop.

A call that outlives its timeout is answered 504 but its thread cannot be killed: it runs to
its end in the background (Python threads cannot be stopped from outside). Use worker
processes (``--isolate`` or ``--env``) when runaway code must really be stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from owt.core.call import Call, Reply
from owt.core.runner import Runner
from owt.executors.base import Executor

__all__ = ["ThreadExecutor"]

T = TypeVar("T")


class ThreadExecutor(Executor):
    name = "thread"

    def __init__(self, runner: Runner | None = None, threads: int = 64, **_: Any) -> None:
        self.runner = runner or Runner()
        self.limiter = anyio.CapacityLimiter(threads)

    async def _offload(self, fn: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(fn, abandon_on_cancel=True, limiter=self.limiter)

    async def submit(self, call: Call) -> Reply:
        return await self.runner.run(call, self._offload)

    def status(self) -> dict[str, Any]:
        return {
            "executor": self.name,
            "threads": {
                "total": self.limiter.total_tokens,
                "busy": self.limiter.borrowed_tokens,
            },
            **self.runner.status(),
        }
