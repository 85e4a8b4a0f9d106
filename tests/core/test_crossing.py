"""Coroutines run on another thread's loop: results, errors, cancels and contexts cross."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Iterator

import pytest

from owt.core.crossing import Crossing

NAME: contextvars.ContextVar[str] = contextvars.ContextVar("name", default="-")


@pytest.fixture
def crossing() -> Iterator[Crossing]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield Crossing(loop)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_results_errors_and_contexts_cross(crossing: Crossing) -> None:
    async def where(name: str) -> tuple[str, str]:
        await asyncio.sleep(0.01)
        if name == "bad":
            raise ValueError(name)
        return NAME.get(), threading.current_thread().name

    async def one(name: str) -> tuple[str, str]:
        NAME.set(name)  # each caller's own context goes with its coroutine
        return await crossing.run(where(name))

    async def main() -> list[object]:
        return await asyncio.gather(
            *(one(name) for name in ("a", "b", "bad", "c")), return_exceptions=True
        )

    a, b, bad, c = asyncio.run(main())
    assert isinstance(bad, ValueError)
    assert [a[0], b[0], c[0]] == ["a", "b", "c"]  # type: ignore[index]
    assert a[1] != threading.current_thread().name  # type: ignore[index]


def test_coroutines_of_one_turn_run_at_once_over_there(crossing: Crossing) -> None:
    async def main() -> float:
        started = time.monotonic()
        await asyncio.gather(*(crossing.run(asyncio.sleep(0.3)) for _ in range(10)))
        return time.monotonic() - started

    assert asyncio.run(main()) < 1.5


def test_cancelling_here_cancels_over_there(crossing: Crossing) -> None:
    stopped = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            stopped.set()

    async def main() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await crossing.run(forever())

    asyncio.run(main())
    assert stopped.wait(5)


def test_a_coroutine_cancelled_over_there_raises_cancelled_here(crossing: Crossing) -> None:
    async def cancelled() -> None:
        raise asyncio.CancelledError

    async def main() -> bool:
        try:
            await crossing.run(cancelled())
        except asyncio.CancelledError:
            task = asyncio.current_task()
            return task is not None and task.cancelling() == 0  # not cancelled here
        return False

    assert asyncio.run(main())
