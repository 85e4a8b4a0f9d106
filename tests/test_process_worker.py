"""The worker protocol and the process executor, driven directly (no HTTP)."""

from __future__ import annotations

import ast
import asyncio
import glob
import json
import logging
import os
import pickle
import random
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from owt.core.call import Call, Request
from owt.core.frames import HEADER, pack
from owt.executors.process.executor import (
    SETTLE_GRACE,
    WORKER_SCRIPT,
    ProcessExecutor,
    WorkerStream,
)
from owt.server.protocol import sha256_of

ROOT = Path(__file__).resolve().parent.parent
PID = "import os\ndef run(): return os.getpid()"


def make(code: str, **kwargs: Any) -> Call:
    return Call(code, sha256_of(code), kwargs=kwargs, request=Request(path="/x"), timeout=5)


def with_executor(test: Callable[[ProcessExecutor], Awaitable[None]], **options: Any) -> None:
    async def main() -> None:
        executor = ProcessExecutor(**options)
        await executor.start()
        try:
            await test(executor)
        finally:
            await executor.aclose()

    asyncio.run(main())


def test_worker_side_modules_are_python_3_10_syntax() -> None:
    """The worker runs on any Python >= 3.10: what it imports must parse there."""
    files = [*(ROOT / "owt" / "core").glob("*.py"), *(ROOT / "owt" / "summat").glob("*.py")]
    files += [
        ROOT / "owt" / name for name in ("__init__.py", "exceptions.py", "server/__init__.py")
    ]
    files += [ROOT / "owt" / "lib" / name for name in ("__init__.py", "stream.py")]
    for path in files:
        ast.parse(path.read_text(), str(path), feature_version=(3, 10))


def _other_pythons() -> list[str]:
    found = []
    for version in ("3.10", "3.13"):
        for path in [shutil.which(f"python{version}"), *glob.glob(PYENV.format(version))]:
            if path and subprocess.run([path, "-c", ""], capture_output=True).returncode == 0:
                found.append(path)
                break
    return found


PYENV = os.path.expanduser("~/.pyenv/versions/{0}*/bin/python{0}")


@pytest.mark.parametrize("python", _other_pythons() or [None])
def test_a_worker_runs_on_other_pythons(python: str | None) -> None:
    if python is None:
        pytest.skip("no python3.10 or python3.13 on this machine")
    version = "import sys\ndef run(): return '%d.%d' % sys.version_info[:2]"

    async def test(executor: ProcessExecutor) -> None:
        reply = await executor.submit(make(version))
        assert reply.status == 200 and python.endswith(reply.body.decode())
        stream = await executor.submit(make("async def run():\n    yield 'a'\n    yield 'b'"))
        assert [stream.body, *[c async for c in stream.stream]] == [b"a", b"b"]  # type: ignore[union-attr]
        terse = await executor.submit(make("kwarg('x').f(lambda x: x * 2)", x=21))
        assert terse.body == b"42"

    with_executor(test, python=python)


class RawWorker:
    """A worker process spoken to in frames directly, as the server does."""

    def __init__(self) -> None:
        command = [sys.executable, "-u", WORKER_SCRIPT]
        pipe = subprocess.PIPE
        # Unbuffered output: a frame that came with the one read must stay in the pipe,
        # where ``waiting`` looks, not in a reader's buffer.
        self.proc = subprocess.Popen(
            command, stdin=pipe, stdout=pipe, stderr=pipe, cwd="/", bufsize=0
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout

    def receive(self) -> Any:
        (size,) = HEADER.unpack(self._read(HEADER.size))
        return pickle.loads(self._read(size))

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            more = self.stdout.read(size - len(data))
            assert more, "the worker closed its output"
            data += more
        return data

    def send(self, message: tuple[Any, ...]) -> None:
        self.stdin.write(pack(message))
        self.stdin.flush()

    def waiting(self, timeout: float) -> bool:
        """True when a frame arrives within ``timeout`` seconds (it is not read)."""
        return bool(select.select([self.stdout], [], [], timeout)[0])

    def finish(self) -> None:
        """Close its input: it finishes what it holds and exits cleanly."""
        self.stdin.close()
        assert self.proc.wait(10) == 0

    def __enter__(self) -> RawWorker:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.proc.__exit__(*exc)


def test_the_worker_speaks_frames_and_keeps_stdout_away() -> None:
    with RawWorker() as worker:
        kind, info = worker.receive()
        assert kind == "ready" and info["pid"] == worker.proc.pid
        assert info["prefix"] == sys.prefix
        code = "import sys\ndef run():\n    print('to the log')\n    return sys.path[0]"
        worker.send(("call", "c1", make(code)))
        kind, call_id, status, _, body, streamed, warm = worker.receive()
        assert (kind, call_id, status, streamed) == ("head", "c1", 200, False)
        assert body.decode() == str(ROOT)  # owt's folder first, not owt/core
        assert warm["served"] == 1 and len(warm["adaptors"]) == 1
        worker.finish()
        assert worker.proc.stderr is not None
        assert b"to the log" in worker.proc.stderr.read()


@pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="Linux scheduling policies")
def test_a_worker_and_its_threads_yield_to_the_server() -> None:
    """Workers run under SCHED_BATCH (their wake-ups do not preempt the server's loop); the
    server itself does not, and the threads that run calls inherit it."""
    code = "import os\ndef run(): return os.sched_getscheduler(0)"

    async def test(executor: ProcessExecutor) -> None:
        reply = await executor.submit(make(code))
        assert int(reply.body) == os.SCHED_BATCH

    with_executor(test)
    assert os.sched_getscheduler(0) != os.SCHED_BATCH


def test_a_cancelled_call_still_running_a_moment_later_drains_its_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="owt.executors.process")

    async def test(executor: ProcessExecutor) -> None:
        first = json.loads((await executor.submit(make(PID))).body)
        slow = make("import time\ndef run():\n    time.sleep(30)")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await executor.submit(slow)
        assert executor.status()["replaced"] == 0  # it may yet end: its worker serves on
        await asyncio.sleep(SETTLE_GRACE + 0.3)
        assert executor.status()["replaced"] == 1
        assert executor.status()["killed_for_timeout"] == 1
        second = json.loads((await executor.submit(make(PID))).body)
        assert second != first
        # The log says when the drain starts and when the old process, its other calls
        # done (the stuck one does not count), is stopped.
        assert f"draining worker {first}" in caplog.text
        assert f"drained worker {first} has no other calls left" in caplog.text

    with_executor(test)


def test_a_cancelled_call_that_ends_soon_after_keeps_its_warm_worker() -> None:
    code = (
        "import os, time\n"
        "loads = []\n"
        "def run(nap):\n"
        "    keep('model', lambda: loads.append(1))\n"
        "    time.sleep(nap)\n"
        "    return [os.getpid(), len(loads)]\n"
    )

    async def test(executor: ProcessExecutor) -> None:
        first = json.loads((await executor.submit(make(code, nap=0))).body)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await executor.submit(make(code, nap=0.6))  # ends 0.3 s after its deadline
        await asyncio.sleep(SETTLE_GRACE + 0.3)
        assert executor.status()["replaced"] == 0
        assert executor.status()["workers"][0]["busy"] == 0
        again = json.loads((await executor.submit(make(code, nap=0))).body)
        assert again == first  # the same process, its model loaded once

    with_executor(test)


def test_closing_a_stream_early_keeps_a_warm_worker(tmp_path: Path) -> None:
    marker = tmp_path / "closed"
    code = """
import os, time
def run(marker):
    try:
        while True:
            yield "x"
            time.sleep(0.01)
    finally:
        open(marker, "w").write("closed")
"""

    async def test(executor: ProcessExecutor) -> None:
        before = json.loads((await executor.submit(make(PID))).body)
        reply = await executor.submit(make(code, marker=str(marker)))
        assert reply.stream is not None
        assert await reply.stream.__anext__() == b"x"  # type: ignore[union-attr]
        await reply.stream.aclose()  # type: ignore[union-attr]
        for _ in range(100):  # the close reaches the worker in the background
            if marker.exists():
                break
            await asyncio.sleep(0.05)
        assert marker.read_text() == "closed"
        assert json.loads((await executor.submit(make(PID))).body) == before

    with_executor(test)


def test_a_slow_reader_holds_a_fast_stream_in_the_worker() -> None:
    code = "def run():\n    while True:\n        yield 'x' * 1000"

    async def test(executor: ProcessExecutor) -> None:
        reply = await executor.submit(make(code))
        stream = reply.stream
        assert isinstance(stream, WorkerStream)
        assert await stream.__anext__() == b"x" * 1000
        await asyncio.sleep(1)  # the adaptor could make millions of chunks meanwhile
        assert stream.queue.qsize() <= 4  # a few batches ahead, at most 64 chunks each
        assert len(stream.items) <= 64
        await stream.aclose()

    with_executor(test)


def test_a_stream_sends_four_batches_unasked_then_one_per_pull() -> None:
    # A sync generator's chunks go out from its own thread while the server has room (so a
    # generator that keeps the GIL does not hold them up); the room is the same: PULL_AHEAD
    # batches unasked, one more per pull, all in order.
    with RawWorker() as worker:
        assert worker.receive()[0] == "ready"
        code = "import time\ndef run():\n    for i in range(12):\n"
        code += "        t = time.perf_counter()\n"
        code += "        while time.perf_counter() - t < 0.01: pass\n"  # keeps the GIL
        code += "        yield f'{i},'\n"
        worker.send(("call", "s", make(code)))
        head = worker.receive()
        assert head[:3] == ("head", "s", 200) and head[4] == b"0," and head[5] is True
        got = [head[4]]
        for _ in range(4):
            kind, call_id, items, _ = worker.receive()
            assert (kind, call_id) == ("items", "s")
            got += items
        assert not worker.waiting(0.5)  # no room left at the server: the rest waits there
        while items[-1] is not None:
            worker.send(("pull", "s"))
            kind, _, items, _ = worker.receive()
            got += items
        assert b"".join(got[:-1]) == "".join(f"{i}," for i in range(12)).encode()
        worker.finish()


def test_quick_and_slow_chunks_keep_their_order_whatever_the_room() -> None:
    # Quick chunks gather on the worker's loop, slow ones may go straight from the
    # generator's thread: both lanes must keep the order, however the reader's pulls fall.
    with RawWorker() as worker:
        assert worker.receive()[0] == "ready"
        code = "import time\ndef run():\n    for i in range(120):\n"
        code += "        if i % 6 == 5:\n            time.sleep(0.002)\n"  # slow: a lane of its own
        code += "        yield f'{i},'\n"
        for turn in range(3):
            call_id = f"s{turn}"
            worker.send(("call", call_id, make(code)))
            head = worker.receive()
            assert head[1] == call_id and head[5] is True
            got, items = [head[4]], [b""]
            while items[-1] is not None:
                time.sleep(random.choice((0, 0, 0.001, 0.004)))  # pulls early and late
                kind, _, items, _ = worker.receive()
                assert kind == "items"
                got += items
                worker.send(("pull", call_id))
            assert b"".join(got[:-1]) == "".join(f"{i}," for i in range(120)).encode()
        worker.finish()


def test_an_async_generator_that_computes_between_chunks_sends_each_when_made(
    tmp_path: Path,
) -> None:
    # An async generator that keeps the worker's loop busy after a chunk (model work between
    # awaits) must not hold back the chunk it just made: the reader is waiting before the
    # generator runs, so the chunk goes out at the generator's next await.
    flag = tmp_path / "seen"
    code = "import asyncio, os, time\nasync def run(flag):\n    yield '0'\n"
    code += "    await asyncio.sleep(0)\n    yield '1'\n    await asyncio.sleep(0)\n"
    code += "    deadline = time.monotonic() + 10\n"
    code += "    while not os.path.exists(flag) and time.monotonic() < deadline:\n"
    code += "        pass\n"  # keeps the loop until the test has seen '1'
    code += "    yield '2'\n"
    with RawWorker() as worker:
        assert worker.receive()[0] == "ready"
        for turn in range(2):  # cold, then warm
            flag.unlink(missing_ok=True)
            call_id = f"a{turn}"
            worker.send(("call", call_id, make(code, flag=str(flag))))
            head = worker.receive()
            assert head[:3] == ("head", call_id, 200) and head[4] == b"0"
            arrived = worker.waiting(5)
            flag.touch()  # let the generator go on either way
            assert arrived, f"the chunk made before the loop got busy did not go out (turn {turn})"
            assert worker.receive()[2] == [b"1"]
            rest: list[Any] = []
            while not rest or rest[-1] is not None:
                rest += worker.receive()[2]
            assert rest == [b"2", None]
        worker.finish()


def test_calls_wait_for_a_busy_pool() -> None:
    async def test(executor: ProcessExecutor) -> None:
        nap = make("import time, os\ndef run():\n    time.sleep(0.3)\n    return os.getpid()")
        replies = await asyncio.gather(*(executor.submit(nap) for _ in range(4)))
        assert [r.status for r in replies] == [200] * 4
        assert len({r.body for r in replies}) == 2  # two workers took two calls each

    with_executor(test, workers=2)


def test_one_worker_runs_calls_at_once_and_shares_kept_objects(tmp_path: Path) -> None:
    counter = tmp_path / "factory-calls"
    code = """
import os, time
def load(path):
    with open(path, "a") as file:
        file.write("x")
    return os.getpid()
def run(path):
    pid = keep("counted", lambda: load(path))
    time.sleep(0.5)
    return pid
"""
    asleep = "import asyncio\nasync def run():\n    await asyncio.sleep(0.5)\n    return 1"

    async def test(executor: ProcessExecutor) -> None:
        calls = [make(code, path=str(counter)) for _ in range(8)] + [make(asleep)] * 4
        started = asyncio.get_running_loop().time()
        replies = await asyncio.gather(*(executor.submit(c) for c in calls))
        elapsed = asyncio.get_running_loop().time() - started
        assert [r.status for r in replies] == [200] * 12
        assert len({r.body for r in replies[:8]}) == 1  # one process
        assert counter.read_text() == "x"  # the kept object was made once
        assert elapsed < 3.0  # together, not one after another (6 s)

    with_executor(test, workers=1)


def test_an_interpreter_that_is_not_python_fails_at_start(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho not python >&2\nexit 7\n")
    fake.chmod(0o755)

    async def main() -> None:
        executor = ProcessExecutor(str(fake), env="fake")
        try:
            with pytest.raises(RuntimeError, match="exited with code 7 before it was ready"):
                await executor.start()
        finally:
            await executor.aclose()

    asyncio.run(main())


def test_no_worker_outlives_aclose() -> None:
    pids: list[int] = []

    async def test(executor: ProcessExecutor) -> None:
        pids.extend(w["pid"] for w in executor.status()["workers"])

    with_executor(test, workers=2)
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
