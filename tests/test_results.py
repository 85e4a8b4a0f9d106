"""SPEC §4 against a real server: every result shape and its response."""

from __future__ import annotations

import httpx
import pytest
from conftest import b64, call

CASES = [
    ("'plain'", 200, "text/plain; charset=utf-8", b"plain"),
    ("'<!doctype html><p>hi'", 200, "text/html; charset=utf-8", b"<!doctype html><p>hi"),
    ("'<html><body>x'", 200, "text/html; charset=utf-8", b"<html><body>x"),
    ("b'\\x00\\x01'", 200, "application/octet-stream", b"\x00\x01"),
    ("42", 200, "text/plain; charset=utf-8", b"42"),
    ("1.5", 200, "text/plain; charset=utf-8", b"1.5"),
    ("True", 200, "text/plain; charset=utf-8", b"True"),
    ("{'a': [1, 2]}", 200, "application/json", b'{"a": [1, 2]}'),
    ("[1, 'x']", 200, "application/json", b'[1, "x"]'),
    ("('made', 201)", 201, "text/plain; charset=utf-8", b"made"),
    ("('x', {'X-Y': 'z'})", 200, "text/plain; charset=utf-8", b"x"),
    ("({'ok': 1}, 202, {'X-Y': 'z'})", 202, "application/json", b'{"ok": 1}'),
    ("Response('<b>', 418, {'content-type': 'text/x-teapot'})", 418, "text/x-teapot", b"<b>"),
]


@pytest.mark.parametrize(("expr", "status", "ctype", "body"), CASES)
def test_result_shapes(owt_server, expr, status, ctype, body):
    r = call(owt_server.url, f"def run():\n    return {expr}\n")
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == ctype
    assert r.content == body


def test_headers_from_tuple(owt_server):
    r = call(owt_server.url, "def run(): return ('x', 200, {'X-Y': 'z'})")
    assert r.headers["x-y"] == "z"


def test_a_tuple_of_its_own_type_is_data(owt_server):
    # Only a plain tuple is (body, status[, headers]): a namedtuple is a value.
    code = (
        "from collections import namedtuple\n"
        "P = namedtuple('P', 'x y')\n"
        "def run(): return P('a', 404)\n"
    )
    r = call(owt_server.url, code)
    assert (r.status_code, r.json()) == (200, ["a", 404])


def test_none_is_empty(owt_server):
    r = call(owt_server.url, "def run(): pass")
    assert r.status_code == 200
    assert r.content == b""


def test_dataclass_is_json(owt_server):
    code = (
        "from dataclasses import dataclass\n"
        "@dataclass\nclass P:\n    x: int\n    y: str\n"
        "def run(): return P(1, 'a')\n"
    )
    assert call(owt_server.url, code).json() == {"x": 1, "y": "a"}


def test_generator_streams_chunks(owt_server):
    r = call(owt_server.url, "def run(n):\n    for i in range(n):\n        yield f'{i},'\n", n=4)
    assert r.status_code == 200
    assert r.text == "0,1,2,3,"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"


def test_async_generator_streams(owt_server):
    code = "async def run():\n    for i in range(3):\n        yield bytes([i])\n"
    r = call(owt_server.url, code)
    assert r.content == b"\x00\x01\x02"
    assert r.headers["content-type"] == "application/octet-stream"


def test_iterator_of_dicts_is_json_lines(owt_server):
    r = call(owt_server.url, "def run(): return iter([{'a': 1}, {'b': 2}])")
    assert r.text == '{"a": 1}\n{"b": 2}\n'


def test_empty_generator(owt_server):
    r = call(owt_server.url, "def run():\n    return\n    yield\n")
    assert r.status_code == 200
    assert r.content == b""


def test_sse_helper(owt_server):
    r = call(owt_server.url, "def run(): return sse(['one', {'n': 2}])")
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.text == 'id: 1\ndata: one\n\nid: 2\ndata: {"n": 2}\n\nid: [DONE]\ndata: [DONE]\n\n'


def test_unserialisable_result_is_an_adaptor_error(owt_server):
    r = call(owt_server.url, "def run(): return object()")
    assert r.status_code == 500
    assert r.json()["error"] == "adaptor_error"


def test_a_head_request_gets_a_streams_head_and_the_stream_is_stopped(owt_server):
    """HEAD of an endless stream: its head comes, its generator is closed, and the same
    connection serves the next request (it pumped the stream on for nobody, for ever)."""
    endless = "import itertools, time\ndef run():\n    for i in itertools.count():\n"
    endless += "        yield f'{i}\\n'\n        time.sleep(0.01)\n"
    with httpx.Client(base_url=owt_server.url, timeout=10) as client:
        head = client.head("/", params={"code_b64": b64(endless)})
        assert head.status_code == 200 and head.content == b""
        assert client.get("/", params={"code_b64": b64("def run(): return 'next'")}).text == "next"
