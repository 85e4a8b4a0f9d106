"""``owt.client`` against a real server: results, streams, events, errors, code by hash."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from owt.client import AsyncClient, Client, NotEventStream, OwtError, Source, source_of
from owt.client.base import ENDPOINT_OPTIONS
from owt.client.wire import CALL_FIELDS, EventReader, function_source
from owt.core import call as core_call
from owt.server.endpoints.table import CALLER_FIELDS
from owt.server.protocol import sha256_of

HELLO = "def run(name): return f'Hello, {name}!'"
SLOW = """
import time
def run(n, pause):
    for i in range(n):
        yield f"{i};"
        time.sleep(pause)
"""
EVENTS = """
from owt.lib.stream import sse
def run(n):
    return sse([*range(n), {"last": True}, "two\\nlines"])
"""
DONE_ITEM = """
from owt.lib.stream import sse
def items():
    yield "a"
    yield "[DONE]"  # an item like any other: only the event with the id [DONE] ends a stream
    yield "b"
def run():
    return sse(items())
"""


def _record(request: httpx.Request, log: list[dict[str, Any]]) -> None:
    body = json.loads(request.content) if request.content else None
    log.append({"method": request.method, "url": request.url, "body": body, "request": request})


class Recorder(httpx.BaseTransport):
    """A real transport that keeps what went over the wire."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[dict[str, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        _record(request, self.sent)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class AsyncRecorder(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        _record(request, self.sent)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def client(owt_server: Any) -> Any:
    with Client(owt_server.url, timeout=30) as c:
        yield c


# -- results ---------------------------------------------------------------------------------


def test_call_with_kwargs(client: Client) -> None:
    assert client.call(HELLO, name="owt") == "Hello, owt!"


def test_results_decode_by_content_type(client: Client) -> None:
    assert client.call("def run(n): return {'n': n, 'l': [1, 2]}", n=3) == {"n": 3, "l": [1, 2]}
    assert client.call(r"def run(): return b'\x00\x01'") == b"\x00\x01"
    assert client.call("def run(): return None") is None
    assert client.call("def run(): return '<!doctype html><p>hi'") == "<!doctype html><p>hi"
    assert client.call("def run(): return ({'i': i} for i in range(2))") == [{"i": 0}, {"i": 1}]


def test_call_a_file(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "hello.py"
    path.write_text(HELLO)
    assert client.call(str(path), name="file") == "Hello, file!"
    assert client.call(path, name="path") == "Hello, path!"


def test_adaptor_options_path_and_get(client: Client) -> None:
    code = "def where(request, x): return f'{request.method} {request.path} {x}'"
    where = client.adaptor(code, fn_name="where", path="/some/where", method="GET")
    assert where(x=1) == "GET /some/where 1"
    assert where(x=2) == "GET /some/where 2"  # by hash, in the query this time


def test_url_runs_the_call(client: Client, owt_server: Any) -> None:
    url = client.url(HELLO, name="url")
    assert url.startswith(owt_server.url + "/?code_b64=")
    assert httpx.get(url, timeout=10).text == "Hello, url!"


# -- streams and events ----------------------------------------------------------------------


def test_stream_yields_chunks_as_they_come(client: Client) -> None:
    start = time.monotonic()
    arrivals, chunks = [], []
    for chunk in client.stream(SLOW, n=3, pause=0.5):
        arrivals.append(time.monotonic() - start)
        chunks.append(chunk)
    assert "".join(chunks) == "0;1;2;"
    assert all(isinstance(c, str) for c in chunks)
    assert len(chunks) >= 2
    assert arrivals[-1] - arrivals[0] >= 0.8  # the first came long before the last


def test_stream_of_bytes(client: Client) -> None:
    chunks = list(client.stream("def run():\n    yield b'ab'\n    yield b'cd'"))
    assert all(isinstance(c, bytes) for c in chunks)
    assert b"".join(chunks) == b"abcd"


def test_events(client: Client) -> None:
    assert list(client.events(EVENTS, n=2)) == [0, 1, {"last": True}, "two\nlines"]


def test_event_reader_stops_at_done() -> None:
    reader = EventReader()
    lines = [": comment", "event: x", "data: 1", "", "data: a", "data: b", "", "data: [DONE]", ""]
    events = [e for line in lines for e in reader.feed(line)]
    assert events == [1, "a\nb"]
    assert reader.done
    assert reader.feed("data: later") == [] and reader.feed("") == []


def test_event_reader_ends_at_the_done_id_not_at_done_data() -> None:
    """An item that is the text "[DONE]" has an id of its own: data like any other."""
    reader = EventReader()
    lines = ["id: 1", "data: [DONE]", "", "id: [DONE]", "data: [DONE]", "", "id: 3", "data: 3"]
    assert [e for line in lines for e in reader.feed(line)] == ["[DONE]"]
    assert reader.done and reader.flush() == []
    reader = EventReader()  # the [DONE] id ends the stream even on an event without data
    assert [e for line in ["id: [DONE]", "", "data: after", ""] for e in reader.feed(line)] == []
    assert reader.done


def test_events_give_an_item_that_is_the_text_done(client: Client) -> None:
    assert list(client.events(DONE_ITEM)) == ["a", "[DONE]", "b"]


# -- errors ----------------------------------------------------------------------------------


def test_adaptor_error_raises_with_payload(client: Client) -> None:
    with pytest.raises(OwtError) as info:
        client.call("def run(): raise ValueError('boom')")
    err = info.value
    assert (err.status, err.kind) == (500, "adaptor_error")
    assert "boom" in err.message and "boom" in str(err)
    assert err.payload["type"] == "ValueError"
    assert err.traceback and "ValueError: boom" in err.traceback


def test_compile_error_in_a_stream(client: Client) -> None:
    with pytest.raises(OwtError) as info:
        list(client.stream("def run(:"))
    assert (info.value.status, info.value.kind) == (422, "compile_error")


def test_non_owt_error_response(client: Client) -> None:
    with pytest.raises(OwtError) as info:
        client.call("def run(): return 'not here', 404")
    assert (info.value.status, info.value.kind, info.value.message) == (
        404,
        "http_error",
        "not here",
    )


# -- code by hash ----------------------------------------------------------------------------


def test_second_call_sends_only_the_hash(owt_server: Any) -> None:
    recorder = Recorder()
    code = "def run(x): return x * 2  # sync hash reuse"
    with Client(owt_server.url, transport=recorder) as client:
        assert client.call(code, x=2) == "4"
        assert client.call(code, x=5) == "10"
    first, second = (s["body"] for s in recorder.sent)
    assert "code_b64" in first and "code_sha256" not in first
    assert second == {"code_sha256": sha256_of(code), "kwargs": {"x": 5}}


def test_unknown_code_sends_the_code_again(owt_server: Any) -> None:
    recorder = Recorder()
    code = f"def run(): return 'fresh {time.time_ns()}'"
    with Client(owt_server.url, transport=recorder) as client:
        client._sent.add(sha256_of(code))  # it believes the server holds the code; it does not
        assert client.call(code).startswith("fresh ")
        assert client.call(code).startswith("fresh ")
    bodies = [s["body"] for s in recorder.sent]
    assert [sorted(b) for b in bodies] == [["code_sha256"], ["code_b64"], ["code_sha256"]]


def test_credentials_go_in_headers(owt_server: Any) -> None:
    recorder = Recorder()
    with Client(owt_server.url, token="t0ken", transport=recorder) as client:
        client.call("def run(): return 1")
    assert recorder.sent[0]["request"].headers["authorization"] == "Bearer t0ken"
    recorder = Recorder()
    with Client(owt_server.url, auth=("alice", "secret"), transport=recorder) as client:
        client.call("def run(): return 1")
    assert recorder.sent[0]["request"].headers["authorization"].startswith("Basic ")


# -- local functions -------------------------------------------------------------------------


def test_remote_function_runs_on_the_server(client: Client) -> None:
    @client.remote
    def add(a: int, b: int = 10) -> dict[str, Any]:
        import os

        return {"sum": a + b, "pid": os.getpid()}

    @client.remote
    def half(n: int) -> float:
        return n / 2

    assert half(3) == 1.5
    result = add(1, b=2)
    assert result["sum"] == 3
    assert result["pid"] != __import__("os").getpid()
    assert add(5)["sum"] == 15
    assert add.__name__ == "add"


def test_remote_function_with_request_and_options(client: Client) -> None:
    @client.remote(path="/remote/path")
    def where(request: Any, tag: str) -> str:
        return f"{request.path} {tag}"

    assert where("x") == "/remote/path x"


def test_remote_stream(client: Client) -> None:
    @client.remote
    def count(n: int) -> Any:
        for i in range(n):
            yield f"{i},"

    assert "".join(count.stream(3)) == "0,1,2,"


def test_a_local_function_is_sent_as_its_source(client: Client) -> None:
    def shout(text: str) -> str:
        return text.upper()

    assert client.call(shout, text="hi") == "HI"
    source = function_source(shout)
    assert source.fn_name == "shout"
    assert source.code.startswith("def shout(text: str) -> str:\n")


def test_source_of() -> None:
    assert source_of("def run(): pass") == Source("def run(): pass")
    assert source_of(b"x", "f") == Source("x", "f")
    with pytest.raises(FileNotFoundError, match=r"no file 'no/such/file\.py'"):
        source_of("no/such/file.py")  # a missing file, not code to compile
    with pytest.raises(TypeError, match="lambda"):
        source_of(lambda: 1)


# -- endpoints -------------------------------------------------------------------------------


def test_register_and_call_an_endpoint(client: Client) -> None:
    def greet(name: str, times: int = 1) -> str:
        return " ".join([f"hi {name}"] * times)

    try:
        client.register("client-test-greet", greet)
    except OwtError as err:
        if err.kind == "not_found":  # the endpoints feature is not in this server yet
            pytest.skip("this server has no /_owt/endpoints")
        raise
    try:
        assert client.endpoint("client-test-greet")(name="owt", times=2) == "hi owt hi owt"
        assert client.endpoint("client-test-greet", method="GET")(name="q") == "hi q"
    finally:
        client.unregister("client-test-greet")


def test_an_endpoints_call_options_are_given_with_it(client: Client) -> None:
    def nap(seconds: float = 0.0) -> str:
        import time

        time.sleep(seconds)
        return "rested"

    client.register("client-test-nap", nap)
    try:
        for method in ("POST", "GET"):
            hasty = client.endpoint("client-test-nap", method=method, timeout=0.3)
            with pytest.raises(OwtError) as err:
                hasty(seconds=0.6)
            assert (err.value.status, err.value.kind) == (504, "timeout")
            assert hasty() == "rested"
        with pytest.raises(TypeError, match="not env"):
            client.endpoint("client-test-nap", env="gpu")
    finally:
        client.unregister("client-test-nap")


def test_the_clients_know_the_servers_call_fields() -> None:
    # Each client keeps its own list (it imports nothing of the server): they must agree.
    assert CALL_FIELDS == core_call.CALL_FIELDS
    assert set(ENDPOINT_OPTIONS) == CALLER_FIELDS - {"kwargs", "kwargs_b64"}
    js = (Path(__file__).parent.parent / "clients" / "js" / "owt.js").read_text()
    listed = re.search(r"const CALL_FIELDS = new Set\(\[(.*?)\]\)", js, re.S)
    assert listed is not None
    assert set(re.findall(r'"(\w+)"', listed.group(1))) == core_call.CALL_FIELDS


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_endpoint_arguments_named_like_call_fields_reach_the_function(
    client: Client, method: str
) -> None:
    def fetch(url: str, timeout: float = 1.0, env: str = "dev") -> list[Any]:
        return [url, timeout, env]

    client.register("client-test-fetch", fetch)
    try:
        got = client.endpoint("client-test-fetch", method=method)(url="u", timeout=2.5, env="prod")
        assert got == ["u", 2.5, "prod"]  # the function's, not the call's timeout and env
    finally:
        client.unregister("client-test-fetch")


# -- async -----------------------------------------------------------------------------------


def test_async_client(owt_server: Any) -> None:
    recorder = AsyncRecorder()
    code = "def run(x): return x + 1  # async hash reuse"

    async def main() -> None:
        async with AsyncClient(owt_server.url, transport=recorder) as client:
            assert await client.call(HELLO, name="async") == "Hello, async!"
            assert await client.call(code, x=1) == "2"
            assert await client.call(code, x=2) == "3"

            start = time.monotonic()
            arrivals, chunks = [], []
            async for chunk in client.stream(SLOW, n=3, pause=0.4):
                arrivals.append(time.monotonic() - start)
                chunks.append(chunk)
            assert "".join(chunks) == "0;1;2;"
            assert arrivals[-1] - arrivals[0] >= 0.6

            assert [e async for e in client.events(EVENTS, n=1)] == [
                0,
                {"last": True},
                "two\nlines",
            ]
            assert [e async for e in client.events(DONE_ITEM)] == ["a", "[DONE]", "b"]

            @client.remote
            def mul(a: int, b: int) -> int:
                return a * b

            assert await mul(6, 7) == 42

            with pytest.raises(OwtError) as info:
                await client.call("def run(): raise KeyError('nope')")
            assert info.value.kind == "adaptor_error" and "nope" in info.value.message

    asyncio.run(asyncio.wait_for(main(), 60))
    hashed = [s["body"] for s in recorder.sent if s["body"] and "code_sha256" in s["body"]]
    assert hashed == [{"code_sha256": sha256_of(code), "kwargs": {"x": 2}}]


def test_auth_and_token_against_a_protected_server(start_server: Any) -> None:
    password_hash = hashlib.sha256(b"secret").hexdigest()
    server = start_server("--auth", f"alice:{password_hash}", "--token", "t0ken")
    with Client(server.url, auth=("alice", "secret")) as client:
        assert client.call(HELLO, name="basic") == "Hello, basic!"
    with Client(server.url, token="t0ken") as client:
        assert client.call(HELLO, name="bearer") == "Hello, bearer!"
    with Client(server.url, auth=("alice", "wrong")) as client, pytest.raises(OwtError) as info:
        client.call(HELLO, name="no")
    assert (info.value.status, info.value.kind) == (401, "unauthorized")


@pytest.mark.parametrize(
    ("code", "content_type"),
    [
        ("def run(n): return {'n': n}", "application/json"),
        ("def run(n): return f'{n} plain'", "text/plain; charset=utf-8"),
        ("def run(n): return None", None),
    ],
)
def test_events_of_an_answer_that_is_no_event_stream_raise(
    owt_server: Any, code: str, content_type: str | None
) -> None:
    """Its body has no event in it: an error naming what came, not an empty iterator."""
    with Client(owt_server.url) as client, pytest.raises(NotEventStream) as info:
        list(client.events(code, n=1))
    assert (info.value.status, info.value.kind) == (200, "not_event_stream")
    assert info.value.payload["content_type"] == content_type
    assert f"its content type is {content_type or 'none'}" in info.value.message

    async def main() -> None:
        async with AsyncClient(owt_server.url) as client:
            with pytest.raises(NotEventStream) as info:
                [e async for e in client.events(code, n=1)]
            assert info.value.payload["content_type"] == content_type

    asyncio.run(asyncio.wait_for(main(), 30))


def test_code_that_is_empty_or_not_utf8_is_refused_before_sending(
    owt_server: Any, tmp_path: Path
) -> None:
    """The server could only answer that no code came, or that it cannot read it."""
    bad = tmp_path / "bad.py"
    bad.write_bytes(b'def run(x):\n    return "\xff"\n')
    empty = tmp_path / "empty.py"
    empty.write_text("\n")
    refused = {
        str(bad): f"the file {str(bad)!r} is not UTF-8 text (byte 0xff at offset 24)",
        bad: f"the file {str(bad)!r} is not UTF-8 text",
        b"\xffdef run(): pass": "the code is not UTF-8 text (byte 0xff at offset 0)",
        str(empty): f"the file {str(empty)!r} is empty",
        "": "the code is empty",
        " \n": "the code is empty",
    }
    with Client(owt_server.url) as client:
        for code, message in refused.items():
            with pytest.raises(ValueError, match=re.escape(message)):
                client.call(code)
        assert client.call(HELLO, name="still") == "Hello, still!"


def test_a_token_that_cannot_be_a_header_is_refused_at_once(owt_server: Any) -> None:
    for token in ("é", "a\nb"):
        with pytest.raises(ValueError, match="token= must be printable ASCII"):
            Client(owt_server.url, token=token)
        with pytest.raises(ValueError, match="token= must be printable ASCII"):
            AsyncClient(owt_server.url, token=token)
