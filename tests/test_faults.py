"""Faults an adaptor can cause, against a real server: each costs only its own call.

The default mode (calls in worker processes) survives every fault here; ``--in-process``
survives those that leave the process whole (a sleep, a blocking ``async def``, an
exception mid-stream, ``sys.exit``). During each fault ``/_owt/health`` still answers, and
afterwards no owt process burns CPU and the worker count is back.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from conftest import OwtProcess, b64, call, status, wait_until

SPIN = "def run():\n    while True:\n        pass"
SLEEP = "import time\ndef run():\n    time.sleep(60)"
SEGFAULT = "import ctypes\ndef run():\n    ctypes.string_at(0)"
EXIT = "import os\ndef run():\n    os._exit(3)"
SYS_EXIT = "import sys\ndef run():\n    sys.exit(3)"
MEMORY = "def run():\n    hog = []\n    while True:\n        hog.append(bytearray(50_000_000))"
BLOCKING_ASYNC = "import time\nasync def run():\n    time.sleep(60)"
THREE_THEN_RAISE = (
    "def run():\n    for i in range(3):\n        yield f'chunk{i}\\n'\n    raise ValueError('late')"
)
ENDLESS = "import time\ndef run():\n    while True:\n        yield 'x\\n'\n        time.sleep(0.05)"
BLOCKING_ASYNC_GEN = "import time\nasync def run():\n    time.sleep(60)\n    yield 'late'"
# a sync function whose result is async: its rest must not run on the server's loop either
SYNC_THEN_ASYNC = (
    "import time\ndef run():\n    async def rest():\n        time.sleep(60)\n"
    "        return 'late'\n    return rest()"
)
EAGER_ASYNC = (
    "async def run(mark):\n    try:\n        while True:\n            yield b'x' * 65536\n"
    "    finally:\n        open(mark, 'w').write('closed')"
)
THREE_SLOWLY = (
    "import time\ndef run():\n    for i in range(3):\n        time.sleep(0.1)\n"
    "        yield f'{i}\\n'"
)
ENDLESS_UNTIL_CLOSED = (
    "import time\ndef run(mark):\n    try:\n        while True:\n            yield 'x\\n'\n"
    "            time.sleep(0.05)\n    finally:\n        open(mark, 'w').write('closed')"
)
PID = "import os\ndef run(): return os.getpid()"
NAP = "import time\ndef run():\n    time.sleep(1)\n    return 'ok'"


@pytest.fixture(scope="module")
def workers() -> Iterator[OwtProcess]:
    server = OwtProcess(
        "--timeout", "20",
        "--drain-grace", "2",
        "--worker-max-memory", str(1024 * 1024 * 1024),
        "--env", f"x={sys.executable}:1",
        "--env", f"crash={sys.executable}:1",
    )  # fmt: skip
    yield server
    server.stop()


@pytest.fixture(scope="module")
def in_process() -> Iterator[OwtProcess]:
    server = OwtProcess("--timeout", "20", "--in-process")
    yield server
    server.stop()


def run(server: OwtProcess, code: str, timeout: float = 2, env: str = "main") -> httpx.Response:
    return call(server.url, code, fields={"timeout": timeout, "env": env}, timeout=60)


def health_during(server: OwtProcess, fault: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``fault`` in a thread; meanwhile time /_owt/health. Its result, the slowest."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(fault()))
    thread.start()
    slowest = 0.0
    time.sleep(0.2)
    while thread.is_alive():
        started = time.monotonic()
        assert httpx.get(server.url + "/_owt/health", timeout=10).text == "ok"
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.1)
    thread.join()
    return result[0], slowest


def owt_pids(server: OwtProcess) -> list[int]:
    pids = [server.pid]
    for env in status(server)["environments"].values():
        pids += [w["pid"] for w in env.get("workers", []) + env.get("draining", [])]
    return pids


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except OSError:
            pass
    return total


def assert_calm(server: OwtProcess, env: str = "main") -> None:
    """The worker count is back, and no owt process burns CPU a few seconds on."""
    # A call given up on has a moment to end before its worker is drained (SETTLE_GRACE).
    assert wait_until(lambda: status(server)["environments"][env]["busy"] == 0, timeout=30)
    assert wait_until(lambda: _ready(server, env), timeout=30)
    assert wait_until(lambda: not status(server)["environments"][env].get("draining"), 30)
    pids = owt_pids(server)
    before = cpu_ticks(pids)
    time.sleep(2)
    used = (cpu_ticks(pids) - before) / os.sysconf("SC_CLK_TCK")
    assert used < 1.0, f"owt processes used {used:.2f} s of CPU in 2 s"
    assert run(server, PID, env=env).status_code == 200


def _ready(server: OwtProcess, env: str) -> bool:
    info = status(server)["environments"][env]
    return len(info.get("workers", [1])) == info.get("size", 1)


def error_of(response: httpx.Response) -> str:
    kind: str = response.json()["error"]
    return kind


@pytest.mark.parametrize(
    ("code", "status_code", "kind"),
    [
        (SPIN, 504, "timeout"),
        (SLEEP, 504, "timeout"),
        (SEGFAULT, 502, "worker_died"),
        (EXIT, 502, "worker_died"),
        (SYS_EXIT, 500, "adaptor_error"),
        (MEMORY, 502, "worker_died"),
        (BLOCKING_ASYNC, 504, "timeout"),
    ],
    ids=["spin", "sleep", "segfault", "os_exit", "sys_exit", "memory", "blocking_async"],
)
def test_a_fault_costs_only_its_own_call(
    workers: OwtProcess, code: str, status_code: int, kind: str
) -> None:
    with ThreadPoolExecutor(2) as pool:
        bystander = pool.submit(run, workers, NAP, 10, "x")
        # Runaways are cut at 2 s; the memory hog gets longer to fill its 1 GiB (every page
        # of it is written) on a busy machine, since its answer is the worker's death.
        timeout = 10 if code is MEMORY else 2
        response, slowest = health_during(workers, lambda: run(workers, code, timeout=timeout))
        assert bystander.result().status_code == 200
    assert (response.status_code, error_of(response)) == (status_code, kind)
    assert slowest < 1.0
    if kind == "worker_died":  # the status tells why the worker went, after its replacement
        died = response.json()["message"]
        assert status(workers)["environments"]["main"]["last_error"].endswith(died)
    assert_calm(workers)


def three_then_cut(server: OwtProcess) -> None:
    """The three chunks arrive, then the response ends without its final chunk."""
    body = {"code_b64": b64(THREE_THEN_RAISE)}
    got: list[bytes] = []
    with httpx.stream("POST", server.url, json=body, timeout=30) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in response.iter_bytes():
                got.append(chunk)
    assert b"".join(got) == b"chunk0\nchunk1\nchunk2\n"


def test_an_exception_after_three_chunks_ends_only_that_stream(workers: OwtProcess) -> None:
    three_then_cut(workers)
    assert run(workers, PID).status_code == 200


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["kill9", "sigstop"])
def test_a_worker_killed_or_stopped_mid_stream(workers: OwtProcess, sig: int) -> None:
    pid = run(workers, PID, env="x").json()
    got: list[bytes] = []

    def stream() -> None:
        body = {"code_b64": b64(ENDLESS), "env": "x", "timeout": 3}
        try:
            with httpx.stream("POST", workers.url, json=body, timeout=30) as response:
                for chunk in response.iter_bytes():
                    got.append(chunk)
        except httpx.HTTPError:
            pass

    thread = threading.Thread(target=stream)
    thread.start()
    assert wait_until(lambda: len(got) > 0, timeout=10)
    os.kill(pid, sig)
    thread.join(30)
    assert not thread.is_alive()
    assert httpx.get(workers.url + "/_owt/health", timeout=1).text == "ok"
    assert wait_until(lambda: run(workers, PID, env="x").json() != pid, timeout=30)
    assert_calm(workers, "x")


@pytest.mark.parametrize(("crash", "says"), [(EXIT, "os._exit(3)"), (SEGFAULT, "SIGSEGV")])
def test_twenty_calls_of_which_ten_crash(workers: OwtProcess, crash: str, says: str) -> None:
    # All in one worker: owt tells which call (os._exit names it) or which code (a crash's
    # traceback) ended it, so the calls beside it (which had not answered) run again on the
    # replacement, and only the crashing calls fail.
    # More crashers than a call's reruns: the calls of the crashing code never run again.
    assert run(workers, NAP, 20, "crash").status_code == 200  # a warm worker
    before = status(workers)["environments"]["crash"]["reruns"]
    with ThreadPoolExecutor(30) as pool:
        good = [pool.submit(run, workers, NAP, 30, "crash") for _ in range(10)]
        bad = [pool.submit(run, workers, crash, 30, "crash") for _ in range(20)]
        goods = [f.result() for f in good]
        bads = [f.result() for f in bad]
    assert [r.status_code for r in goods] == [200] * 10
    assert {(r.status_code, error_of(r)) for r in bads} == {(502, "worker_died")}
    assert says in bads[0].json()["message"]  # what ended it
    assert status(workers)["environments"]["crash"]["reruns"] > before
    if crash is SEGFAULT:  # the crash's report is in the server's log, as before
        assert wait_until(lambda: "Fatal Python error: Segmentation fault" in workers.log)
    assert_calm(workers, "crash")


MARKED = (
    "import os, signal, time\n"
    "def run(mark, signals=False):\n"
    "    open(mark, 'a').write('ran\\n')\n"
    "    if signals:\n"
    "        os.kill(os.getpid(), signal.SIGSEGV)\n"
    "    time.sleep(5)\n"
)


@pytest.mark.parametrize("by", ["itself", "another process"])
def test_a_crash_owt_cannot_pin_on_a_call_does_not_run_it_again(
    workers: OwtProcess, tmp_path: Any, by: str
) -> None:
    """A SIGSEGV sent to the worker (by the call itself, or from outside) lands on any of
    its threads, whose traceback then names no adaptor: owt cannot tell the call apart from
    bystanders, so it answers 502 and runs it no second time (it has side effects)."""
    mark = tmp_path / "ran"
    pid = run(workers, PID, env="crash").json()
    before = status(workers)["environments"]["crash"]["reruns"]
    kwargs = {"mark": str(mark), "signals": by == "itself"}
    fields = {"timeout": 20, "env": "crash"}
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(call, workers.url, MARKED, fields=fields, timeout=60, **kwargs)
        assert wait_until(mark.exists, timeout=10)
        if by == "another process":
            os.kill(pid, signal.SIGSEGV)
        response = answer.result()
    assert (response.status_code, error_of(response)) == (502, "worker_died")
    assert "SIGSEGV" in response.json()["message"]
    assert mark.read_text() == "ran\n"  # once
    assert status(workers)["environments"]["crash"]["reruns"] == before
    # why it went, in the log too (written in batches: it may come a moment later)
    assert wait_until(
        lambda: any("SIGSEGV" in x and "replacing it" in x for x in workers.lines), timeout=10
    )
    assert_calm(workers, "crash")


def test_one_worker_answers_eight_sleeps_at_once_with_one_model(workers: OwtProcess) -> None:
    code = (
        "import os, time\n"
        "loads = []\n"
        "def run():\n"
        "    model = keep('counted', lambda: loads.append(1) or os.getpid())\n"
        "    time.sleep(1)\n"
        "    return [model, len(loads)]\n"
    )
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: run(workers, code, 20, "x"), range(8)))
    elapsed = time.monotonic() - started
    assert [r.status_code for r in replies] == [200] * 8
    assert {json.dumps(r.json()) for r in replies} == {json.dumps(replies[0].json())}
    assert replies[0].json()[1] == 1  # the factory ran once
    assert elapsed < 2.5  # one at a time would be 8 s


def test_a_tight_memory_limit_leaves_room_for_every_worker_thread() -> None:
    # --worker-max-memory caps address space: owt's own threads (a stack and a malloc arena
    # each) must not take it up, or a 300 MB worker could start 4 of its 16 threads, ran its
    # calls one at a time and died of the thread it could not start.
    server = OwtProcess("--timeout", "20", "--worker-max-memory", "300MB")
    try:
        nap = "import os, time\ndef run():\n    time.sleep(0.5)\n    return os.getpid()"
        assert run(server, nap, 20).status_code == 200  # compiled, warm
        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            replies = list(pool.map(lambda _: run(server, nap, 20), range(16)))
        elapsed = time.monotonic() - started
        assert [r.status_code for r in replies] == [200] * 16
        assert len({r.text for r in replies}) == 1  # the one worker, never replaced
        assert elapsed < 4  # one at a time would be 8 s
        hog = run(server, MEMORY, 20)  # and the limit still holds
        assert hog.status_code == 502 and "out of memory" in hog.json()["message"]
    finally:
        server.stop()


def test_status_counts_runaway_calls_as_busy(workers: OwtProcess) -> None:
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(run, workers, NAP.replace("sleep(1)", "sleep(4)"), 20, "x")
        time.sleep(0.3)  # both in the same worker
        assert run(workers, SLEEP, timeout=1, env="x").status_code == 504
        assert status(workers)["environments"]["x"]["busy"] == 2  # past its deadline, running
        # a moment later the runaway still runs: its worker is drained, the other call in it
        assert wait_until(lambda: status(workers)["environments"]["x"]["draining"], 5)
        info = status(workers)["environments"]["x"]
        assert sum(w["busy"] for w in info["draining"]) == 2 and info["busy"] == 2
        assert "drained: a call given up on still ran" in info["last_error"]
        metrics = httpx.get(workers.url + "/_owt/metrics").text
        assert 'owt_workers_busy{env="x"} 1.0' in metrics  # the draining worker, busy
        assert other.result().status_code == 200  # the drained worker finished it
    assert_calm(workers, "x")


@pytest.mark.parametrize(
    ("code", "status_code", "kind"),
    [
        # short: nothing stops a runaway in the server's own threads (or its host's loop)
        (SLEEP.replace("60", "3"), 504, "timeout"),
        (BLOCKING_ASYNC.replace("60", "3"), 504, "timeout"),
        (BLOCKING_ASYNC_GEN.replace("60", "3"), 504, "timeout"),
        (SYNC_THEN_ASYNC.replace("60", "3"), 504, "timeout"),
        (SYS_EXIT, 500, "adaptor_error"),
    ],
    ids=["sleep", "blocking_async", "blocking_async_generator", "sync_then_async", "sys_exit"],
)
def test_in_process_faults_that_leave_the_process_whole(
    in_process: OwtProcess, code: str, status_code: int, kind: str
) -> None:
    response, slowest = health_during(in_process, lambda: run(in_process, code, timeout=1))
    assert (response.status_code, error_of(response)) == (status_code, kind)
    assert slowest < 1.0
    assert run(in_process, PID).status_code == 200


def test_in_process_runaway_calls_count_as_busy(in_process: OwtProcess) -> None:
    assert run(in_process, SLEEP.replace("60", "4"), timeout=1).status_code == 504
    assert status(in_process)["environments"]["main"]["busy"] >= 1


def test_in_process_an_exception_after_three_chunks(in_process: OwtProcess) -> None:
    three_then_cut(in_process)


@pytest.mark.parametrize("mode", ["workers", "in_process"])
def test_an_async_stream_that_never_awaits_ends_when_its_reader_leaves(
    request: pytest.FixtureRequest, mode: str, tmp_path: Any
) -> None:
    """Its chunks are always ready, so only the host's own loop may run it: a reader that
    leaves after one chunk closes it, and the server answers as before."""
    server = request.getfixturevalue(mode)
    mark = tmp_path / "closed"
    params = {"code_b64": b64(EAGER_ASYNC), "kwargs_b64": b64(json.dumps({"mark": str(mark)}))}
    with httpx.stream("GET", server.url + "/", params=params, timeout=10) as r:
        assert r.status_code == 200
        next(r.iter_bytes())  # one chunk, then leave
    assert wait_until(mark.exists, timeout=10)
    started = time.monotonic()
    assert httpx.get(server.url + "/_owt/health", timeout=10).text == "ok"
    assert time.monotonic() - started < 1.0
    assert_calm(server)


FORGED_FRAME = """
import gc, os, pickle, struct

class Payload:
    def __reduce__(self):
        return (open, ({mark!r}, "w"))  # were it unpickled, the server would create the file

def run():
    worker = next(o for o in gc.get_objects() if type(o).__name__ == "Worker")
    data = pickle.dumps(("dying", Payload()))
    os.write(worker.fd_out, struct.pack("!I", len(data)) + data)
    return "sent"
"""


def test_a_frame_forged_by_an_adaptor_runs_nothing_in_the_server(
    workers: OwtProcess, tmp_path: Any
) -> None:
    """The server reads its workers' frames as plain values only: a frame that would import
    or call something stops that worker (502), and the server runs none of it."""
    mark = tmp_path / "ran-in-the-server"
    response = run(workers, FORGED_FRAME.format(mark=str(mark)), timeout=10, env="x")
    assert (response.status_code, error_of(response)) == (502, "worker_died"), response.text
    assert "cannot read" in response.json()["message"]
    assert not mark.exists()
    assert_calm(workers, "x")


FORGED_LENGTH = """
import gc, os, struct, threading, time

def run():
    worker = next(o for o in gc.get_objects() if type(o).__name__ == "Worker")
    os.write(worker.fd_out, struct.pack("!I", 1 << 30) + b"not a gigabyte")
    def trickle():  # a byte now and then: the output never pauses for long
        for _ in range(30):
            time.sleep(1)
            os.write(worker.fd_out, b"a")
    if {trickle}:
        threading.Thread(target=trickle, daemon=True).start()
    return "sent"
"""


@pytest.mark.parametrize("trickle", [False, True], ids=["stopped", "trickled"])
def test_a_frame_whose_length_is_forged_stops_its_worker(
    workers: OwtProcess, trickle: bool
) -> None:
    """A frame header promising a gigabyte that never comes held every later frame of that
    worker (its calls answered only by their timeouts); now the worker is stopped (502) once
    its output pauses inside a frame, or crawls on a byte at a time, and its replacement
    serves."""
    started = time.monotonic()
    response = run(workers, FORGED_LENGTH.format(trickle=trickle), timeout=30, env="x")
    assert (response.status_code, error_of(response)) == (502, "worker_died"), response.text
    assert "length that is not its length" in response.json()["message"]
    assert time.monotonic() - started < 15
    assert run(workers, PID, timeout=10, env="x").status_code == 200
    assert_calm(workers, "x")


KEPT_NAMES = """
import enum

class Model(str, enum.Enum):
    BARK = "bark"

class Odd:
    def __repr__(self):
        raise RuntimeError("no repr")

def run():
    keep(Model.BARK, lambda: 1)  # a name of the adaptor's own class, and names of mixed types
    keep(("voice", 2), lambda: 2)
    keep(3, lambda: 3)
    keep(Odd(), lambda: 4)  # one that cannot even say what it is
    return "kept"
"""


def test_kept_objects_may_have_any_hashable_name(workers: OwtProcess) -> None:
    """What a worker reports of its kept names is plain text: an enum member's name no
    longer jammed the worker (the server cannot import the adaptor's class), mixed types no
    longer broke its report."""
    assert run(workers, KEPT_NAMES, timeout=10, env="x").text == "kept"
    assert run(workers, PID, timeout=10, env="x").status_code == 200
    kept = status(workers)["environments"]["x"]["kept"]
    assert {"bark", "('voice', 2)", "3", "<a Odd>"} <= set(kept)


# Raised by the adaptor itself: its own error (500 adaptor_error), never a cancellation (no
# answer, a worker drained), a plain-text 500 or a 503 "the caller went away".
OWN_BASE_EXCEPTIONS = {
    "def_cancelled": "import asyncio\ndef run():\n    raise asyncio.CancelledError()",
    "def_generator_exit": "def run():\n    raise GeneratorExit()",
    "async_cancelled": "import asyncio\nasync def run():\n    raise asyncio.CancelledError()",
    "async_generator_exit": "async def run():\n    raise GeneratorExit()",
    "async_gen_cancelled": (
        "import asyncio\nasync def run():\n    yield 'a'\n    raise asyncio.CancelledError()"
    ),
}
# Results owt cannot turn into bytes: the adaptor's error, saying so, not owt's ``internal``.
UNSENDABLE = {
    "circular": "def run():\n    a = []\n    a.append(a)\n    return a",
    "surrogate": "def run():\n    return 'bad \\udcff'",
    "huge_int": "def run():\n    return 10 ** 5000",
    "bad_str": (
        "class Odd(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\n"
        "def run():\n    raise Odd()"
    ),
}


@pytest.mark.parametrize("mode", ["workers", "in_process"])
@pytest.mark.parametrize("name", [*OWN_BASE_EXCEPTIONS, *UNSENDABLE])
def test_what_an_adaptor_raises_or_returns_is_its_own_error(
    request: pytest.FixtureRequest, mode: str, name: str
) -> None:
    server = request.getfixturevalue(mode)
    code = {**OWN_BASE_EXCEPTIONS, **UNSENDABLE}[name]
    started = time.monotonic()
    if name == "async_gen_cancelled":  # its head went out: the stream is cut, as by an error
        with pytest.raises(httpx.RemoteProtocolError):
            run(server, code, timeout=10)
    else:
        response = run(server, code, timeout=10)
        assert response.status_code == 500, response.text
        assert error_of(response) == "adaptor_error", response.text
    assert time.monotonic() - started < 5  # answered, not left to its timeout
    if name in UNSENDABLE and name != "bad_str":
        assert "cannot be sent" in response.json()["message"]
    if name == "bad_str":
        assert "could not be read" in response.json()["message"]
    assert run(server, PID).status_code == 200


BIG_CHUNKS = {
    "def": "def run(mark):\n    n = 0\n    while True:\n        n += 1\n"
    "        open(mark, 'w').write(str(n))\n        yield b'x' * (1 << 20)\n",
    "async_def": "async def run(mark):\n    n = 0\n    while True:\n        n += 1\n"
    "        open(mark, 'w').write(str(n))\n        yield b'x' * (1 << 20)\n",
}


@pytest.mark.parametrize("mode", ["workers", "in_process"])
@pytest.mark.parametrize("kind", list(BIG_CHUNKS))
def test_a_stalled_reader_holds_megabytes_not_hundreds(
    request: pytest.FixtureRequest, mode: str, kind: str, tmp_path: Any
) -> None:
    """What a stream makes ahead of a reader that stopped reading is bounded in bytes too:
    1 MiB chunks ran ~450 ahead (hundreds of MB in the server) when only their count was."""
    server = request.getfixturevalue(mode)
    mark = tmp_path / "made"
    params = {"code_b64": b64(BIG_CHUNKS[kind]), "kwargs_b64": b64(json.dumps({"mark": str(mark)}))}
    with httpx.stream("GET", server.url + "/", params=params, timeout=30) as r:
        next(r.iter_raw(65536))
        time.sleep(1.5)  # the reader stalls; the stream runs ahead as far as it may
        made = int(mark.read_text())
    assert made <= 48, f"{made} chunks of 1 MiB made ahead of a stalled reader"


def test_a_blocking_async_def_holds_up_no_def_generator(workers: OwtProcess, tmp_path: Any) -> None:
    """A ``def`` generator's chunks are made on a thread and sent from a loop of their own:
    its stream flows, and stops when its reader leaves, while an ``async def`` blocks the
    worker's loop (it waited behind it, and died with the worker, before)."""
    mark = tmp_path / "closed"
    endless = {"code_b64": b64(ENDLESS_UNTIL_CLOSED), "env": "x", "timeout": 20}
    endless["kwargs_b64"] = b64(json.dumps({"mark": str(mark)}))
    with ThreadPoolExecutor(1) as pool:
        blocking = pool.submit(run, workers, BLOCKING_ASYNC.replace("60", "8"), 4, "x")
        time.sleep(0.3)
        started = time.monotonic()
        response = run(workers, THREE_SLOWLY, 20, "x")
        assert (response.status_code, response.text) == (200, "0\n1\n2\n"), response.text
        assert time.monotonic() - started < 3
        with httpx.stream("GET", workers.url + "/", params=endless, timeout=10) as r:
            assert next(r.iter_lines()) == "x"
        assert wait_until(mark.exists, timeout=2), "the generator was not closed"
        assert not blocking.done()
        assert error_of(blocking.result()) == "timeout"
    assert_calm(workers, "x")


def test_calls_caught_in_a_worker_owt_stops_are_told_why(workers: OwtProcess) -> None:
    """A blocked loop holds an innocent ``async def`` call too; when the drain's grace runs
    out and owt kills the worker, that call hears it was owt, and why (not "SIGKILL")."""
    innocent = "import asyncio\nasync def run():\n    await asyncio.sleep(0.1)\n    return 'ok'"
    with ThreadPoolExecutor(2) as pool:
        blocking = pool.submit(run, workers, BLOCKING_ASYNC.replace("60", "30"), 1, "x")
        time.sleep(0.3)
        caught = pool.submit(run, workers, innocent, 20, "x")
        assert error_of(blocking.result()) == "timeout"
        response = caught.result()
    assert (response.status_code, error_of(response)) == (502, "worker_died"), response.text
    assert "owt stopped the worker" in response.json()["message"]
    assert "--drain-grace" in response.json()["message"]
    assert_calm(workers, "x")


def test_a_workers_lines_carry_no_stale_request_id(workers: OwtProcess) -> None:
    """A worker started while a call ran (the replacement of a drained one) no longer logs
    every line of its life with that call's request id."""
    stuck = {"x-request-id": "stuck-call-1"}
    body = {"code_b64": b64(SLEEP.replace("60", "30")), "env": "x", "timeout": 1}
    assert httpx.post(workers.url, json=body, headers=stuck, timeout=30).status_code == 504
    assert wait_until(lambda: "draining worker" in workers.log, timeout=10)  # replaced now
    assert_calm(workers, "x")
    crash = {"code_b64": b64(EXIT), "env": "x", "timeout": 10}
    assert httpx.post(workers.url, json=crash, timeout=30).status_code == 502
    assert wait_until(lambda: "; replacing it" in workers.log.split("stuck-call-1")[-1], 10)
    lost = [line for line in workers.lines if "; replacing it" in line]
    assert lost and "stuck-call-1" not in lost[-1], lost[-1]
    assert_calm(workers, "x")


NOT_QUITE_PLAIN = {
    "http_status": (
        "from http import HTTPStatus\ndef run():\n    return 'made', HTTPStatus.CREATED\n",
        201,
        "made",
    ),
    "bytes_subclass_stream": (
        "class B(bytes):\n    pass\ndef run():\n    yield B(b'one')\n    yield B(b'two')\n",
        200,
        "onetwo",
    ),
    "enum_in_an_error": (
        "from http import HTTPStatus\ndef run():\n    return 'body', HTTPStatus.NO_CONTENT\n",
        500,
        None,
    ),
}


@pytest.mark.parametrize("name", list(NOT_QUITE_PLAIN))
def test_values_of_plain_subclasses_cross_from_a_worker(workers: OwtProcess, name: str) -> None:
    """A worker sends the server plain values only: an HTTPStatus, a bytes subclass, an enum
    in an error's fields reach the caller as their plain values, not as a worker stopped."""
    code, status, text = NOT_QUITE_PLAIN[name]
    response = run(workers, code, timeout=10, env="x")
    assert response.status_code == status, response.text
    if text is not None:
        assert response.text == text
    else:
        assert error_of(response) == "adaptor_error" and response.json()["status"] == 204


def test_a_workers_crash_report_leaves_no_file_however_the_server_ends(tmp_path) -> None:
    # Its name is removed once the worker has the file open; the server keeps it open.
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    server = OwtProcess("--env", f"x={sys.executable}:2", env={"TMPDIR": str(tmp)})
    try:
        assert run(server, PID, env="x").status_code == 200
        assert list(tmp.glob("owt-fault-*")) == []
    finally:
        server.stop(signal.SIGKILL)
    assert list(tmp.glob("owt-fault-*")) == []


def test_a_memory_error_raised_without_a_limit_is_the_adaptors_own(owt_server) -> None:
    # Only under --worker-max-memory is a MemoryError the limit reached (the worker dies);
    # otherwise it is an exception like any other: 500, and the warm worker serves on.
    pid = run(owt_server, PID).json()
    response = run(owt_server, "def run():\n    raise MemoryError('too big an array')")
    assert (response.status_code, error_of(response)) == (500, "adaptor_error")
    assert run(owt_server, PID).json() == pid


def test_writing_into_the_workers_frame_input_is_the_adaptors_own_error(owt_server) -> None:
    # fd 3 is where a worker reads its frames: a pipe, so writing to it fails in the adaptor
    # (a socket pair carried the bytes back to the server, which then lost the worker).
    pid = run(owt_server, PID).json()
    code = "import os\ndef run():\n    os.write(3, b'not a frame')\n    return 'wrote'"
    response = run(owt_server, code)
    assert (response.status_code, error_of(response)) == (500, "adaptor_error")
    assert "Bad file descriptor" in response.json()["message"]
    assert run(owt_server, PID).json() == pid
    assert "Fatal error on transport" not in owt_server.log
