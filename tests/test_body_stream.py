"""``request.stream()``: a large raw body reaches the adaptor as it arrives, in both modes.

A real server per mode; bodies of a few MiB (streaming starts over 1 MiB, or with no length).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import OwtProcess, b64, wait_until

MiB = 1024 * 1024
RAW = {"content-type": "application/octet-stream"}

HASH = """
import concurrent.futures
import hashlib
def run(request):
    digest, chunks = hashlib.sha256(), 0
    for chunk in request.stream():
        digest.update(chunk)
        chunks += 1
    return {"sha": digest.hexdigest(), "chunks": chunks, "kind": type(request).__name__}
"""

AHASH = """
import concurrent.futures
import hashlib
async def run(request):
    digest, chunks = hashlib.sha256(), 0
    async for chunk in request.stream():
        digest.update(chunk)
        chunks += 1
    return {"sha": digest.hexdigest(), "chunks": chunks, "kind": type(request).__name__}
"""

# Reads the body; writes the name of the error that ended its read to PATH.
NOTES_ITS_ERROR = """
def run(request):
    try:
        for chunk in request.stream():
            pass
    except Exception as exc:
        open({path!r}, "w").write(type(exc).__name__)
        raise
"""


@pytest.fixture(scope="module", params=[(), ("--in-process",)], ids=["workers", "in_process"])
def server(request: pytest.FixtureRequest) -> Iterator[OwtProcess]:
    started = OwtProcess("--timeout", "20", "--max-body-bytes", str(12 * MiB), *request.param)
    yield started
    started.stop()


def post(server: OwtProcess, code: str, content: object, **params: str) -> httpx.Response:
    query = {"code_b64": b64(code), **params}
    return httpx.post(server.url + "/", params=query, content=content, headers=RAW, timeout=30)


def pieces(data: bytes, size: int = 100_000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("code", [HASH, AHASH], ids=["def", "async_def"])
def test_a_large_raw_body_reaches_the_adaptor_in_chunks(server, code):
    body = os.urandom(5 * MiB)
    for content in (body, pieces(body)):  # with a length, and chunked without one
        answer = post(server, code, content).json()
        assert answer["sha"] == hashlib.sha256(body).hexdigest()
        assert answer["kind"] == "StreamedRequest" and answer["chunks"] > 1


def test_the_adaptor_reads_the_body_before_the_client_has_sent_it_all(server, tmp_path):
    """The second half is sent only once the adaptor has seen the first: a server that read
    the body whole before the call would wait for it for ever (here: until the timeout)."""
    seen = tmp_path / "seen"
    code = f"""
from pathlib import Path
def run(request):
    total = 0
    for chunk in request.stream():
        total += len(chunk)
        Path({str(seen)!r}).touch()
    return total
"""

    def upload() -> Iterator[bytes]:
        yield b"a" * (2 * MiB)
        deadline = time.monotonic() + 10
        while not seen.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        yield b"b" if seen.exists() else b""  # one byte more only once the adaptor read

    r = post(server, code, upload())
    assert r.status_code == 200 and r.text == str(2 * MiB + 1)


def test_data_reads_a_streamed_body_whole_and_stream_then_gives_it_once(server):
    code = """
def run(request):
    size = len(request.data)
    return [size, [len(chunk) for chunk in request.stream()]]
"""
    assert post(server, code, b"x" * (3 * MiB)).json() == [3 * MiB, [3 * MiB]]


@pytest.mark.parametrize(
    "code, says",
    [
        (
            "def run(request):\n    list(request.stream())\n    return len(request.data)",
            "keep the chunks the stream gave",
        ),
        (
            "def run(request):\n    list(request.stream())\n    return list(request.stream())",
            "request.stream() gives the body once",
        ),
    ],
    ids=["data_after_stream", "stream_twice"],
)
def test_reading_a_streamed_body_twice_says_how_to_keep_it(server, code, says):
    r = post(server, code, b"x" * (2 * MiB))
    assert r.status_code == 500 and r.json()["error"] == "adaptor_error"
    assert says in r.json()["message"]


def test_small_json_and_form_bodies_are_read_whole_and_stream_as_one_chunk(server):
    code = "def run(request):\n    return [type(request).__name__, len(list(request.stream()))]"
    small = post(server, code, b"x" * 1000)  # raw, but within 1 MiB: read whole
    assert small.json() == ["Request", 1]
    # A JSON body holds the call's own fields: read whole, whatever its size.
    big = httpx.post(
        server.url + "/", json={"code_b64": b64(code), "pad": "x" * (2 * MiB)}, timeout=30
    )
    assert big.json() == ["Request", 1]
    empty = post(server, code, b"")
    assert empty.json() == ["Request", 0]


def test_a_streamed_body_over_the_limit_is_refused(server):
    limit = 12 * MiB
    declared = post(server, HASH, b"x" * (limit + 1))  # refused before the call
    assert declared.status_code == 413 and "--max-body-bytes" in declared.json()["message"]
    # With no length the adaptor reads up to the limit, then its stream raises too_large.
    chunked = post(server, HASH, pieces(b"x" * (limit + MiB), MiB))
    assert chunked.status_code == 413, chunked.text
    assert chunked.json()["error"] == "too_large"
    assert "--max-body-bytes" in chunked.json()["message"]


def test_an_adaptor_that_ignores_the_body_is_answered_and_the_connection_serves_on(server):
    with httpx.Client(timeout=30) as client:
        for _ in range(3):
            r = client.post(
                server.url + "/",
                params={"code_b64": b64("def run(): return 'fine'")},
                content=b"x" * (4 * MiB),
                headers=RAW,
            )
            assert r.text == "fine"
        answer = client.post(
            server.url + "/", params={"code_b64": b64(HASH)}, content=b"y" * (2 * MiB), headers=RAW
        ).json()
        assert answer["sha"] == hashlib.sha256(b"y" * (2 * MiB)).hexdigest()


def expecting(server: OwtProcess, code: str, size: int) -> tuple[socket.socket, bytes]:
    """Send a POST head with ``Expect: 100-continue`` (as curl does over 1 MiB), no body;
    return the socket and the first answer's head."""
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    target = "/?" + urllib.parse.urlencode({"code_b64": b64(code)})
    sock.sendall(
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {size}\r\nExpect: 100-continue\r\n\r\n".encode()
    )
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    return sock, data


def test_an_answer_before_the_body_was_asked_for_closes_the_connection(server):
    # curl, told "200" before "100 Continue", never sends the body and reuses the connection:
    # kept open, the server would read curl's next request as that body.
    sock, head = expecting(server, "def run(): return 'ignored'", 3 * MiB)
    with sock:
        assert head.startswith(b"HTTP/1.1 200") and b"connection: close" in head.lower()
        rest = head
        while part := sock.recv(65536):
            rest += part
        assert rest.endswith(b"ignored")  # then the server closed it
    # An adaptor that reads gets the body (100 Continue first), and the connection serves on.
    sock, head = expecting(server, HASH, 3)
    with sock:
        assert head.startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"abc")
        answer = head.partition(b"\r\n\r\n")[2]
        while hashlib.sha256(b"abc").hexdigest().encode() not in answer:
            answer += sock.recv(65536)
        assert b"connection: close" not in answer.lower()
        sock.sendall(b"GET /_owt/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


def test_a_client_that_leaves_mid_upload_costs_only_its_call(server, tmp_path):
    ended = tmp_path / "ended"
    code = NOTES_ITS_ERROR.format(path=str(ended))

    def upload() -> Iterator[bytes]:
        yield b"a" * (2 * MiB)
        raise ConnectionAbortedError("the client gives up")

    with pytest.raises(ConnectionAbortedError):
        post(server, code, upload())
    assert wait_until(ended.exists, timeout=10)
    assert ended.read_text() == "CallerGone"  # the adaptor's read failed, it did not hang
    assert httpx.get(server.url + "/_owt/health", timeout=5).status_code == 200
    assert post(server, HASH, b"z" * (2 * MiB)).json()["chunks"] >= 1


def test_a_mounted_endpoint_streams_a_raw_upload(start_server, tmp_path: Path):
    adaptor = tmp_path / "upload.py"
    adaptor.write_text(
        "def run(request, name: str) -> dict:\n"
        "    size = sum(len(chunk) for chunk in request.stream())\n"
        "    return {'name': name, 'size': size, 'kind': type(request).__name__}\n"
    )
    server = start_server("--mount", f"upload={adaptor}")
    r = httpx.post(
        server.url + "/upload",
        params={"name": "take.wav"},
        content=pieces(b"w" * (3 * MiB)),
        headers={"content-type": "audio/wav"},
        timeout=30,
    )
    assert r.json() == {"name": "take.wav", "size": 3 * MiB, "kind": "StreamedRequest"}


def test_a_call_past_its_timeout_while_waiting_for_the_body_ends_its_read(server, tmp_path):
    """The client trickles its body: the call is answered 504 at its deadline, and the
    adaptor's pending read fails at once (no thread stays blocked, no worker is drained)."""
    ended = tmp_path / "ended"
    code = NOTES_ITS_ERROR.format(path=str(ended))

    def trickle() -> Iterator[bytes]:
        yield b"a" * (2 * MiB)
        for _ in range(30):
            time.sleep(0.1)
            yield b"b"

    before = httpx.get(server.url + "/_owt/status", timeout=5).json()
    r = post(server, code, trickle(), timeout="1")
    assert r.status_code == 504 and r.json()["error"] == "timeout"
    assert wait_until(ended.exists, timeout=5)
    assert ended.read_text() == "CallerGone"
    after = httpx.get(server.url + "/_owt/status", timeout=5).json()
    main = after["environments"]["main"]
    if main["executor"] == "process":  # its worker serves on
        assert main["killed_for_timeout"] == before["environments"]["main"]["killed_for_timeout"]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.parametrize("mode", [(), ("--in-process",)], ids=["workers", "in_process"])
def test_concurrent_uploads_hold_little_of_their_bodies_in_the_server(start_server, mode):
    """Eight 48 MiB uploads at once: the server holds about a MiB of each at a time (it
    held every piece it had passed to a worker until the pipe emptied: 255 MiB at peak,
    now ~75)."""
    server = start_server("--max-body-bytes", str(64 * MiB), "--timeout", "60", *mode)
    body = b"u" * (48 * MiB)
    want = hashlib.sha256(body).hexdigest()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(server, HASH, body).json()["sha"], range(8)))
    assert answers == [want] * 8
    assert peak_rss_mib(server.pid) < 160
