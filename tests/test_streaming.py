"""Streaming over a real socket: chunks arrive as produced, disconnects close generators,
a slow call does not hold up a fast one."""

from __future__ import annotations

import json
import threading
import time

import httpx
from conftest import b64, call, wait_until

SLOW_STREAM = """
import time
def run(n, pause):
    for i in range(n):
        yield f"{i}\\n"
        time.sleep(pause)
"""


def test_first_chunk_arrives_before_generator_finishes(owt_server):
    body = {"code_b64": b64(SLOW_STREAM), "kwargs": {"n": 3, "pause": 1.0}}
    start = time.monotonic()
    arrivals = []
    with httpx.stream("POST", owt_server.url + "/", json=body, timeout=30) as r:
        for chunk in r.iter_raw():
            if chunk:
                arrivals.append(time.monotonic() - start)
    assert len(arrivals) >= 2
    assert arrivals[0] < 1.0 <= arrivals[-1]


def test_async_generator_streams_incrementally(owt_server):
    code = (
        "import asyncio\nasync def run():\n"
        "    for i in range(3):\n        yield str(i)\n        await asyncio.sleep(0.6)\n"
    )
    start = time.monotonic()
    with httpx.stream("POST", owt_server.url + "/", json={"code_b64": b64(code)}) as r:
        chunks = r.iter_raw()
        first = next(chunks)
        first_at = time.monotonic() - start
        rest = b"".join(chunks)
    assert first == b"0"
    assert rest == b"12"
    assert first_at < 0.6


TRACKED = """
import time
state = {"closed": False, "produced": 0}
def run(action="stream"):
    if action == "state":
        return state
    def gen():
        try:
            while True:
                state["produced"] += 1
                yield "tick\\n"
                time.sleep(0.05)
        finally:
            state["closed"] = True
    return gen()
"""


def test_disconnect_closes_the_generator(owt_server):
    with httpx.stream("POST", owt_server.url + "/", json={"code_b64": b64(TRACKED)}) as r:
        assert next(r.iter_raw()).startswith(b"tick")

    # The client is gone: the generator's finally ran and no more items are produced.
    def state():
        return call(owt_server.url, TRACKED, action="state").json()

    assert wait_until(lambda: state()["closed"], timeout=5)
    produced = state()["produced"]
    time.sleep(0.3)
    assert state()["produced"] == produced


def test_slow_sync_adaptor_does_not_delay_a_fast_one(owt_server):
    slow = "import time\ndef run():\n    time.sleep(2)\n    return 'slow'"
    results = {}

    def slow_call():
        results["slow"] = call(owt_server.url, slow).text

    t = threading.Thread(target=slow_call)
    t.start()
    time.sleep(0.2)
    start = time.monotonic()
    assert call(owt_server.url, "def run(): return 'fast'").text == "fast"
    assert time.monotonic() - start < 1.0
    t.join()
    assert results["slow"] == "slow"


def test_sse_stream_over_the_wire(owt_server):
    code = (
        "import time\n"
        "def run():\n"
        "    def items():\n"
        "        for i in range(3):\n"
        "            yield {'i': i}\n"
        "            time.sleep(0.2)\n"
        "    return sse(items())\n"
    )
    events = []
    with httpx.stream("POST", owt_server.url + "/", json={"code_b64": b64(code)}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
    assert events[-1] == "[DONE]"
    assert [json.loads(e) for e in events[:-1]] == [{"i": 0}, {"i": 1}, {"i": 2}]
