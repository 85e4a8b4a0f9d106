"""Shutdown answers every call in JSON: running calls finish within --graceful-timeout."""

from __future__ import annotations

import json
import signal
import socket
import sys
import threading
import time
from typing import Any

import httpx
from conftest import OwtProcess, b64, call, wait_until

NAP = "import time\ndef run(s):\n    time.sleep(s)\n    return 'done'"


def test_sigterm_lets_running_calls_finish_and_answers_the_rest_in_json() -> None:
    server = OwtProcess(
        "--graceful-timeout", "3",
        "--worker-threads", "1",
        "--env", f"slow={sys.executable}:1",
    )  # fmt: skip
    results: dict[str, httpx.Response | Exception] = {}

    def send(name: str, seconds: float, env: str) -> None:
        try:
            results[name] = call(server.url, NAP, fields={"env": env}, s=seconds, timeout=60)
        except Exception as exc:  # recorded; the test says which
            results[name] = exc

    threads = [
        threading.Thread(target=send, args=("finishes", 1.5, "main")),
        threading.Thread(target=send, args=("cut", 60, "slow")),
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.7)  # both run now; the next waits for main's only thread
    queued = threading.Thread(target=send, args=("queued", 0.1, "main"))
    queued.start()
    time.sleep(0.3)
    stopped_at = time.monotonic()
    port = int(server.url.rsplit(":", 1)[1])
    server.proc.send_signal(signal.SIGTERM)
    for thread in [*threads, queued]:
        thread.join(30)
    assert server.proc.wait(30) == 0
    took = time.monotonic() - stopped_at
    finished, cut, waiting = results["finishes"], results["cut"], results["queued"]
    assert isinstance(finished, httpx.Response) and finished.text == "done"
    for response in (cut, waiting):
        assert isinstance(response, httpx.Response), response
        assert response.status_code == 503
        body: dict[str, Any] = response.json()
        assert body["error"] == "busy" and "shutting down" in body["message"]
    assert took < 15
    # No worker holds the port: it can be bound again at once.
    with socket.socket() as sock:
        assert wait_until(lambda: _binds(sock, port), timeout=2)
    server.stop()


TICKS = (
    "import time\nfrom owt.lib.stream import sse\n"
    "def ticks():\n    for i in range(1000):\n        yield i\n        time.sleep(0.2)\n"
    "def run(events=True):\n    return sse(ticks()) if events else (f'{i}\\n' for i in ticks())\n"
)


def _read_stream(server: OwtProcess, events: bool, into: dict[str, Any]) -> None:
    """Read a never-ending stream until the server cuts it; ``into`` gets what came and how
    it ended."""
    body = {"code_b64": b64(TICKS), "kwargs": {"events": events}}
    chunks: list[bytes] = []
    try:
        with httpx.stream("POST", server.url, json=body, timeout=30) as response:
            into["status"] = response.status_code
            for chunk in response.iter_raw():
                chunks.append(chunk)
        into["ended"] = "whole"
    except httpx.RemoteProtocolError:
        into["ended"] = "cut"
    into["text"] = b"".join(chunks).decode()


def test_streams_still_running_at_the_end_of_the_grace_say_so() -> None:
    """A stream under way when the grace ends is cut as a failed stream is: an SSE stream's
    last event is ``event: error`` (503 busy, the shutdown named), and neither kind of stream
    gets its final chunk (so no client takes it for a whole answer)."""
    server = OwtProcess("--graceful-timeout", "1", "-v")
    try:
        got: dict[bool, dict[str, Any]] = {True: {}, False: {}}
        readers = [
            threading.Thread(target=_read_stream, args=(server, events, got[events]))
            for events in (True, False)
        ]
        for reader in readers:
            reader.start()
        time.sleep(1.5)  # both stream
        server.proc.send_signal(signal.SIGTERM)
        for reader in readers:
            reader.join(20)
        assert server.proc.wait(20) == 0
        events, plain = got[True], got[False]
        assert events["status"] == plain["status"] == 200
        assert events["ended"] == plain["ended"] == "cut", got
        last = events["text"].strip().split("\n\n")[-1]
        assert last.startswith("event: error"), events["text"][-400:]
        error = json.loads(last.split("data: ", 1)[1].splitlines()[0])
        assert error["error"] == "busy" and error["status"] == 503
        assert "shutting down" in error["message"] and "--graceful-timeout" in error["message"]
        assert plain["text"].startswith("0\n1\n")
        assert server.log.count("incomplete error=busy") == 2, server.log
        assert "CancelledError" not in server.log
    finally:
        server.stop()


def _send_all(server: OwtProcess, seconds: list[float]) -> dict[int, httpx.Response | Exception]:
    """Start one NAP call per entry, each on a thread; the dict fills as they answer."""
    results: dict[int, httpx.Response | Exception] = {}

    def send(i: int) -> None:
        try:
            results[i] = call(server.url, NAP, s=seconds[i], timeout=60)
        except Exception as exc:  # recorded; the test says which
            results[i] = exc

    for i in range(len(seconds)):
        threading.Thread(target=send, args=(i,), daemon=True).start()
    return results


def _refused(response: httpx.Response | Exception | None) -> bool:
    return (
        isinstance(response, httpx.Response)
        and response.status_code == 503
        and response.json()["error"] == "busy"
    )


def test_a_second_ctrl_c_answers_running_calls_in_json_at_once() -> None:
    server = OwtProcess("--graceful-timeout", "30")
    try:
        results = _send_all(server, [30])
        time.sleep(1)  # it runs
        server.proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGINT)  # "stop now"
        assert wait_until(lambda: 0 in results, 10)
        assert _refused(results[0]), results[0]  # not uvicorn's plain-text 500
        assert server.proc.wait(10) == 0
        assert "CancelledError" not in server.log  # no traceback that reads as a crash
    finally:
        server.stop()


def test_calls_waiting_for_max_concurrency_are_refused_at_once() -> None:
    server = OwtProcess("--in-process", "--max-concurrency", "1", "--graceful-timeout", "10")
    try:
        running = _send_all(server, [2])
        time.sleep(0.7)  # it runs
        waiting = _send_all(server, [0.1, 0.1])
        time.sleep(0.3)  # they wait for its slot
        stopped_at = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert wait_until(lambda: _refused(waiting.get(0)) and _refused(waiting.get(1)), 10), (
            waiting
        )
        assert time.monotonic() - stopped_at < 1  # not when the running call ends
        assert wait_until(lambda: 0 in running, 10)
        assert isinstance(running[0], httpx.Response) and running[0].text == "done"
        assert server.proc.wait(10) == 0
    finally:
        server.stop()


def _binds(sock: socket.socket, port: int) -> bool:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
