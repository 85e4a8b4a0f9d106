"""A streamed request body: its reader, its request's rules, the server's source."""

from __future__ import annotations

import asyncio
import concurrent.futures
import pickle
from typing import Any

import pytest

from owt.core.body import BodyReader, StreamedRequest
from owt.core.errors import CallerGone, TooLarge
from owt.server.body import READ_AHEAD, BodySource, whole


class Given(BodyReader):
    """A reader of chunks known in advance."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = [*chunks, b""]
        self.asked = 0

    def ask(self) -> concurrent.futures.Future[bytes]:
        self.asked += 1
        future: concurrent.futures.Future[bytes] = concurrent.futures.Future()
        future.set_result(self.chunks.pop(0))
        return future


def streamed(*chunks: bytes) -> StreamedRequest:
    request = StreamedRequest(method="POST", path="/up", header_pairs=[("content-type", "a/b")])
    request.attach(Given(*chunks))
    return request


def test_a_streamed_request_crosses_without_its_body_or_its_reader() -> None:
    request = streamed(b"secret")
    request.source = object()
    copy = pickle.loads(pickle.dumps(request, protocol=5))
    assert type(copy) is StreamedRequest and copy.path == "/up"
    assert copy._reader is None and copy.source is None
    assert "secret" not in repr(copy)
    with pytest.raises(RuntimeError, match="cannot be read here"):
        _ = copy.data


def test_chunks_come_as_read_for_for_and_async_for() -> None:
    assert list(streamed(b"a", b"bc").stream()) == [b"a", b"bc"]

    async def gather() -> list[bytes]:
        return [chunk async for chunk in streamed(b"a", b"bc").stream()]

    assert asyncio.run(gather()) == [b"a", b"bc"]


def test_data_reads_the_body_once_and_stream_then_gives_it_whole() -> None:
    request = streamed(b"a", b"b")
    assert request.data == b"ab" and request.data == b"ab"
    assert request._reader.asked == 3  # type: ignore[union-attr]
    assert list(request.stream()) == [b"ab"]
    assert request.json is None and not request.is_json  # a raw type: never read as JSON


def test_a_plain_request_streams_its_body_as_one_chunk() -> None:
    from owt.core.call import Request

    assert list(Request(data=b"whole").stream()) == [b"whole"]
    assert list(Request().stream()) == []


def test_an_error_ending_the_body_reaches_the_reader() -> None:
    class Failing(BodyReader):
        def ask(self) -> concurrent.futures.Future[bytes]:
            future: concurrent.futures.Future[bytes] = concurrent.futures.Future()
            future.set_exception(TooLarge("over"))
            return future

    request = StreamedRequest(method="POST")
    request.attach(Failing())
    with pytest.raises(TooLarge):
        list(request.stream())


def messages(*chunks: bytes, end: bool = True) -> Any:
    queue: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
    ]
    if end:
        queue.append({"type": "http.request", "body": b"", "more_body": False})
    queue.append({"type": "http.disconnect"})
    read = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return queue.pop(0)

    receive.read = lambda: read  # type: ignore[attr-defined]
    return receive


def test_the_source_reads_ahead_no_more_than_its_bound() -> None:
    async def scenario() -> None:
        big = b"x" * (READ_AHEAD // 2)
        receive = messages(*[big] * 8)
        source = BodySource(receive, limit=10 * READ_AHEAD)
        first = await source.take()
        await asyncio.sleep(0.01)  # let the reader run ahead as far as it may
        assert len(first) >= len(big) and receive.read() <= 5  # ~READ_AHEAD waits here
        rest = await source.read_whole()
        assert len(first) + len(rest) == 8 * len(big)
        assert await source.receive() == {"type": "http.disconnect"}  # the client, after it

    asyncio.run(scenario())


def test_the_source_says_why_a_body_ended_early() -> None:
    async def scenario() -> None:
        over = BodySource(messages(b"x" * 10, b"x" * 10), limit=15)
        with pytest.raises(TooLarge, match="--max-body-bytes"):
            await over.read_whole()
        left = BodySource(messages(b"x" * 10, end=False), limit=100)
        with pytest.raises(CallerGone):
            await left.read_whole()
        closed = BodySource(messages(b"x"), limit=100)
        closed.close()  # its request is over: a late reader is told, not given an end
        with pytest.raises(CallerGone):
            await closed.take()

    asyncio.run(scenario())


def test_whole_makes_a_plain_request_of_a_streamed_one() -> None:
    async def scenario() -> None:
        request = StreamedRequest(method="POST", path="/p", query_string="a=1")
        request.source = BodySource(messages(b"ab", b"cd"), limit=100)
        plain = await whole(request)
        assert type(plain).__name__ == "Request"
        assert (plain.data, plain.path, plain.args["a"]) == (b"abcd", "/p", "1")

    asyncio.run(scenario())
