"""Faults of Ray actors, against a real ``owt serve --executor ray`` (``raycluster.py``).

The server here runs the default ``main`` environment (one actor) on the session's cluster,
as ``owt serve --executor ray`` does; each test leaves it with a working actor.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import OwtProcess, alive, call, status, wait_until
from raycluster import RAY_ENV, Cluster

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server(ray_cluster: Cluster) -> Iterator[OwtProcess]:
    server = OwtProcess(
        "--executor",
        "ray",
        "--ray-address",
        ray_cluster.address,
        "--timeout",
        "30",
        env=RAY_ENV,
        ready_timeout=120,
    )
    yield server
    server.stop()


def environment(server: OwtProcess) -> dict[str, Any]:
    result: dict[str, Any] = status(server)["environments"]["main"]
    return result


def pool(server: OwtProcess) -> dict[str, Any]:
    (plain,) = [p for p in environment(server)["pools"] if not p["placement"]]
    result: dict[str, Any] = plain
    return result


PID = "import os\ndef run(): return os.getpid()"
ASYNC_PID = (
    "import asyncio, os\nasync def run():\n    await asyncio.sleep(0.1)\n    return os.getpid()"
)
SLOW_DEF = "import os, time\ndef run():\n    time.sleep(8)\n    return os.getpid()"
BLOCKING = {
    "spin": "import time\nasync def run():\n    end = time.monotonic() + 120\n"
    "    while time.monotonic() < end:\n        pass\n",
    "sleep": "import time\nasync def run():\n    time.sleep(120)\n",
}


@pytest.mark.parametrize("kind", sorted(BLOCKING))
def test_an_async_def_that_blocks_its_actors_loop_drains_the_actor(
    server: OwtProcess, kind: str
) -> None:
    """A blocked loop is stuck code: past its call's timeout and a grace, the actor takes no
    new calls, a replacement serves them, and it is killed once its other calls end."""
    before = pool(server)
    old = call(server.url, PID).json()
    with concurrent.futures.ThreadPoolExecutor(1) as threads:
        beside = threads.submit(call, server.url, SLOW_DEF)  # a def call on the same actor
        time.sleep(0.5)
        started = time.monotonic()
        r = call(server.url, BLOCKING[kind], fields={"timeout": 2})
        assert r.status_code == 504 and r.json()["error"] == "timeout"
        assert time.monotonic() - started < 4
        # the timed-out call still runs: it counts as busy, beside the def call
        (actor,) = pool(server)["actors"]
        assert actor["pid"] == old and actor["busy"] >= 2
        assert wait_until(lambda: bool(pool(server)["draining"]), timeout=15, every=0.2)
        drained = pool(server)
        assert [a["pid"] for a in drained["draining"]] == [old]
        assert drained["replaced"] == before["replaced"] + 1
        assert "event loop" in drained["last_error"] and "async def" in drained["last_error"]
        assert wait_until(lambda: "draining actor" in server.log, timeout=5)  # lines go in batches
        # a new actor takes async calls at once; the def call beside ends on the old one
        r = call(server.url, ASYNC_PID, fields={"timeout": 20})
        assert r.status_code == 200 and r.json() != old, r.text
        assert beside.result().json() == old
    assert wait_until(lambda: not alive(old), timeout=15), "the stuck actor was not killed"
    assert wait_until(lambda: not pool(server)["draining"], timeout=5)


def test_an_adaptor_that_ends_its_actor_is_named_and_the_calls_beside_it_run_again(
    server: OwtProcess,
) -> None:
    """An adaptor's ``os._exit`` notes its call where the server reads it after the death:
    that call hears the exit code; a call of other code beside it runs on the replacement."""
    old = call(server.url, PID).json()
    reruns = environment(server)["reruns"]
    with concurrent.futures.ThreadPoolExecutor(1) as threads:
        beside = threads.submit(call, server.url, SLOW_DEF, fields={"timeout": 60}, timeout=90)
        time.sleep(1)
        r = call(server.url, "import os\ndef run(): os._exit(3)")
        assert r.status_code == 502, r.text
        body = r.json()
        assert body["error"] == "worker_died" and body["exit_code"] == 3
        assert "the adaptor called os._exit(3), ending its actor" in body["message"]
        spared = beside.result()
    assert spared.status_code == 200, spared.text
    assert spared.json() != old  # run again, on the replacement
    assert environment(server)["reruns"] == reruns + 1
    assert "os._exit(3)" in pool(server)["last_error"]


def test_an_actor_that_crashes_says_what_owt_knows_and_where_its_log_is(
    server: OwtProcess,
) -> None:
    old = call(server.url, PID).json()
    r = call(server.url, "import ctypes\ndef run(): ctypes.string_at(0)")
    assert r.status_code == 502, r.text
    message = r.json()["message"]
    assert r.json()["error"] == "worker_died"
    assert "likely a crash in native code" in message and "os._exit" in message
    assert f"worker-*-{old}.err" in message
    assert message in pool(server)["last_error"]
    after = call(server.url, PID, timeout=90)
    assert after.status_code == 200 and after.json() != old


def test_a_call_on_an_actor_owt_kills_after_its_drain_grace_hears_why(
    server: OwtProcess,
) -> None:
    """Not a crash: owt killed the drained actor, as its other calls ran past --drain-grace."""
    stuck = "import time\ndef run():\n    time.sleep(120)"
    long = "import time\ndef run():\n    time.sleep(60)\n    return 'done'"
    with concurrent.futures.ThreadPoolExecutor(1) as threads:
        beside = threads.submit(call, server.url, long, fields={"timeout": 90}, timeout=120)
        time.sleep(0.5)
        r = call(server.url, stuck, fields={"timeout": 1})
        assert r.status_code == 504
        r = beside.result()  # killed with its actor, 5 s + --drain-grace (10 s) later
    assert r.status_code == 502 and r.json()["error"] == "worker_died", r.text
    message = r.json()["message"]
    assert "owt stopped the Ray actor" in message and "--drain-grace (10s)" in message
    assert call(server.url, PID, timeout=90).status_code == 200
