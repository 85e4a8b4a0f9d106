"""Shutdown answers every call in JSON: running calls finish within --graceful-timeout."""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from typing import Any

import httpx
from conftest import OwtProcess, call, wait_until

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


def _binds(sock: socket.socket, port: int) -> bool:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
