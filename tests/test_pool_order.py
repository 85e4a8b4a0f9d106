"""The worker pool's queue: calls that waited for a place get it first, in their order."""

from __future__ import annotations

import asyncio
from typing import Any

from owt.executors.process.pool import WorkerPool


class FakeWorker:
    """What the pool reads of a worker process: its calls, and whether it lives."""

    def __init__(self) -> None:
        self.calls: dict[str, asyncio.Queue[Any]] = {}
        self.alive = True
        self.lost = None
        self.served = 0

    def open(self, call_id: str, code: str = "") -> asyncio.Queue[Any]:
        self.served += 1
        self.calls[call_id] = asyncio.Queue()
        return self.calls[call_id]


def test_a_call_arriving_as_a_place_frees_does_not_take_it_from_one_that_waited() -> None:
    async def scenario() -> list[str]:
        pool = WorkerPool(FakeWorker, capacity=1)  # type: ignore[arg-type]
        worker = FakeWorker()
        pool.workers.append(worker)  # type: ignore[arg-type]
        served: list[str] = []

        async def call(name: str) -> None:
            await pool.open(name)
            served.append(name)

        await call("first")
        waited = asyncio.create_task(call("waited"))
        await asyncio.sleep(0)  # it is waiting now
        late = asyncio.create_task(call("late"))  # a new call, to run before "waited" wakes
        worker.calls.pop("first")
        pool._changed(worker)  # type: ignore[arg-type]  # a place frees: "waited" is told
        await asyncio.sleep(0.01)
        assert served == ["first", "waited"]
        worker.calls.pop("waited")
        pool._changed(worker)  # type: ignore[arg-type]
        await asyncio.wait_for(late, 1)
        await waited
        return served

    assert asyncio.run(scenario()) == ["first", "waited", "late"]
