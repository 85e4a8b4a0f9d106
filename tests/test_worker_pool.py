"""The worker pool seen through a real server: idle workers retire, callers who left are
dropped from the queue."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import OwtProcess, call, status, wait_until

PID = "import os\ndef run(): return os.getpid()"


def test_idle_workers_of_every_environment_retire_and_come_back(start_server: Any) -> None:
    server: OwtProcess = start_server(
        "--worker-idle-timeout", "1", "--env", f"x={sys.executable}:1"
    )
    first = {env: call(server.url, PID, fields={"env": env}).json() for env in ("main", "x")}
    for env in ("main", "x"):
        assert wait_until(lambda e=env: not status(server)["environments"][e]["workers"], 15)
    assert status(server)["environments"]["x"]["retired"] >= 1
    again = {env: call(server.url, PID, fields={"env": env}) for env in ("main", "x")}
    for env, response in again.items():
        assert response.status_code == 200 and response.json() != first[env]


def test_a_call_whose_client_left_while_queued_never_runs(
    start_server: Any, tmp_path: Path
) -> None:
    server: OwtProcess = start_server("--worker-threads", "1")
    busy = threading.Thread(
        target=call, args=(server.url, "import time\ndef run():\n    time.sleep(2)")
    )
    busy.start()
    time.sleep(0.5)
    marker = "def run(where):\n    open(where, 'w').write('ran')"
    for i in range(3):  # each waits behind the busy call, then its client gives up
        try:
            call(server.url, marker, timeout=0.3, where=str(tmp_path / f"{i}"))
        except httpx.TimeoutException:
            pass
    busy.join(30)
    assert wait_until(lambda: status(server)["environments"]["main"]["dropped"] == 3, 10)
    time.sleep(0.5)
    assert list(tmp_path.iterdir()) == []
    assert call(server.url, PID).status_code == 200


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
@pytest.mark.parametrize("mode", [[], ["--in-process"]], ids=["workers", "in_process"])
def test_a_running_async_call_whose_client_left_is_cancelled(
    start_server: Any, tmp_path: Path, mode: list[str], warm: bool
) -> None:
    """Cold, the call learns it is async on a pool thread; warm, a worker hands it straight
    to its loop: either way the caller's leaving cancels it."""
    server: OwtProcess = start_server(*mode)
    pid = call(server.url, PID).json()
    code = (
        "import asyncio\n"
        "async def run(where):\n"
        "    if not where:\n"
        "        return 'warm'\n"
        "    try:\n"
        "        await asyncio.sleep(60)\n"
        "    finally:\n"
        "        open(where, 'w').write('cancelled')\n"
    )
    if warm:
        assert call(server.url, code, where="").text == "warm"
    marker = tmp_path / "marker"
    try:
        call(server.url, code, timeout=1, where=str(marker))
    except httpx.TimeoutException:
        pass
    assert wait_until(marker.exists, 10)
    assert marker.read_text() == "cancelled"
    assert call(server.url, PID).json() == pid  # no worker was lost for it
    assert "Exception in ASGI application" not in server.log
    if not mode:  # counted as a call left running, not as one dropped from the queue
        main = status(server)["environments"]["main"]
        assert (main["left_running"], main["dropped"]) == (1, 0)
