"""The thread pool: jobs of one loop turn go as a batch, and a slow job does not hold up the
jobs behind it for more than a few milliseconds."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import no_room_after

from owt.core import threads
from owt.core.threads import HANDOFF, ThreadPool


@pytest.fixture
def pool() -> Iterator[ThreadPool]:
    pool = ThreadPool(8, name="test")
    yield pool
    pool.close()


def test_a_turns_jobs_run_on_one_thread_in_order(
    pool: ThreadPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No hand-off however slow this machine is right now: the batch alone is tested here.
    monkeypatch.setattr(threads, "HANDOFF", 60.0)
    ran: list[tuple[int, str]] = []

    def job(i: int) -> int:
        ran.append((i, threading.current_thread().name))
        return i * i

    async def main() -> list[int]:
        return await asyncio.gather(*(pool.run(lambda i=i: job(i)) for i in range(10)))

    assert asyncio.run(main()) == [i * i for i in range(10)]
    assert [i for i, _ in ran] == list(range(10))
    assert len({name for _, name in ran}) == 1  # one wake-up for the whole turn


def test_a_slow_job_hands_the_rest_of_its_batch_to_another_thread(pool: ThreadPool) -> None:
    async def main() -> tuple[float, float]:
        started = time.monotonic()
        slow = asyncio.ensure_future(pool.run(lambda: time.sleep(1.0)))
        quick = [asyncio.ensure_future(pool.run(lambda: time.sleep(0.05))) for _ in range(3)]
        await asyncio.gather(*quick)
        quick_done = time.monotonic() - started
        await slow
        return quick_done, time.monotonic() - started

    quick_done, all_done = asyncio.run(main())
    # The three quick jobs (0.15 s of sleep in all) did not wait for the slow one (1 s).
    assert quick_done < 0.5, quick_done
    assert all_done >= 1.0


def test_sleeping_jobs_of_one_batch_overlap(pool: ThreadPool) -> None:
    """Eight jobs that sleep 0.3 s each, handed over in one turn: other threads take them
    while the first sleep, so they take far less than 8 x 0.3 s together."""

    async def main() -> float:
        started = time.monotonic()
        await asyncio.gather(*(pool.run(lambda: time.sleep(0.3)) for _ in range(8)))
        return time.monotonic() - started

    elapsed = asyncio.run(main())
    assert elapsed < 8 * 0.3 / 2, elapsed
    assert HANDOFF < 0.05


def test_errors_come_back_to_their_own_caller_and_busy_returns_to_zero(pool: ThreadPool) -> None:
    def fail() -> None:
        raise ValueError("no")

    async def main() -> list[object]:
        return await asyncio.gather(pool.run(lambda: 1), pool.run(fail), return_exceptions=True)

    first, second = asyncio.run(main())
    assert first == 1
    assert isinstance(second, ValueError)
    assert pool.busy == 0


def test_submitted_jobs_run_and_a_failure_is_logged(
    pool: ThreadPool, caplog: pytest.LogCaptureFixture
) -> None:
    done = threading.Event()

    def fail() -> None:
        raise ValueError("submitted")

    pool.submit(fail)
    pool.submit(done.set)
    assert done.wait(5)
    deadline = time.monotonic() + 5
    while "a job failed" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "a job failed" in caplog.text


def test_a_closed_pool_refuses_new_jobs(pool: ThreadPool) -> None:
    pool.close()
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)

    async def main() -> None:
        await pool.run(lambda: None)

    with pytest.raises(RuntimeError):
        asyncio.run(main())


def _wakes(thread: threading.Thread) -> int:
    """How many times ``thread`` went to sleep and woke (Linux counts them per thread)."""
    status = f"/proc/self/task/{thread.native_id}/status"
    with open(status) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("voluntary_"))


def test_the_watch_sleeps_when_no_job_waits_and_wakes_for_the_next_slow_one(
    pool: ThreadPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threads, "QUIET", 0.05)

    async def slow_batch() -> float:
        started = time.monotonic()
        slow = asyncio.ensure_future(pool.run(lambda: time.sleep(0.5)))
        await asyncio.gather(*(pool.run(lambda: None) for _ in range(3)))
        quick_done = time.monotonic() - started
        await slow
        return quick_done

    assert asyncio.run(slow_batch()) < 0.25  # handed on: the watch was awake or woke
    watcher = pool._watcher
    assert watcher is not None
    time.sleep(0.3)  # QUIET has passed: the watch sleeps until a job waits again
    before = _wakes(watcher)
    time.sleep(0.3)
    assert _wakes(watcher) - before <= 1  # not looking every LOOK (10 ms) for nothing
    assert asyncio.run(slow_batch()) < 0.25  # and it wakes for the next held-up batch


def test_a_thread_that_cannot_start_leaves_the_work_to_those_running(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pool = ThreadPool(8, name="tight")
    monkeypatch.setattr(threading.Thread, "start", no_room_after(2))
    done: list[int] = []
    try:
        # Each submit is a batch of its own that wants a thread; only two can start.
        for i in range(6):
            pool.submit(lambda i=i: (time.sleep(0.05), done.append(i)))
        deadline = time.monotonic() + 5
        while len(done) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(done) == list(range(6))  # all ran, on the two threads there are
        assert len(pool._slots) == 2  # no slot without a thread behind it
        said = [r.getMessage() for r in caplog.records]
        warnings = [message for message in said if "no room for thread" in message]
        assert len(warnings) == 1 and "--worker-threads" in warnings[0]  # said once
    finally:
        pool.close()


def test_a_pool_where_no_thread_can_start_fails_its_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = ThreadPool(4, name="none")
    monkeypatch.setattr(threading.Thread, "start", no_room_after(0))

    async def main() -> None:
        with pytest.raises(RuntimeError, match="no thread could start"):
            await asyncio.wait_for(pool.run(lambda: 1), 5)

    try:
        asyncio.run(main())
        with pytest.raises(RuntimeError, match="no thread could start"):
            pool.submit(lambda: None)
    finally:
        pool.close()
