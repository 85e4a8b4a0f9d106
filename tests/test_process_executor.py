"""Worker processes against a real server: environments, warm state, faults, shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import OwtProcess, alive, b64, call, status, wait_until

MEMORY = str(1024**3)  # --worker-max-memory for the test servers: 1 GiB of address space

WHERE = """
import os, sys
def run():
    return {"prefix": sys.prefix, "pid": os.getpid(), "executable": sys.executable}
"""

COUNTER = """
import os
count = 0
def run():
    global count
    count += 1
    return {"pid": os.getpid(), "count": count}
"""

PID = "import os\ndef run(): return os.getpid()"


@pytest.fixture(scope="module")
def server(bare_python: str) -> Iterator[OwtProcess]:
    server = OwtProcess(
        "--timeout", "10",
        "--env", f"bare={bare_python}",
        "--env", f"pool={sys.executable}:2",
        "--env", f"solo={sys.executable}",
        "--worker-max-memory", MEMORY,
        "--max-queue", "1",
        "--worker-threads", "1",  # one call at a time per worker: queues fill quickly
    )  # fmt: skip
    yield server
    server.stop()


def run_in(server: OwtProcess, env: str, code: str, **kwargs: Any) -> httpx.Response:
    return call(server.url, code, fields={"env": env}, **kwargs)


def worker_pids(server: OwtProcess) -> set[int]:
    pids = set()
    for env in status(server)["environments"].values():
        pids.update(w["pid"] for w in env.get("workers", []))
    return pids


def test_bare_virtualenv_runs_code(server: OwtProcess, bare_python: str) -> None:
    r = run_in(server, "bare", WHERE)
    assert r.status_code == 200, r.text
    assert r.json()["prefix"] == str(Path(bare_python).parent.parent)
    # Nothing of the server's is importable there.
    r = run_in(server, "bare", "def run():\n    import starlette")
    assert r.status_code == 500
    assert r.json()["type"] == "ModuleNotFoundError"


def test_prelude_names_work_in_a_bare_worker(server: OwtProcess) -> None:
    code = """
from owt.server import Server
def run(request, name):
    return {"url": Server.sing().url, "path": request.path, "n": name, "k": keep("x", list)}
"""
    r = call(server.url, code, path="/some/where", fields={"env": "bare"}, name="owt")
    assert r.status_code == 200, r.text
    assert r.json() == {"url": server.url, "path": "/some/where", "n": "owt", "k": []}
    terse = 'path().f(lambda names: f"Hello {names[0]}!")'
    r = call(server.url, terse, path="/bob", fields={"env": "bare"})
    assert r.status_code == 200, r.text
    assert r.text == "Hello bob!"


def test_unknown_env_lists_the_known_ones(server: OwtProcess) -> None:
    r = run_in(server, "nowhere", PID)
    assert r.status_code == 400
    assert r.json()["error"] == "unknown_env"
    assert set(r.json()["known"]) == {"main", "bare", "pool", "solo"}


def test_module_state_stays_warm(server: OwtProcess) -> None:
    first = run_in(server, "bare", COUNTER).json()
    second = run_in(server, "bare", COUNTER).json()
    assert second["pid"] == first["pid"]
    assert second["count"] == first["count"] + 1


def test_keep_survives_a_code_change(server: OwtProcess) -> None:
    version = (
        "def run():\n    model = keep('model', lambda: {'loaded': __import__('time').time()})\n"
    )
    a = run_in(server, "bare", version + "    return [1, model['loaded']]").json()
    b = run_in(server, "bare", version + "    return [2, model['loaded']]").json()
    assert a[0] == 1 and b[0] == 2
    assert a[1] == b[1]  # the second code got the object the first one built
    kept = status(server)["environments"]["bare"]["kept"]
    assert "model" in kept


def test_status_lists_workers_and_warm_adaptors(server: OwtProcess, bare_python: str) -> None:
    run_in(server, "bare", WHERE)
    env = status(server)["environments"]["bare"]
    assert env["executor"] == "process"
    assert env["python"] == bare_python
    assert env["prefix"] == str(Path(bare_python).parent.parent)
    (worker,) = env["workers"]
    assert {"pid", "busy", "calls", "rss", "kept", "adaptors"} <= set(worker)
    assert worker["calls"] >= 1 and worker["rss"] > 0
    assert any(a["functions"] == ["run"] for a in env["adaptors"])
    assert len(status(server)["environments"]["pool"]["workers"]) == 2


def test_timeout_is_504_and_the_worker_is_replaced(server: OwtProcess) -> None:
    before = run_in(server, "solo", PID).json()
    slow = "import time\ndef run():\n    time.sleep(30)"
    r = call(server.url, slow, fields={"env": "solo", "timeout": 0.5})
    assert r.status_code == 504
    assert r.json()["error"] == "timeout"
    assert wait_until(lambda: not alive(before))
    after = run_in(server, "solo", PID)
    assert after.status_code == 200
    assert after.json() != before


def test_a_call_a_little_past_its_timeout_keeps_its_warm_worker(server: OwtProcess) -> None:
    code = (
        "import os, time\n"
        "loads = []\n"
        "def run(nap=0):\n"
        "    keep('model', lambda: loads.append(1))\n"
        "    time.sleep(nap)\n"
        "    return [os.getpid(), len(loads)]\n"
    )
    before = run_in(server, "solo", code).json()
    replaced = status(server)["environments"]["solo"]["replaced"]
    r = call(server.url, code, fields={"env": "solo", "timeout": 0.5}, nap=0.8)
    assert (r.status_code, r.json()["error"]) == (504, "timeout")
    time.sleep(1.5)  # it ended 0.3 s after its deadline, within the grace (1 s)
    assert run_in(server, "solo", code).json() == before  # same process, model loaded once
    assert status(server)["environments"]["solo"]["replaced"] == replaced


@pytest.mark.parametrize(
    ("code", "exit_code"),
    [
        ("import os\ndef run():\n    os._exit(3)", 3),
        ("import ctypes\ndef run():\n    ctypes.string_at(0)", -signal.SIGSEGV),
        ("def run():\n    return len(bytearray(8 * 1024**3))", 137),
    ],
    ids=["exit", "segfault", "memory"],
)
def test_a_dying_worker_is_502_and_replaced(server: OwtProcess, code: str, exit_code: int) -> None:
    before = run_in(server, "solo", PID).json()
    r = run_in(server, "solo", code)
    assert r.status_code == 502, r.text
    assert r.json()["error"] == "worker_died"
    assert r.json()["exit_code"] == exit_code
    after = run_in(server, "solo", PID)
    assert after.status_code == 200
    assert after.json() != before


def test_an_idle_worker_that_dies_is_replaced(server: OwtProcess) -> None:
    pid = run_in(server, "solo", PID).json()
    os.kill(pid, signal.SIGKILL)
    assert wait_until(
        lambda: (
            pid not in worker_pids(server)
            and bool(status(server)["environments"]["solo"]["workers"])
        )
    )
    r = run_in(server, "solo", PID)
    assert r.status_code == 200 and r.json() != pid


def test_print_does_not_break_the_protocol(server: OwtProcess) -> None:
    code = r"""
import os, sys
def run():
    print("hello from the adaptor " * 2000)
    sys.stdout.write("\x00\x00\x00\x10not a frame\n")
    sys.stdout.flush()
    os.write(1, b"\x00\x00\x00\x05raw fd 1\n")
    return "fine"
"""
    r = run_in(server, "bare", code)
    assert r.status_code == 200
    assert r.text == "fine"
    assert run_in(server, "bare", "def run(): return 'still fine'").text == "still fine"
    assert wait_until(lambda: "raw fd 1" in server.log)


def test_a_worker_stream_arrives_chunk_by_chunk(server: OwtProcess) -> None:
    code = """
import time
def run(n):
    for i in range(n):
        yield f"{i}\\n"
        time.sleep(0.4)
"""
    body = {"code_b64": b64(code), "kwargs": {"n": 3}, "env": "bare"}
    start = time.monotonic()
    arrivals = []
    with httpx.stream("POST", server.url, json=body, timeout=30) as r:
        for chunk in r.iter_raw():
            if chunk:
                arrivals.append((time.monotonic() - start, chunk))
    assert b"".join(c for _, c in arrivals) == b"0\n1\n2\n"
    assert arrivals[0][0] < 0.35  # long before the generator finishes (>= 1.2 s)


def test_async_adaptors_and_asyncio_run_work_in_a_worker(server: OwtProcess) -> None:
    agen = """
import asyncio
async def run(n):
    for i in range(n):
        await asyncio.sleep(0.01)
        yield i
"""
    r = run_in(server, "bare", agen, n=3)
    assert r.status_code == 200 and r.text == "0\n1\n2\n"
    coro = "import asyncio\nasync def run():\n    await asyncio.sleep(0.01)\n    return 'ok'"
    assert run_in(server, "bare", coro).text == "ok"
    nested = """
import asyncio
async def twice(x):
    return 2 * x
def run():
    return asyncio.run(twice(21))
"""
    assert run_in(server, "bare", nested).json() == 42


def test_a_client_leaving_closes_the_generator(server: OwtProcess, tmp_path: Path) -> None:
    marker = tmp_path / "closed"
    code = """
import os, time
def run(marker):
    try:
        while True:
            yield "tick\\n"
            time.sleep(0.05)
    finally:
        open(marker, "w").write(str(os.getpid()))
"""
    body = {"code_b64": b64(code), "kwargs": {"marker": str(marker)}, "env": "bare"}
    with httpx.stream("POST", server.url, json=body, timeout=30) as r:
        for chunk in r.iter_raw():
            if chunk:
                break
    assert wait_until(marker.exists)
    assert wait_until(lambda: not status(server)["environments"]["bare"]["workers"][0]["busy"])
    pid = int(marker.read_text())
    assert run_in(server, "bare", PID).json() == pid  # the same worker serves on


def test_a_stream_stuck_past_its_timeout_kills_the_worker(server: OwtProcess) -> None:
    code = "import os, time\ndef run():\n    yield f'{os.getpid()}\\n'\n    time.sleep(30)"
    body = {"code_b64": b64(code), "env": "solo", "timeout": 0.5}
    start = time.monotonic()
    text = b""
    # cut: never a clean end
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", server.url, json=body, timeout=30) as r,
    ):
        for chunk in r.iter_raw():
            text += chunk
    assert time.monotonic() - start < 5
    pid = int(text)
    assert wait_until(lambda: not alive(pid))
    assert run_in(server, "solo", PID).json() != pid


def test_an_error_after_the_stream_started_ends_it(server: OwtProcess) -> None:
    code = "def run():\n    yield 'a'\n    raise ValueError('late')"
    body = {"code_b64": b64(code), "env": "bare"}
    text = b""
    # cut: never a clean end
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", server.url, json=body, timeout=30) as r,
    ):
        assert r.status_code == 200
        for chunk in r.iter_raw():
            text += chunk
    assert text == b"a"
    assert wait_until(lambda: "ValueError: late" in server.log)
    assert run_in(server, "bare", "def run(): return 'next'").text == "next"


def test_a_full_queue_is_503(server: OwtProcess) -> None:
    slow = "import time\ndef run():\n    time.sleep(1.5)\n    return 'slow'"
    results: list[int] = []

    def slow_call() -> None:
        results.append(run_in(server, "solo", slow).status_code)

    threads = [threading.Thread(target=slow_call) for _ in range(2)]
    for thread in threads:  # one runs, one waits (--max-queue 1)
        thread.start()
        time.sleep(0.3)
    r = run_in(server, "solo", PID)
    for thread in threads:
        thread.join()
    assert r.status_code == 503
    assert r.json()["error"] == "busy"
    assert results == [200, 200]


def test_worker_max_calls_recycles(start_server: Any) -> None:
    server = start_server("--isolate", "--worker-max-calls", "2", "--env", f"one={sys.executable}")
    pids = [run_in(server, "one", PID).json() for _ in range(4)]
    assert pids[0] == pids[1] != pids[2] == pids[3]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_shutdown_leaves_no_worker_behind(bare_python: str, sig: int) -> None:
    server = OwtProcess("--isolate", "--env", f"bare={bare_python}:2")
    try:
        child = "import subprocess\ndef run():\n    return subprocess.Popen(['sleep', '60']).pid"
        grandchild = run_in(server, "bare", child).json()
        pids = worker_pids(server)
        assert len(pids) >= 3
        assert all(alive(pid) for pid in pids)
    finally:
        code = server.stop(sig)
    assert code == 0, server.log
    assert wait_until(lambda: not any(alive(pid) for pid in pids), timeout=5)
    assert wait_until(lambda: not alive(grandchild), timeout=5)


def test_a_busy_worker_is_stopped_at_shutdown(bare_python: str) -> None:
    server = OwtProcess("--env", f"bare={bare_python}")
    pids = worker_pids(server)
    stuck = threading.Thread(
        target=lambda: run_in(server, "bare", "import time\ndef run():\n    time.sleep(60)"),
    )
    stuck.start()
    time.sleep(0.5)
    server.stop(signal.SIGTERM)
    stuck.join(10)
    assert wait_until(lambda: not any(alive(pid) for pid in pids), timeout=5)


def test_a_wrong_interpreter_is_refused_at_start(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "owt", "serve", "--port", "0", "--env", f"x={tmp_path}/nope"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2
    assert "--env" in r.stderr and "not an executable" in r.stderr


def test_status_is_json_with_requirements(server: OwtProcess) -> None:
    body = status(server)
    assert body["requirements"]["executor"] == "requirements"
    json.dumps(body)


def test_a_worker_holds_no_descriptor_the_servers_parent_left_open(tmp_path: Path) -> None:
    """Only the frame pipes and stdio reach an adaptor: not what a shell (or whatever
    started the server) left open and inheritable."""
    secret = tmp_path / "left-open"
    secret.write_text("not for adaptors")
    fd = os.open(secret, os.O_RDONLY)
    os.set_inheritable(fd, True)
    try:
        server = OwtProcess(pass_fds=(fd,))
    finally:
        os.close(fd)
    try:
        code = (
            "import os\ndef run():\n    return sorted(os.readlink(f'/proc/self/fd/{n}') "
            "for n in os.listdir('/proc/self/fd') if os.path.exists(f'/proc/self/fd/{n}'))\n"
        )
        r = httpx.post(server.url, json={"code_b64": b64(code)}, timeout=30)
        assert r.status_code == 200, r.text
        assert str(secret) not in r.json()
    finally:
        server.stop()
