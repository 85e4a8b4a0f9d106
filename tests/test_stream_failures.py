"""A stream that fails after it started is never disguised as success (SPEC §8): the response
ends without its final chunk, an SSE stream first sends ``event: error``, the server logs the
traceback, and every owt client — Python (sync and async), the CLI, the shell helper (the JS
client: clients/js/test) — raises or exits non-zero."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ROOT, OwtProcess, b64, free_port, wait_until

from owt.client import (
    AsyncClient,
    Client,
    ClientTimeout,
    ConnectionFailed,
    OwtError,
    StreamFailed,
)

MIDWAY = """
def run():
    for i in range(3):
        yield f"chunk {i}\\n"
    raise ValueError("midway")
"""
ASYNC_MIDWAY = """
async def run():
    for i in range(3):
        yield f"chunk {i}\\n"
    raise ValueError("async midway")
"""
SSE_MIDWAY = """
def items():
    yield {"n": 1}
    raise ValueError("sse midway")

def run():
    return sse(items())
"""


@pytest.fixture(scope="module", params=["thread", "isolate"])
def server(request: pytest.FixtureRequest) -> Any:
    server = OwtProcess("--timeout", "10", *(["--isolate"] if request.param == "isolate" else []))
    yield server
    server.stop()


def test_curl_sees_a_failed_transfer(server: Any) -> None:
    for code, said in ((MIDWAY, "midway"), (ASYNC_MIDWAY, "async midway")):
        body = json.dumps({"code_b64": b64(code)})
        done = subprocess.run(
            ["curl", "-sS", "-N", server.url + "/", "--json", body],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 18, done  # transfer closed with outstanding read data
        assert done.stdout == "chunk 0\nchunk 1\nchunk 2\n"
        assert wait_until(lambda said=said: f"ValueError: {said}" in server.log)
    assert "Traceback (most recent call last)" in server.log
    assert 'raise ValueError("midway")' in server.log
    assert "ASGI callable returned without completing response" not in server.log


def test_httpx_raises(server: Any) -> None:
    chunks = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", server.url + "/", json={"code_b64": b64(MIDWAY)}) as r,
    ):
        assert r.status_code == 200
        chunks.extend(r.iter_text())
    assert "".join(chunks) == "chunk 0\nchunk 1\nchunk 2\n"


def test_sse_sends_event_error_then_fails(server: Any) -> None:
    text = ""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", server.url + "/", json={"code_b64": b64(SSE_MIDWAY)}) as r,
    ):
        for chunk in r.iter_text():
            text += chunk
    first, error = text.strip().split("\n\n")
    assert first == 'id: 1\ndata: {"n": 1}'
    lines = error.splitlines()
    assert lines[:2] == ["event: error", "id: [DONE]"]
    payload = json.loads(lines[2].removeprefix("data: "))
    assert payload["error"] == "adaptor_error"
    assert payload["message"] == "ValueError: sse midway"
    assert "sse midway" in payload["traceback"]


def test_a_failed_stream_is_not_cached(server: Any) -> None:
    fields = {"code_b64": b64(MIDWAY), "use_cache": True, "cache_key_override": "failing"}
    for _ in range(2):
        with (
            pytest.raises(httpx.RemoteProtocolError),
            httpx.stream("POST", server.url + "/", json=fields) as r,
        ):
            assert r.headers.get("x-owt-cache") != "hit"
            r.read()


def test_a_stream_past_its_timeout_is_cut(start_server: Any) -> None:
    server = start_server("--timeout", "1")
    code = "import time\ndef run():\n    yield 'a'\n    time.sleep(3)\n    yield 'b'\n"
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", server.url + "/", json={"code_b64": b64(code)}) as r,
    ):
        r.read()


@pytest.mark.parametrize("mode", [[], ["--in-process"]], ids=["workers", "in-process"])
def test_a_stream_cut_by_its_timeout_says_so(start_server: Any, mode: list[str]) -> None:
    # A chunk past the call's timeout is a timeout (504's kind) like any other: an SSE stream
    # sends event: error with it, the access line and the metrics name it. (TimeoutError is
    # an OSError: it was taken for a client gone, and the stream just stopped.)
    server = start_server("--timeout", "10", *mode)
    code = (
        "import time\ndef slow():\n    yield 'a'\n    time.sleep(3)\n    yield 'b'\n"
        "def run():\n    return sse(slow())\n"
    )
    text = ""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", server.url + "/", json={"code_b64": b64(code), "timeout": 1}) as r,
    ):
        for chunk in r.iter_text():
            text += chunk
    first, error = text.strip().split("\n\n")
    assert first == "id: 1\ndata: a"
    lines = error.splitlines()
    assert lines[:2] == ["event: error", "id: [DONE]"]
    payload = json.loads(lines[2].removeprefix("data: "))
    assert payload["error"] == "timeout" and payload["timeout"] == 1
    assert "within its timeout of 1" in payload["message"]
    assert wait_until(lambda: "shape=sse" in server.log and "error=timeout" in server.log)
    metrics = httpx.get(server.url + "/_owt/metrics").text
    assert 'owt_errors_total{env="main",kind="timeout"} 1.0' in metrics


def test_a_stream_bounds_each_chunk_not_the_whole(start_server: Any) -> None:
    """The timeout is per chunk: a stream of slow chunks, each within it, ends normally."""
    server = start_server("--timeout", "1")
    code = (
        "import time\ndef run():\n"
        "    for i in range(4):\n        time.sleep(0.6)\n        yield str(i)\n"
    )
    r = httpx.post(server.url + "/", json={"code_b64": b64(code)}, timeout=30)
    assert r.status_code == 200
    assert r.text == "0123"


# -- owt's clients --------------------------------------------------------------------------


def test_python_client_raises(server: Any) -> None:
    with Client(server.url) as client:
        received = []
        with pytest.raises(StreamFailed) as failed:
            for chunk in client.stream(MIDWAY):
                received.append(chunk)
        assert "".join(received) == "chunk 0\nchunk 1\nchunk 2\n"
        # The server still answers: it ended the call itself, and its log has why, under the
        # request id it gave the response.
        assert failed.value.kind == "stream_failed"
        request_id = failed.value.payload["request_id"]
        assert request_id and f"under request id {request_id}" in failed.value.message
        assert "the server still answers" in failed.value.message
        with pytest.raises(StreamFailed):
            client.call(MIDWAY)
        events = []
        with pytest.raises(StreamFailed) as failed:
            for event in client.events(SSE_MIDWAY):
                events.append(event)
        assert events == [{"n": 1}]
        assert failed.value.kind == "adaptor_error"
        assert failed.value.message == "ValueError: sse midway"
        assert "sse midway" in (failed.value.traceback or "")
        assert isinstance(failed.value, OwtError)


def test_a_streamed_sse_error_is_the_servers_error(server: Any) -> None:
    """``stream()`` of an ``sse()`` stream gives its raw chunks, then raises the error its
    ``event: error`` carried (its kind, message, traceback), not the cut that followed."""
    with Client(server.url) as client:
        chunks = []
        with pytest.raises(StreamFailed) as failed:
            for chunk in client.stream(SSE_MIDWAY):
                chunks.append(chunk)
        assert "".join(chunks).startswith('id: 1\ndata: {"n": 1}\n\n')
        assert (failed.value.kind, failed.value.message) == (
            "adaptor_error",
            "ValueError: sse midway",
        )
        assert "sse midway" in (failed.value.traceback or "")

    async def main() -> None:
        async with AsyncClient(server.url) as client:
            with pytest.raises(StreamFailed) as failed:
                async for _ in client.stream(SSE_MIDWAY):
                    pass
            assert failed.value.kind == "adaptor_error"

    asyncio.run(main())


def test_a_plain_stream_past_its_timeout_says_the_server_ended_it(start_server: Any) -> None:
    server = start_server("--timeout", "1")
    code = "import time\ndef run():\n    yield 'a'\n    time.sleep(3)\n    yield 'b'\n"
    with Client(server.url) as client, pytest.raises(StreamFailed) as failed:
        list(client.stream(code))
    assert failed.value.kind == "stream_failed"
    assert "ran past its timeout" in failed.value.message
    assert "most likely" not in failed.value.message


SLEEPY_STREAM = "import time\ndef run():\n    yield 'a'\n    time.sleep(30)\n    yield 'b'\n"
SLEEPY_CALL = "import time\ndef run():\n    time.sleep(30)\n    return 1\n"


def test_a_server_killed_midway_is_a_lost_connection(start_server: Any) -> None:
    """SIGKILL: no error reaches the client, and nothing says the adaptor failed; the server
    no longer answers, and the error says so."""
    server = start_server("--timeout", "60")
    with Client(server.url) as client:
        received = []
        with pytest.raises(StreamFailed) as failed:
            for chunk in client.stream(SLEEPY_STREAM):
                received.append(chunk)
                os.kill(server.pid, signal.SIGKILL)
    assert received == ["a"]
    assert failed.value.kind == "connection_lost"
    assert f"no longer answers at {server.url}" in failed.value.message
    assert "adaptor" not in failed.value.message


def test_a_server_killed_before_it_answers_is_a_lost_connection(start_server: Any) -> None:
    for is_async in (False, True):
        server = start_server("--timeout", "60")
        threading.Timer(1.5, os.kill, (server.pid, signal.SIGKILL)).start()
        with pytest.raises(ConnectionFailed) as failed:
            if is_async:

                async def main(url: str = server.url) -> None:
                    async with AsyncClient(url) as client:
                        await client.call(SLEEPY_CALL)

                asyncio.run(main())
            else:
                with Client(server.url) as client:
                    client.call(SLEEPY_CALL)
        assert failed.value.kind == "connection_lost"
        assert "closed the connection without answering" in failed.value.message
        assert "no longer answers" in failed.value.message


def test_async_client_raises(server: Any) -> None:
    async def main() -> None:
        async with AsyncClient(server.url) as client:
            with pytest.raises(StreamFailed):
                async for _ in client.stream(ASYNC_MIDWAY):
                    pass
            with pytest.raises(StreamFailed):
                await client.call(MIDWAY)
            with pytest.raises(StreamFailed) as failed:
                async for _ in client.events(SSE_MIDWAY):
                    pass
            assert failed.value.kind == "adaptor_error"

    asyncio.run(main())


def test_cli_stream_exits_non_zero(server: Any, tmp_path: Path) -> None:
    said = {MIDWAY: "owt: stream_failed (200):", SSE_MIDWAY: "owt: adaptor_error (200): ValueError"}
    for code in (MIDWAY, SSE_MIDWAY):
        path = tmp_path / "midway.py"
        path.write_text(code)
        done = subprocess.run(
            [sys.executable, "-m", "owt", "call", "--stream", server.url, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done
        assert said[code] in done.stderr  # an SSE stream's own error, with its traceback
    assert 'raise ValueError("sse midway")' in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "owt", "call", server.url, str(tmp_path / "midway.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "sse midway" in done.stderr


def test_shell_helper_exits_non_zero(server: Any, tmp_path: Path) -> None:
    path = tmp_path / "midway.py"
    path.write_text(MIDWAY)
    helpers = ROOT / "clients" / "sh" / "owt.sh"
    script = f"source {shlex.quote(str(helpers))}; owt_call {server.url} {shlex.quote(str(path))}"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert done.stdout == "chunk 0\nchunk 1\nchunk 2\n"


# -- the Python client's own failures are OwtErrors too ---------------------------------------


def test_python_client_connection_and_timeout_errors(owt_server: Any) -> None:
    with (
        Client(f"http://127.0.0.1:{free_port()}") as client,
        pytest.raises(ConnectionFailed) as refused,
    ):
        client.call("def run(): return 1")
    assert refused.value.kind == "connection_failed" and "owt serve" in refused.value.message
    slow = "import time\ndef run():\n    time.sleep(2)\n    return 1\n"
    with Client(owt_server.url, timeout=0.5) as client, pytest.raises(ClientTimeout) as late:
        client.call(slow)
    assert late.value.kind == "client_timeout" and "timeout" in late.value.message

    async def main() -> None:
        async with AsyncClient(f"http://127.0.0.1:{free_port()}") as client:
            with pytest.raises(ConnectionFailed):
                await client.call("def run(): return 1")

    asyncio.run(main())


def test_an_item_that_cannot_be_encoded_is_the_adaptors_error(server: Any) -> None:
    r = httpx.post(server.url + "/", json={"code_b64": b64("def run():\n    yield object()\n")})
    assert r.status_code == 500 and r.json()["error"] == "adaptor_error"
    for code in (
        "def run():\n    yield {'a': 1}\n    yield object()\n",
        "async def run():\n    yield {'a': 1}\n    yield object()\n",
    ):
        with (
            pytest.raises(httpx.RemoteProtocolError),
            httpx.stream("POST", server.url + "/", json={"code_b64": b64(code)}) as r,
        ):
            r.read()
    assert wait_until(
        lambda: (
            "stream cut by an error after it started: a streamed item cannot be sent: TypeError"
            in server.log
        )
    )
    assert "internal error" not in server.log
