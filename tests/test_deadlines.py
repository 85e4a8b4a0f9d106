"""Call deadlines: one timer for every call in flight, timeouts as precise as asyncio's."""

from __future__ import annotations

import asyncio
import time

import pytest

from owt.server.deadlines import Deadlines


async def _sleep_then(seconds: float, value: str, seen: list[str] | None = None) -> str:
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        if seen is not None:
            seen.append("cancelled")
        raise
    return value


def test_a_call_in_time_returns_and_leaves_nothing_behind() -> None:
    async def main() -> None:
        deadlines = Deadlines()
        assert await deadlines.within(1.0, _sleep_then(0.01, "done")) == "done"
        assert await deadlines.within(None, _sleep_then(0.0, "no limit")) == "no limit"
        assert len(deadlines) == 0

    asyncio.run(main())


def test_a_late_call_is_cancelled_and_times_out() -> None:
    async def main() -> None:
        deadlines = Deadlines()
        seen: list[str] = []
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await deadlines.within(0.05, _sleep_then(5, "late", seen))
        assert 0.04 < time.monotonic() - started < 1
        assert seen == ["cancelled"]
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        assert len(deadlines) == 0

    asyncio.run(main())


def test_a_shorter_deadline_after_a_longer_one_fires_on_time() -> None:
    async def main() -> None:
        deadlines = Deadlines()
        slow = asyncio.create_task(deadlines.within(30, _sleep_then(0.3, "slow")))
        await asyncio.sleep(0)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await deadlines.within(0.05, _sleep_then(5, "late"))
        assert time.monotonic() - started < 0.25
        assert await slow == "slow"  # the long deadline still holds for the other call

    asyncio.run(main())


def test_many_calls_share_one_timer() -> None:
    async def main() -> None:
        deadlines = Deadlines()
        calls = [deadlines.within(30, _sleep_then(0.01 * (i + 1), str(i))) for i in range(20)]
        tasks = [asyncio.create_task(c) for c in calls]
        await asyncio.sleep(0)
        assert len(deadlines) == 20
        scheduled = asyncio.get_running_loop()._scheduled  # type: ignore[attr-defined]
        timers = [h for h in scheduled if not h.cancelled()]
        assert len(timers) == 21  # the 20 sleeps and one deadline timer, not 20 more
        assert await asyncio.gather(*tasks) == [str(i) for i in range(20)]
        assert len(deadlines) == 0

    asyncio.run(main())


def test_cancelling_from_outside_stays_a_cancellation() -> None:
    async def main() -> None:
        deadlines = Deadlines()
        task = asyncio.create_task(deadlines.within(30, _sleep_then(5, "never")))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(deadlines) == 0

    asyncio.run(main())


def test_a_call_that_swallows_the_cancel_gets_it_taken_back() -> None:
    async def stubborn() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return "finished anyway"
        return "slept"

    async def main() -> None:
        deadlines = Deadlines()
        assert await deadlines.within(0.02, stubborn()) == "finished anyway"
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        await asyncio.sleep(0.01)  # no stray cancellation arrives later

    asyncio.run(main())
