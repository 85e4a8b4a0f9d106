"""The Ray actor's pump for sync streams, without a cluster: one thread pulls the generator."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from owt.core.call import Call
from owt.core.streams import SyncStream
from owt.executors.ray.actor import ThreadPump

CALL = Call(code="", sha256="0" * 64)


def _pump(items: Iterator[object], size: int = 64) -> tuple[ThreadPump, list[int]]:
    running: list[int] = []

    @contextlib.contextmanager
    def user_code() -> Iterator[None]:
        running.append(1)
        try:
            yield
        finally:
            running.pop()

    return ThreadPump(SyncStream(CALL, items), user_code, size), running


def _all(pump: ThreadPump) -> list[list[object]]:
    batches: list[list[object]] = []
    while not batches or isinstance(batches[-1][-1], bytes):
        batches.append(pump.batch())
    return batches


def test_chunks_ready_together_come_as_one_batch_then_the_end() -> None:
    release = threading.Event()

    def chunks() -> Iterator[str]:
        yield "a"
        yield "b"
        release.wait(5)
        yield "c"

    pump, _ = _pump(chunks())
    time.sleep(0.2)  # "a" and "b" are queued by now; "c" waits
    assert pump.batch() == [b"a", b"b"]
    release.set()
    assert _all(pump) == [[b"c", None]]


def test_an_adaptor_error_mid_stream_ends_it_with_its_payload() -> None:
    def chunks() -> Iterator[str]:
        yield "fine"
        raise ValueError("broken")

    pump, _ = _pump(chunks())
    items = [item for batch in _all(pump) for item in batch]
    assert items[0] == b"fine"
    assert isinstance(items[-1], dict) and items[-1]["error"] == "adaptor_error"
    assert "broken" in items[-1]["message"]


def test_close_ends_a_waiting_batch_and_runs_the_generators_finally() -> None:
    closed = threading.Event()

    def endless() -> Iterator[str]:
        try:
            while True:
                yield "x"
        finally:
            closed.set()

    pump, running = _pump(endless(), size=2)  # the queue fills: the pulling thread waits
    assert pump.batch()[0] == b"x"
    pump.close()
    assert closed.wait(5), "the generator was not closed"
    assert pump.batch()[-1] is None
    deadline = time.monotonic() + 5
    while running and time.monotonic() < deadline:  # the thread leaves the user code count
        time.sleep(0.01)
    assert running == []
