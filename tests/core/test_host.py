"""The host: several calls at once, streams pumped in batches, drops that close generators."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import no_room_once

from owt.core.call import Call, Request
from owt.core.host import Host
from owt.core.pumps import Item, is_end
from owt.core.runner import Runner
from owt.server.protocol import sha256_of


def make(code: str, fn: str = "run", **kwargs: Any) -> Call:
    return Call(code, sha256_of(code), fn_name=fn, kwargs=kwargs, request=Request(path="/x"))


@pytest.fixture
def host() -> Iterator[Host]:
    host = Host(Runner(), threads=4)
    yield host
    host.close()


def _all(host: Host, call_id: str) -> list[list[Item]]:
    batches: list[list[Item]] = []
    while not batches or not is_end(batches[-1]):
        batches.append(host.wait(host.batch(call_id)))
    return batches


def test_sync_and_async_calls_run_at_once(host: Host) -> None:
    sync = make("import time\ndef run():\n    time.sleep(0.5)\n    return 's'")
    asynchronous = make("import asyncio\nasync def run():\n    await asyncio.sleep(0.5)\n")
    started = time.monotonic()
    futures = [host.soon(host.begin(str(i), sync)) for i in range(4)]
    futures += [host.soon(host.begin(f"a{i}", asynchronous)) for i in range(4)]
    heads = [f.result(10) for f in futures]
    assert [h[0] for h in heads] == [200] * 8
    assert time.monotonic() - started < 1.8  # together, not 4 s one after another


def test_chunks_ready_together_come_as_one_batch_then_the_end(host: Host) -> None:
    release = threading.Event()
    code = "def run(release):\n    yield 'a'\n    yield 'b'\n    yield 'c'\n"
    code += "    release.wait(5)\n    yield 'd'"
    call = make(code)
    call.kwargs = {"release": release}
    head = host.wait(host.begin("s", call))
    assert head[2] == b"a" and head[3] is True
    time.sleep(0.3)  # "b" and "c" are pumped by now; "d" waits
    assert host.wait(host.batch("s")) == [b"b", b"c"]
    release.set()
    assert [item for batch in _all(host, "s") for item in batch] == [b"d", None]


def test_an_adaptor_error_mid_stream_ends_it_with_its_payload(host: Host) -> None:
    seen: list[dict[str, Any]] = []
    host.on_error = seen.append
    code = "def run():\n    yield 'fine'\n    yield 'more'\n    raise ValueError('broken')"
    assert host.wait(host.begin("e", make(code)))[2] == b"fine"
    items = [item for batch in _all(host, "e") for item in batch]
    assert items[0] == b"more"
    assert isinstance(items[-1], dict) and items[-1]["error"] == "adaptor_error"
    assert "broken" in items[-1]["message"] and seen == [items[-1]]


def test_drop_ends_a_stream_and_runs_the_generators_finally(host: Host) -> None:
    closed = threading.Event()
    code = "def run(closed):\n    try:\n        while True:\n            yield 'x'\n"
    code += "    finally:\n        closed.set()"
    call = make(code)
    call.kwargs = {"closed": closed}
    assert host.wait(host.begin("d", call))[3] is True
    assert host.wait(host.batch("d"))[0] == b"x"
    host.wait(host.drop("d"))
    assert closed.wait(5), "the generator was not closed"
    assert host.wait(host.batch("d")) == [None]
    deadline = time.monotonic() + 5
    while host.stuck("d") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not host.stuck("d")


def test_drop_cancels_a_running_async_call(host: Host) -> None:
    code = "import asyncio\nasync def run():\n    await asyncio.sleep(30)"
    future = host.soon(host.begin("c", make(code)))
    time.sleep(0.2)
    host.wait(host.drop("c"))
    with pytest.raises(concurrent.futures.CancelledError):
        future.result(5)
    assert host.status()["calls"] == 0


def test_a_direct_lane_takes_the_chunks_it_has_room_for_after_the_head(host: Host) -> None:
    sent: list[bytes] = []
    room = [2]

    def lane(call_id: str) -> Any:
        def direct(chunk: bytes, slow: bool) -> bool:
            assert slow  # each took 10 ms to make
            if room[0] == 0:
                return False  # no room: the chunk waits for the loop, in order
            room[0] -= 1
            sent.append(chunk)
            return True

        return direct

    host.direct_lane, host.hold_pumps = lane, True
    code = "import time\ndef run():\n    for c in 'abcde':\n        yield c\n"
    code += "        time.sleep(0.01)\n"  # slow to make: each goes by the lane when it can
    head = host.wait(host.begin("s", make(code)))
    assert head[2] == b"a" and head[3] is True
    time.sleep(0.2)
    assert sent == []  # nothing is made before the head is out
    host.start_pump("s")
    rest = [item for batch in _all(host, "s") for item in batch]
    assert sent == [b"b", b"c"]
    assert rest == [b"d", b"e", None]


def test_a_stream_dropped_before_its_head_went_out_still_closes_its_generator(host: Host) -> None:
    host.direct_lane, host.hold_pumps = (lambda call_id: lambda chunk, slow: False), True
    closed = threading.Event()
    code = "def run(closed):\n    try:\n        while True:\n            yield 'x'\n"
    code += "    finally:\n        closed.set()"
    call = make(code)
    call.kwargs = {"closed": closed}
    assert host.wait(host.begin("d", call))[3] is True  # its pump waits for start_pump
    host.wait(host.drop("d"))
    assert closed.wait(5), "the generator was not closed"
    host.start_pump("d")  # too late: nothing starts


def test_a_loop_of_streams_that_cannot_start_is_tried_again(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No room for its thread (a tight --worker-max-memory): that stream fails; the next one
    # gets a loop that runs, never the loop that had no thread.
    monkeypatch.setattr(threading.Thread, "start", no_room_once())
    with pytest.raises(RuntimeError):
        host.stream_loop()
    loop = host.stream_loop()
    assert asyncio.run_coroutine_threadsafe(asyncio.sleep(0, "ran"), loop).result(5) == "ran"
    assert host.stream_loop() is loop
