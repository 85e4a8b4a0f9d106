"""Connection bounds against a real server: request heads bounded in size (431) and time
(408), silent and idle connections closed. Bounded load: a few loopback connections for a
few seconds."""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
from typing import Any

import httpx
import pytest
from conftest import call

HEAD = b"GET /_owt/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def connect(server: Any) -> socket.socket:
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def answer_of(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one whole answer (the server closes after a refusal)."""
    data = b""
    try:
        while part := sock.recv(65536):
            data += part
    except ConnectionResetError:
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


def send_until_refused(sock: socket.socket, first: bytes, more: bytes, limit: int) -> int:
    """Send ``first`` then ``more`` repeatedly until the server stops reading; bytes sent."""
    sent = 0
    try:
        sock.sendall(first)
        sent += len(first)
        while sent < limit:
            sock.sendall(more)
            sent += len(more)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def assert_refused(answer: tuple[int, dict[str, str], bytes], status: int, kind: str) -> None:
    code, headers, body = answer
    assert code == status, body
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    payload = json.loads(body)
    assert payload["error"] == kind
    assert payload["message"]


def test_an_endless_header_line_is_431(owt_server):
    with connect(owt_server) as sock:
        sent = send_until_refused(sock, HEAD + b"X-Endless: ", b"a" * 16384, 64 * 1024 * 1024)
        assert_refused(answer_of(sock), 431, "headers_too_large")
    assert sent < 16 * 1024 * 1024  # cut off long before 64 MB
    assert httpx.get(owt_server.url + "/_owt/health").text == "ok"


@pytest.mark.parametrize(
    "headers",
    [
        b"".join(b"X-H%d: v\r\n" % i for i in range(10_000)),  # 10,000 headers
        b"X-Big: " + b"b" * (1024 * 1024) + b"\r\n",  # 1 MB
        b"".join(b"X-Mid-%d: %s\r\n" % (i, b"m" * 1000) for i in range(1000)),  # 1 MB in many
    ],
    ids=["10000-headers", "1MB-line", "1MB-lines"],
)
def test_large_heads_are_431(owt_server, headers):
    with connect(owt_server) as sock:
        send_until_refused(sock, HEAD + headers + b"\r\n", b"", 0)
        assert_refused(answer_of(sock), 431, "headers_too_large")


@pytest.mark.parametrize(
    "request_bytes, says",
    [
        (b"GET /\x01bad HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "not valid HTTP"),
        (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", "not valid HTTP"),
        (b"GET /?" + b"a" * (1024 * 1024 + 10) + b" HTTP/1.1\r\n\r\n", "in a POST body"),
        (b"GET / HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n", "owt speaks HTTP/1.1"),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "not valid HTTP"),  # HTTP/2's own preface
    ],
    ids=["bad-target", "bad-header", "target-over-1MiB", "http-2-as-text", "http-2-preface"],
)
def test_what_is_not_http_is_a_json_400(start_server, request_bytes, says):
    server = start_server("--max-body-bytes", "1000")  # a target may have 1 MiB
    with connect(server) as sock:
        send_until_refused(sock, request_bytes, b"", 0)
        answer = answer_of(sock)
    assert_refused(answer, 400, "bad_request")
    assert says in json.loads(answer[2])["message"]
    assert httpx.get(server.url + "/_owt/health").text == "ok"


def test_a_head_within_the_limit_is_served(start_server):
    server = start_server("--max-header-bytes", "4096")
    ok = {f"x-h{i}": "v" * 30 for i in range(50)}  # ~2.5 KiB
    assert httpx.get(server.url + "/_owt/health", headers=ok).text == "ok"
    too_many = {f"x-h{i}": "v" * 30 for i in range(200)}  # ~8 KiB
    r = httpx.get(server.url + "/_owt/health", headers=too_many)
    assert r.status_code == 431
    assert r.json()["error"] == "headers_too_large"
    # The long request target is not a header: large adaptors still travel by GET.
    code = "def run():\n    return 'long target'\n#" + "A" * 20_000
    assert call(server.url, code, method="GET").text == "long target"


def test_slowloris_connections_are_cut_off_with_408(start_server):
    server = start_server("--header-timeout", "1")
    socks = [connect(server) for _ in range(4)]
    start = time.monotonic()
    try:
        for sock in socks:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        closed: set[int] = set()
        for _ in range(40):  # a byte every 0.1 s each, 4 s at most
            for i, sock in enumerate(socks):
                if i in closed:
                    continue
                try:
                    sock.sendall(b"X")
                except (BrokenPipeError, ConnectionResetError):
                    closed.add(i)
            if len(closed) == len(socks):
                break
            time.sleep(0.1)
        for sock in socks:
            assert_refused(answer_of(sock), 408, "header_timeout")
    finally:
        for sock in socks:
            sock.close()
    assert time.monotonic() - start < 5
    assert httpx.get(server.url + "/_owt/health").text == "ok"


def test_silent_and_idle_connections_are_closed(start_server):
    server = start_server("--header-timeout", "1", "--keep-alive-timeout", "1")
    silent = [connect(server) for _ in range(5)]
    idle = connect(server)
    start = time.monotonic()
    try:
        idle.sendall(HEAD + b"\r\n")
        assert idle.recv(65536).startswith(b"HTTP/1.1 200")
        for sock in [*silent, idle]:
            assert sock.recv(1) == b""  # closed by the server, no answer to nothing
    finally:
        for sock in [*silent, idle]:
            sock.close()
    assert time.monotonic() - start < 4
