"""Building a requirements environment is not the call: progress, --build-timeout, /_owt/envs.

The environments are built from small wheels made here by hand, found through
``UV_FIND_LINKS``/``PIP_FIND_LINKS`` with no index, so nothing is downloaded. One wheel ships a
``.pth`` file that sleeps whenever its environment's Python starts: starting the environment's
worker (the build's ``importing`` step) takes longer than the calls' timeout.
"""

from __future__ import annotations

import asyncio
import io
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
from conftest import OwtProcess, b64, make_wheel, wait_until

from owt.client import AsyncClient, Client

SLOW_START = 3.0  # seconds the slow wheel's .pth sleeps at every interpreter start
CALL_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    sleep = f"import time; time.sleep({SLOW_START})\n".encode()
    make_wheel(folder, "owt_slow", {"owt_slow.py": b"ANSWER = 42\n", "owt_slow.pth": sleep})
    make_wheel(folder, "owt_quick", {"owt_quick.py": b"ANSWER = 7\n"})
    make_wheel(folder, "owt_other", {"owt_other.py": b"ANSWER = 9\n"})
    for n in range(1, 6):  # one fresh set per client test
        make_wheel(folder, f"owt_p{n}", {f"owt_p{n}.py": f"ANSWER = {n}\n".encode()})
    return folder


def offline(wheels: Path) -> dict[str, str]:
    """Installers that look only in ``wheels``."""
    return {
        "UV_FIND_LINKS": str(wheels),
        "UV_NO_INDEX": "1",
        "UV_OFFLINE": "1",
        "PIP_FIND_LINKS": str(wheels),
        "PIP_NO_INDEX": "1",
    }


@pytest.fixture(scope="module")
def server(wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwtProcess]:
    state = tmp_path_factory.mktemp("state")
    server = OwtProcess(
        *("--timeout", str(CALL_TIMEOUT), "--state-dir", str(state), "-v"),
        env=offline(wheels),
    )
    yield server
    server.stop()


SLOW = "import owt_slow\ndef run():\n    return {'answer': owt_slow.ANSWER}\n"


def body(code: str, requirements: list[str], **fields: Any) -> dict[str, Any]:
    return {"code_b64": b64(code), "requirements": requirements, **fields}


def read_events(response: httpx.Response) -> tuple[list[tuple[str, Any]], bytes]:
    """The named events before the result, and the body after it."""
    events: list[tuple[str, Any]] = []
    name, data = "message", []
    stream = response.iter_bytes()
    buffer = b""
    for chunk in stream:
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            text = line.decode()
            if text.startswith("event: "):
                name = text[7:]
            elif text.startswith("data: "):
                data.append(text[6:])
            elif not text and data:
                events.append((name, json.loads("\n".join(data))))
                if name == "error":  # the transfer then fails, as every failed stream does
                    return events, buffer
                if name == "result":
                    return events, buffer + b"".join(stream)
                name, data = "message", []
    return events, buffer


def test_progress_reads_the_installers_lines() -> None:
    from owt.client.progress import ProgressLine
    from owt.executors.builds import Progress

    progress = Progress("key")
    uv = ["Resolved 2 packages in 1s", "Downloading torch (800.0MiB)", "Downloading numpy (16MiB)"]
    for line in [*uv, " Downloaded numpy"]:
        progress.line(line)
    event = progress.event()
    assert event["phase"] == "downloading" and event["detail"] == "Downloaded numpy"
    assert (event["downloaded_mb"], event["total_mb"]) == (16.8, 855.6)
    progress.line("Prepared 2 packages in 9s")
    assert progress.event()["phase"] == "installing"
    pip = Progress("key")
    pip.line("Collecting six==1.16.0")
    assert pip.event()["phase"] == "downloading"
    pip.line("Installing collected packages: six")
    assert pip.event()["phase"] == "installing"
    shown = io.StringIO()
    ProgressLine(shown)(event)
    assert "downloading (Downloaded numpy)" in shown.getvalue()  # the phase said once
    for detail, said in [
        ("creating the virtualenv", ": creating the virtualenv 1s"),  # not "creating creating"
        ("Downloading torch (800.0MiB)", ": downloading torch (800.0MiB) 1s"),
    ]:
        line = io.StringIO()
        ProgressLine(line)({"phase": detail.split()[0].lower(), "detail": detail, "elapsed": 1})
        assert line.getvalue() == f"owt: building the environment{said}\n"
    assert "(16.8 of 855.6 MB)" in shown.getvalue()


def test_progress_between_steps_keeps_the_last_step_and_its_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the executor has no progress to show (before a build begins, between its end
    and the worker's start), the events repeat the last step known, its time still growing."""
    from owt.core.call import Call, Reply, Request
    from owt.server import progress
    from owt.server.deadlines import Deadlines

    monkeypatch.setattr(progress, "POLL", 0.02)
    monkeypatch.setattr(progress, "HEARTBEAT", 0.0)  # an event every look
    steps = [None, {"phase": "resolving", "detail": "", "elapsed": 5.0}, None, None]

    class Executor:
        def progress(self, call: Call) -> dict[str, Any] | None:
            return steps.pop(0) if steps else None

    async def run(call: Call) -> Reply:
        return Reply(200, [("content-type", "text/plain")], b"done")

    async def collect() -> list[dict[str, Any]]:
        preparing = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.15, preparing.set_result, None)
        call = Call(code="", sha256="0" * 64, fn_name="run", kwargs={}, request=Request())
        seen = []
        async for chunk in progress._events(call, Executor(), preparing, run, Deadlines()):  # type: ignore[arg-type]
            text = chunk.decode()
            if text.startswith("event: progress"):
                seen.append(json.loads(text.split("data: ", 1)[1]))
        return seen

    seen = asyncio.run(collect())
    phases = [event["phase"] for event in seen]
    assert phases[:2] == ["waiting", "resolving"] and set(phases[2:]) == {"resolving"}, seen
    clock = [event["elapsed"] for event in seen]
    assert clock == sorted(clock) and clock[-1] >= 5.0, seen


def test_a_build_longer_than_the_timeout_streams_progress_then_the_result(
    server: OwtProcess,
) -> None:
    started = time.monotonic()
    with httpx.stream(
        "POST",
        server.url,
        json=body(SLOW, ["owt-slow==0.1"]),
        headers={"accept": "text/event-stream"},
        timeout=120,
    ) as r:
        assert r.status_code == 200
        assert r.headers["x-owt-progress"] == "1"
        events, rest = read_events(r)
    took = time.monotonic() - started
    assert took > CALL_TIMEOUT  # the build ran past the call's timeout, and did not count
    names = [name for name, _ in events]
    assert names[-1] == "result", events
    assert names.count("progress") >= 3
    phases = [data["phase"] for name, data in events if name == "progress"]
    assert "resolving" in phases or "creating" in phases
    assert "importing" in phases  # the slow step: the environment's Python starting
    clock = [data["elapsed"] for name, data in events if name == "progress"]
    assert clock == sorted(clock), events  # no step back to a "waiting" at 0
    assert events[-1][1] == {"status": 200, "content_type": "application/json"}
    assert json.loads(rest) == {"answer": 42}

    # Warm now: no progress, well within the timeout, whichever way it is asked.
    started = time.monotonic()
    r = httpx.post(server.url, json=body(SLOW, ["owt-slow==0.1"]), timeout=30)
    assert (r.status_code, r.json()) == (200, {"answer": 42})
    r = httpx.post(
        server.url,
        json=body(SLOW, ["owt-slow==0.1"]),
        headers={"accept": "text/event-stream"},
        timeout=30,
    )
    assert r.json() == {"answer": 42} and "x-owt-progress" not in r.headers
    assert time.monotonic() - started < CALL_TIMEOUT
    # The server logged each step of the build.
    assert any("build cp" in line and "importing" in line for line in server.lines)
    assert any("ready in" in line for line in server.lines)


def test_a_plain_caller_waits_out_the_build_too(server: OwtProcess) -> None:
    code = "import owt_slow, owt_other\ndef run():\n    return owt_slow.ANSWER + owt_other.ANSWER\n"
    r = httpx.post(server.url, json=body(code, ["owt-slow", "owt-other"]), timeout=120)
    assert (r.status_code, r.text) == (200, "51")


def test_an_sse_adaptor_keeps_its_events_after_the_progress(server: OwtProcess) -> None:
    code = (
        "import owt_quick\nfrom owt.lib.stream import sse\n"
        "def run(n: int):\n    return sse(owt_quick.ANSWER * i for i in range(n))\n"
    )
    with httpx.stream(
        "POST",
        server.url,
        json=body(code, ["owt-quick==0.1"], kwargs={"n": 3}),
        headers={"accept": "text/event-stream"},
        timeout=120,
    ) as r:
        events, rest = read_events(r)
    assert events[-1] == ("result", {"status": 200, "content_type": events[-1][1]["content_type"]})
    assert events[-1][1]["content_type"].startswith("text/event-stream")
    data = [line[6:] for line in rest.decode().splitlines() if line.startswith("data: ")]
    assert data == ["0", "7", "14", "[DONE]"]


def test_a_failed_build_is_an_error_event(server: OwtProcess) -> None:
    with httpx.stream(
        "POST",
        server.url,
        json=body(SLOW, ["owt-missing-package==1.0"]),
        headers={"accept": "text/event-stream"},
        timeout=120,
    ) as r:
        try:
            events, _ = read_events(r)
        except httpx.RemoteProtocolError:  # the stream ends as a failed transfer
            pytest.fail("the error event comes before the transfer fails")
    if r.headers.get("x-owt-progress"):
        assert events[-1][0] == "error"
        assert events[-1][1]["error"] == "install_failed"
    else:  # failed before the progress began: an ordinary 424
        assert r.status_code == 424


def test_a_timed_out_call_says_timed_out_in_the_log(server: OwtProcess) -> None:
    code = "import time\ndef run():\n    time.sleep(10)\n"
    r = httpx.post(server.url, json={"code_b64": b64(code), "timeout": 0.5}, timeout=30)
    assert r.status_code == 504
    deadline = time.monotonic() + 5
    while not any("timed out" in line for line in server.lines) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any("timed out after 0.5s" in line for line in server.lines), server.log


def test_envs_are_listed_and_removed(server: OwtProcess) -> None:
    code = "import owt_other\ndef run():\n    return owt_other.ANSWER\n"
    assert httpx.post(server.url, json=body(code, ["owt-other"]), timeout=120).text == "9"
    listing = httpx.get(server.url + "/_owt/envs").json()
    (row,) = [e for e in listing["environments"] if e["requirements"] == ["owt-other"]]
    assert row["size"] > 0 and row["workers"] == 1 and row["memory"] > 0
    assert row["python"].startswith("cp3") and row["last_used"] > time.time() - 60
    assert Path(row["path"]).is_dir()
    (pid,) = row["pids"]

    r = httpx.delete(f"{server.url}/_owt/envs/{row['key']}")
    assert r.status_code == 200, r.text
    freed = r.json()
    assert freed["freed_bytes"] == row["size"] and freed["freed_memory"] > 0
    assert not Path(row["path"]).exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    keys = [e["key"] for e in httpx.get(server.url + "/_owt/envs").json()["environments"]]
    assert row["key"] not in keys
    r = httpx.delete(f"{server.url}/_owt/envs/{row['key']}")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert httpx.delete(server.url + "/_owt/envs/not-a-key").status_code == 404

    # Asked for again, it is built again.
    assert httpx.post(server.url, json=body(code, ["owt-other"]), timeout=120).text == "9"


def test_a_disk_bound_removes_the_least_recently_used(
    wheels: Path, tmp_path: Path, start_server: Any
) -> None:
    server = start_server(
        *("--state-dir", str(tmp_path), "--envs-max-bytes", "1"), env=offline(wheels)
    )
    first = "import owt_quick\ndef run():\n    return owt_quick.ANSWER\n"
    second = "import owt_other\ndef run():\n    return owt_other.ANSWER\n"
    assert httpx.post(server.url, json=body(first, ["owt-quick"]), timeout=120).text == "7"
    assert httpx.post(server.url, json=body(second, ["owt-other"]), timeout=120).text == "9"
    envs = httpx.get(server.url + "/_owt/envs").json()["environments"]
    assert [e["requirements"] for e in envs] == [["owt-other"]]  # the newest stays


def test_build_timeout_gives_up(wheels: Path, tmp_path: Path, start_server: Any) -> None:
    server = start_server(
        *("--state-dir", str(tmp_path), "--build-timeout", "1"), env=offline(wheels)
    )
    r = httpx.post(server.url, json=body(SLOW, ["owt-slow"]), timeout=60)
    assert r.status_code == 424, r.text
    assert "--build-timeout" in r.json()["message"]


# -- the clients show it -----------------------------------------------------------------


def fresh(n: int) -> tuple[str, list[str]]:
    code = f"import owt_p{n}\nfrom owt.lib.stream import sse\n"
    code += f"def run(k: int = 2):\n    return sse(owt_p{n}.ANSWER * 10 + i for i in range(k))\n"
    return code, [f"owt-p{n}"]


def test_python_client_events_and_stream_show_progress(server: OwtProcess) -> None:
    seen: list[dict[str, Any]] = []
    with Client(server.url, progress=seen.append, timeout=120) as client:
        code, requirements = fresh(1)
        assert list(client.adaptor(code, requirements=requirements).events()) == [10, 11]
        assert seen and all("phase" in event for event in seen)
        assert {e["phase"] for e in seen} & {"creating", "resolving", "installing", "importing"}
        count = len(seen)
        assert list(client.adaptor(code, requirements=requirements).events(k=1)) == [10]
        assert len(seen) == count  # warm: nothing to show

        seen.clear()
        code, requirements = fresh(2)
        text = "".join(str(c) for c in client.adaptor(code, requirements=requirements).stream())
        assert text.startswith("id: 0\ndata: 20") or "data: 20" in text
        assert "progress" not in text and seen

        seen.clear()
        plain = "import owt_p3\ndef run():\n    return {'n': owt_p3.ANSWER}\n"
        assert client.adaptor(plain, requirements=["owt-p3"])() == {"n": 3}
        assert seen


def test_async_client_shows_progress(server: OwtProcess) -> None:
    import asyncio

    seen: list[dict[str, Any]] = []

    async def main() -> list[Any]:
        async with AsyncClient(server.url, progress=seen.append, timeout=120) as client:
            code, requirements = fresh(4)
            return [e async for e in client.adaptor(code, requirements=requirements).events()]

    assert asyncio.run(main()) == [40, 41]
    assert seen


def test_cli_stream_shows_a_progress_line(server: OwtProcess, tmp_path: Path) -> None:
    code, _ = fresh(5)
    (tmp_path / "p5.py").write_text(code)
    done = subprocess.run(
        [sys.executable, "-m", "owt", "call", "--stream", server.url, "p5.py", "-r", "owt-p5"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "owt: building the environment:" in done.stderr
    assert "data: 50" in done.stdout and "progress" not in done.stdout


def test_a_call_waiting_for_its_build_is_refused_at_once_on_shutdown(
    wheels: Path, tmp_path: Path
) -> None:
    """A call whose environment is still building has not started: on SIGTERM it is answered
    503 at once, as a queued call is, not held for the whole --graceful-timeout."""
    server = OwtProcess(
        *("--graceful-timeout", "20", "--state-dir", str(tmp_path), "-v"), env=offline(wheels)
    )
    answers: list[httpx.Response] = []
    waiting = threading.Thread(
        target=lambda: answers.append(
            httpx.post(server.url, json=body(SLOW, ["owt-slow==0.1"]), timeout=60)
        )
    )
    try:
        waiting.start()
        assert wait_until(lambda: any("build cp" in line for line in server.lines), timeout=30)
        stopped = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        waiting.join(30)
        (answer,) = answers
        assert (answer.status_code, answer.json()["error"]) == (503, "busy"), answer.text
        assert "shutting down" in answer.json()["message"]
        assert time.monotonic() - stopped < 10  # not the 20 s of --graceful-timeout
        assert server.proc.wait(30) == 0
    finally:
        server.stop()
