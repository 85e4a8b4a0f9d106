"""Whatever happens to an environment (its build stopped, its interpreter gone) reaches its
callers as a JSON error that says what to do, or is mended.

The slow builds here install a local project whose build step sleeps (``make_slow_project``),
so there is time to remove its environment, stop the server or leave while it builds.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import OwtProcess, b64, make_slow_project, make_wheel, wait_until

CODE = "def run():\n    return 'ran'\n"


def slow_builds(seconds: float) -> dict[str, str]:
    """Installers that look at no index and cache no build, so each build sleeps again."""
    return {
        "UV_NO_INDEX": "1",
        "UV_OFFLINE": "1",
        "UV_NO_CACHE": "1",
        "OWT_TEST_BUILD_SECONDS": str(seconds),
    }


def body(requirement: str, code: str = CODE, **fields: Any) -> dict[str, Any]:
    return {"code_b64": b64(code), "requirements": [requirement], **fields}


def sse_events(
    url: str, fields: dict[str, Any], started: threading.Event | None = None
) -> list[tuple[str, Any]]:
    """The named events of a streamed call: all of a failed one, up to a ``result``
    (``started`` is set at the first)."""
    events: list[tuple[str, Any]] = []
    headers = {"accept": "text/event-stream"}
    with httpx.stream("POST", url, json=fields, headers=headers, timeout=60) as r:
        name, buffer = "message", ""
        try:
            for text in r.iter_text():
                buffer += text
                while "\n\n" in buffer:
                    block, buffer = buffer.split("\n\n", 1)
                    lines = block.splitlines()
                    name = next((ln[7:] for ln in lines if ln.startswith("event: ")), "message")
                    data = "".join(ln[6:] for ln in lines if ln.startswith("data: "))
                    events.append((name, json.loads(data)))
                    if started is not None:
                        started.set()
                    if name == "result":
                        return events
        except httpx.RemoteProtocolError:  # a failed stream ends so, after its error event
            pass
    return events


def in_background(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    found: list[Any] = []
    thread = threading.Thread(target=lambda: found.append(work()), daemon=True)
    thread.start()
    return thread, found


def building_key(server: OwtProcess) -> str:
    """The key of the environment being built (once one is)."""
    keys: list[str] = []

    def building() -> bool:
        envs = httpx.get(server.url + "/_owt/status").json()["requirements"]["environments"]
        keys[:] = [key for key, env in envs.items() if env["state"] == "building"]
        return bool(keys)

    assert wait_until(building, timeout=30), server.log
    return keys[0]


def test_removing_an_environment_mid_build_answers_its_callers_as_json(
    tmp_path: Path, start_server: Any
) -> None:
    requirement = make_slow_project(tmp_path, "owt_removed")
    server = start_server("--state-dir", str(tmp_path / "state"), env=slow_builds(8))
    fields = body(requirement)
    plain, plain_answer = in_background(lambda: httpx.post(server.url, json=fields, timeout=60))
    progressing = threading.Event()
    streamed, streamed_events = in_background(lambda: sse_events(server.url, fields, progressing))
    key = building_key(server)
    assert progressing.wait(30)
    time.sleep(0.3)  # the plain caller waits for the build too
    assert httpx.delete(f"{server.url}/_owt/envs/{key}").status_code == 200
    plain.join(30)
    streamed.join(30)

    (answer,) = plain_answer
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == "busy"
    message = answer.json()["message"]
    assert "removed" in message and "send the call again" in message
    (events,) = streamed_events
    name, error = events[-1]
    assert name == "error", events
    assert error["error"] == "busy" and error["status"] == 503 and "removed" in error["message"]
    assert [n for n, _ in events].count("error") == 1
    assert "Exception in ASGI application" not in server.log
    assert "CancelledError" not in server.log
    # Asked for again, it is built anew.
    r = httpx.post(server.url, json=fields, timeout=60)
    assert (r.status_code, r.text) == (200, "ran")


def test_a_streamed_caller_waiting_on_shutdown_hears_why_with_its_status(
    tmp_path: Path, start_server: Any
) -> None:
    requirement = make_slow_project(tmp_path, "owt_shutdown")
    server = start_server("--state-dir", str(tmp_path / "state"), env=slow_builds(8))
    progressing = threading.Event()
    streamed, found = in_background(lambda: sse_events(server.url, body(requirement), progressing))
    assert progressing.wait(30)  # its progress stream began: the error comes as an event
    server.proc.send_signal(signal.SIGTERM)
    streamed.join(30)
    (events,) = found
    assert [n for n, _ in events].count("error") == 1, events
    name, error = events[-1]
    assert name == "error" and error["error"] == "busy" and error["status"] == 503, events
    assert "shutting down" in error["message"]


def test_a_caller_that_left_during_the_build_is_not_run_after_it(
    tmp_path: Path, start_server: Any
) -> None:
    requirement = make_slow_project(tmp_path, "owt_left")
    server = start_server("--state-dir", str(tmp_path / "state"), env=slow_builds(4))
    mark = tmp_path / "ran"
    code = f"def run():\n    open({str(mark)!r}, 'w').write('ran')\n"
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.url, json=body(requirement, code), timeout=1.5)
    # The build goes on for the next call of its set; the caller that left is not run.
    r = httpx.post(server.url, json=body(requirement), timeout=60)
    assert (r.status_code, r.text) == (200, "ran")
    time.sleep(0.5)
    assert not mark.exists()


# -- an environment whose interpreter breaks under it -------------------------------------


QUICK = "import owt_quick\ndef run():\n    return owt_quick.ANSWER\n"


@pytest.fixture
def quick_server(tmp_path: Path, start_server: Any) -> OwtProcess:
    """A server whose installers find only the ``owt_quick`` wheel made here."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "owt_quick", {"owt_quick.py": b"ANSWER = 7\n"})
    offline = {"UV_FIND_LINKS": str(wheels), "UV_NO_INDEX": "1", "UV_OFFLINE": "1"}
    server: OwtProcess = start_server("--state-dir", str(tmp_path / "state"), "-v", env=offline)
    return server


def built(server: OwtProcess) -> dict[str, Any]:
    """The environment of ``owt-quick`` once a call built it, as /_owt/envs lists it."""
    r = httpx.post(server.url, json=body("owt-quick", QUICK), timeout=60)
    assert (r.status_code, r.text) == (200, "7")
    (row,) = httpx.get(server.url + "/_owt/envs").json()["environments"]
    return dict(row)


def kill_workers(row: dict[str, Any]) -> None:
    for pid in row["pids"]:
        os.kill(pid, signal.SIGKILL)


def test_an_environment_whose_interpreter_was_deleted_is_built_again(
    quick_server: OwtProcess,
) -> None:
    row = built(quick_server)
    for python in (Path(row["path"]) / "bin").glob("python*"):
        python.unlink()
    kill_workers(row)
    started = time.monotonic()
    r = httpx.post(quick_server.url, json=body("owt-quick", QUICK), timeout=60)
    assert (r.status_code, r.text) == (200, "7")
    assert time.monotonic() - started < 30
    assert "is gone; building it again" in quick_server.log
    assert "Task exception was never retrieved" not in quick_server.log


def test_a_broken_interpreter_is_a_quick_error_that_says_rebuild(
    quick_server: OwtProcess,
) -> None:
    row = built(quick_server)
    python = Path(row["path"]) / "bin" / "python"
    python.unlink()
    python.write_text("#!/bin/sh\nexit 3\n")
    python.chmod(0o755)
    kill_workers(row)
    started = time.monotonic()
    r = httpx.post(quick_server.url, json=body("owt-quick", QUICK), timeout=60)
    assert r.status_code == 502 and r.json()["error"] == "worker_died", r.text
    assert "rebuild=true" in r.json()["message"] and "--env" not in r.json()["message"]
    assert time.monotonic() - started < 10
    r = httpx.post(quick_server.url, json=body("owt-quick", QUICK, rebuild=True), timeout=60)
    assert (r.status_code, r.text) == (200, "7")


def test_a_named_environment_whose_interpreter_is_gone_fails_fast(
    tmp_path: Path, start_server: Any
) -> None:
    link = tmp_path / "python"
    link.symlink_to(sys.executable)
    server = start_server("--env", f"gone={link}")
    code = "import os\ndef run():\n    return os.getpid()\n"
    r = httpx.post(server.url, json={"code_b64": b64(code), "env": "gone"}, timeout=30)
    assert r.status_code == 200
    link.unlink()
    os.kill(int(r.text), signal.SIGKILL)
    for _ in range(2):  # each call, not only the first
        started = time.monotonic()
        r = httpx.post(server.url, json={"code_b64": b64(code), "env": "gone"}, timeout=30)
        assert r.status_code == 502 and r.json()["error"] == "worker_died", r.text
        assert str(link) in r.json()["message"] and "no such file" in r.json()["message"]
        assert time.monotonic() - started < 5
    assert "Task exception was never retrieved" not in server.log


# -- building again, removing: the calls running in the old build -------------------------


SLOW_CALL = "import time, owt_quick\ndef run():\n    time.sleep(2)\n    return owt_quick.ANSWER\n"


def running_call(server: OwtProcess, code: str) -> tuple[threading.Thread, list[Any]]:
    """A call of ``owt-quick`` started in the background, once it runs in its worker."""
    work = in_background(lambda: httpx.post(server.url, json=body("owt-quick", code), timeout=60))

    def in_flight() -> bool:
        envs = httpx.get(server.url + "/_owt/envs").json()["environments"]
        return any(env["in_flight"] for env in envs)

    assert wait_until(in_flight, timeout=10)
    return work


def test_a_rebuild_lets_the_calls_in_the_old_build_finish(quick_server: OwtProcess) -> None:
    built(quick_server)
    thread, found = running_call(quick_server, SLOW_CALL)
    r = httpx.post(quick_server.url, json=body("owt-quick", QUICK, rebuild=True), timeout=60)
    assert (r.status_code, r.text) == (200, "7")
    thread.join(30)
    (old,) = found
    assert (old.status_code, old.text) == (200, "7")  # not killed by the rebuild


def test_removing_an_environment_tells_its_running_calls_why(quick_server: OwtProcess) -> None:
    row = built(quick_server)
    thread, found = running_call(quick_server, SLOW_CALL.replace("sleep(2)", "sleep(20)"))
    assert httpx.delete(f"{quick_server.url}/_owt/envs/{row['key']}").status_code == 200
    thread.join(10)
    (answer,) = found
    assert answer.status_code == 502 and answer.json()["error"] == "worker_died", answer.text
    assert "was removed" in answer.json()["message"]
    assert "SIGKILL" not in answer.json()["message"]


# -- what a call may bring, and what a failed build leaves ---------------------------------


def test_a_version_range_in_the_string_form_is_one_requirement(quick_server: OwtProcess) -> None:
    query = {"code_b64": b64(QUICK), "requirements": "owt-quick>=0.1,<1"}
    r = httpx.get(quick_server.url, params=query, timeout=60)
    assert (r.status_code, r.text) == (200, "7")
    (row,) = httpx.get(quick_server.url + "/_owt/envs").json()["environments"]
    assert row["requirements"] == ["owt-quick<1,>=0.1"]


def test_spellings_of_one_requirement_share_one_environment(quick_server: OwtProcess) -> None:
    for spelling in ["owt-quick==0.1", "OWT_Quick ==0.1", "owt.quick == 0.1"]:
        r = httpx.post(quick_server.url, json=body(spelling, QUICK), timeout=60)
        assert (r.status_code, r.text) == (200, "7")
    (row,) = httpx.get(quick_server.url + "/_owt/envs").json()["environments"]
    assert row["requirements"] == ["owt-quick==0.1"]


@pytest.mark.parametrize(
    ("requirements", "words"),
    [
        ("<2", "'<2' is not a requirement"),
        (["'3'"], "\"'3'\" is not a requirement"),
        (['six; python_version > "' + "3" * 200_000 + '"'], "at most 2048 characters"),
        ([f"p{n}" for n in range(300)], "at most 256 requirements"),
    ],
)
def test_requirements_pip_would_not_read_are_400_before_any_build(
    tmp_path: Path, owt_server: OwtProcess, requirements: Any, words: str
) -> None:
    fields = {"code_b64": b64(CODE), "requirements": requirements}
    r = httpx.post(owt_server.url, json=fields, timeout=30)
    assert r.status_code == 400 and r.json()["field"] == "requirements", r.text
    assert words in r.json()["message"]


def test_a_build_that_cannot_run_its_installer_is_424_and_listed(tmp_path: Path) -> None:
    """An OSError of the build itself (here: no installer at that path) is install_failed
    with its cause in the log, and leaves a failed environment that is listed."""
    import asyncio

    from owt.core.errors import InstallFailed
    from owt.executors.builds import Progress
    from owt.executors.envdisk import VirtualEnv, scan
    from owt.executors.venvbuild import build_environment

    env = VirtualEnv("cp3.11-0123456789abcdef", ["six"], tmp_path / "cp3.11-0123456789abcdef")
    with pytest.raises(InstallFailed) as failed:
        asyncio.run(build_environment(env, Progress(env.key), str(tmp_path / "no-uv"), "python"))
    assert "FileNotFoundError" in failed.value.message and "rebuild=true" in failed.value.message
    assert "no-uv" in env.log.read_text()
    (marker,) = scan(tmp_path).values()
    assert marker["ok"] is False and marker["requirements"] == ["six"]


def test_a_build_given_up_leaves_a_listed_failure_and_no_half_made_folder(
    tmp_path: Path, start_server: Any
) -> None:
    requirement = make_slow_project(tmp_path, "owt_timed_out")
    state = tmp_path / "state"
    server = start_server("--state-dir", str(state), "--build-timeout", "1", env=slow_builds(5))
    r = httpx.post(server.url, json=body(requirement), timeout=60)
    assert r.status_code == 424 and "--build-timeout" in r.json()["message"], r.text
    (row,) = httpx.get(server.url + "/_owt/envs").json()["environments"]
    assert row["ok"] is False and row["state"] == "failed"
    assert not Path(row["path"]).exists()
    assert httpx.delete(f"{server.url}/_owt/envs/{row['key']}").status_code == 200
    assert [p.name for p in (state / "envs").iterdir()] == []
