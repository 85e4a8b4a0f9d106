"""SPEC §9 limits against a real server: body size (413 before the body is read), large GET
query strings, and ``--max-concurrency`` with its bounded queue."""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.parse

import httpx
import pytest
from conftest import b64, call, wait_until


def get_raw(url: str, target: str) -> tuple[int, bytes]:
    """GET with http.client: httpx refuses URLs this long on the client side."""
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", target)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_a_200_kib_adaptor_by_get(owt_server):
    code = "def run(n):\n    return f'big {n}'\n#" + "A" * (200 * 1024)
    query = urllib.parse.urlencode({"code_b64": b64(code), "kwargs_b64": b64('{"n": 7}')})
    assert len(query) > 256 * 1024  # the base64 of 200 KiB is ~267 KiB of query string
    status, body = get_raw(owt_server.url, "/big/path?" + query)
    assert (status, body) == (200, b"big 7")


def test_a_query_over_the_target_bound_is_refused(start_server):
    server = start_server("--max-body-bytes", "1000")  # the target bound is at least 1 MiB
    code = "def run(): return 'ok'\n#" + "A" * (600 * 1024)
    assert get_raw(server.url, "/?" + urllib.parse.urlencode({"code_b64": b64(code)}))[0] == 200
    code = "def run(): return 'ok'\n#" + "A" * (1024 * 1024)
    assert get_raw(server.url, "/?" + urllib.parse.urlencode({"code_b64": b64(code)}))[0] == 400
    assert httpx.get(server.url + "/_owt/health").text == "ok"


def test_413_before_the_body_is_read(start_server):
    server = start_server("--max-body-bytes", "1000")
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        # Declare 10 MB, send 100 bytes: the answer comes without waiting for the rest.
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000000\r\n\r\n" + b"x" * 100
        )
        answer = b""
        while b"too_large" not in answer and (part := sock.recv(65536)):
            answer += part
    assert answer.startswith(b"HTTP/1.1 413")
    assert b'"too_large"' in answer


def test_413_for_a_chunked_body_over_the_limit(start_server):
    server = start_server("--max-body-bytes", "1000")

    def chunks():
        for _ in range(10):
            yield b"x" * 500

    r = httpx.post(server.url + "/", content=chunks())
    assert r.status_code == 413
    assert r.json()["error"] == "too_large"
    assert call(server.url, "def run(): return 'still up'").text == "still up"


SLOW = """
import time
def run(pause=1.0, tag=""):
    time.sleep(pause)
    return f"done {tag}"
"""


def test_max_concurrency_queues_then_answers_503(start_server):
    server = start_server("--max-concurrency", "1", "--max-queue", "1")
    results: dict[str, httpx.Response] = {}

    def slow(tag: str) -> None:
        results[tag] = call(server.url, SLOW, pause=1.0, tag=tag)

    def status() -> dict:
        return httpx.get(server.url + "/_owt/status").json()["concurrency"]

    running = threading.Thread(target=slow, args=("a",))
    running.start()
    assert wait_until(lambda: status()["running"] == 1)
    queued = threading.Thread(target=slow, args=("b",))
    queued.start()
    assert wait_until(lambda: status()["waiting"] == 1)

    start = time.monotonic()
    busy = call(server.url, SLOW, pause=0, tag="c")
    assert time.monotonic() - start < 0.5  # refused at once, not after waiting
    assert busy.status_code == 503
    assert busy.json()["error"] == "busy"
    assert "--max-concurrency" in busy.json()["message"]  # what to change

    running.join()
    queued.join()
    assert results["a"].text == "done a"
    assert results["b"].text == "done b"
    assert status() == {
        "max": 1,
        "max_queue": 1,
        "running": 0,
        "waiting": 0,
        "rejected": 1,
        "dropped": 0,
    }


def test_a_call_waiting_for_max_concurrency_is_dropped_when_its_client_leaves(
    start_server, tmp_path
):
    server = start_server("--max-concurrency", "1", "--max-queue", "4")
    mark = tmp_path / "ran"
    marking = "def run(mark):\n    open(mark, 'w').write('ran')\n    return 'ran'\n"
    running = threading.Thread(target=lambda: call(server.url, SLOW, pause=1.5, tag="a"))
    running.start()
    assert wait_until(
        lambda: httpx.get(server.url + "/_owt/status").json()["concurrency"]["running"] == 1
    )
    with pytest.raises(httpx.ReadTimeout):  # the client leaves while its call waits
        call(server.url, marking, mark=str(mark), timeout=0.5)
    running.join()
    time.sleep(0.5)
    assert not mark.exists()  # never run for nobody
    assert httpx.get(server.url + "/_owt/status").json()["concurrency"]["dropped"] == 1
    assert call(server.url, SLOW, pause=0, tag="d").text == "done d"  # the slot is free


def test_a_stream_holds_its_slot_until_it_ends(start_server):
    server = start_server("--max-concurrency", "1", "--max-queue", "0")
    stream_code = (
        "import time\ndef run():\n    for i in range(4):\n        yield str(i)\n"
        "        time.sleep(0.3)\n"
    )
    with httpx.stream("POST", server.url + "/", json={"code_b64": b64(stream_code)}) as r:
        chunks = r.iter_raw()  # kept: a dropped iterator closes the connection
        assert next(chunks) == b"0"
        assert call(server.url, "def run(): return 1").status_code == 503
        assert b"".join(chunks) == b"123"
    assert call(server.url, "def run(): return 1").text == "1"
    # Cache hits take no slot: the same is true with the slot held.
    assert call(server.url, "def run(): return 'c'", fields={"use_cache": 1}).text == "c"
    with httpx.stream("POST", server.url + "/", json={"code_b64": b64(stream_code)}) as r:
        chunks = r.iter_raw()
        next(chunks)
        assert call(server.url, "def run(): return 1").status_code == 503
        hit = call(server.url, "def run(): return 'c'", fields={"use_cache": 1})
        assert hit.headers.get("x-owt-cache") == "hit"
        # A client that leaves frees the slot too.
    assert wait_until(lambda: call(server.url, "def run(): return 2").status_code == 200)
