"""Reading a response's body — whole, in chunks, as events, as JSON lines — for both clients.

The sync and async readers differ only in ``await``; what they read is parsed in
:mod:`owt.client.events`. When a body is cut short, an SSE ``event: error`` that came before
the cut is the error (the server's own kind and traceback); else the transport's error goes
up to the client, which finds out what it can about the cut (:func:`owt.client.base.cut_error`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from owt.client.events import FailureWatch, JsonLines, event_reader, sse_failure
from owt.client.results import decode_body, is_text, media_type

__all__ = [
    "CUT",
    "aiter_chunks",
    "aiter_events",
    "aiter_items",
    "aread_body",
    "aread_result",
    "iter_chunks",
    "iter_events",
    "iter_items",
    "read_body",
    "read_result",
]

#: How httpx says that a body ended before it was complete (the connection closed or reset).
CUT = (httpx.RemoteProtocolError, httpx.ReadError)
NDJSON = "application/x-ndjson"


def read_body(response: httpx.Response) -> bytes:
    """The whole body; when it is cut short, an SSE ``event: error`` in it is the error."""
    parts: list[bytes] = []
    try:
        parts.extend(response.iter_bytes())
    except CUT as exc:
        failed = sse_failure(response.headers.get("content-type"), b"".join(parts))
        raise failed or exc
    return b"".join(parts)


async def aread_body(response: httpx.Response) -> bytes:
    """:func:`read_body` for the async client."""
    parts: list[bytes] = []
    try:
        async for part in response.aiter_bytes():
            parts.append(part)
    except CUT as exc:
        failed = sse_failure(response.headers.get("content-type"), b"".join(parts))
        raise failed or exc
    return b"".join(parts)


def read_result(response: httpx.Response) -> Any:
    """The whole body decoded by its content type (JSON, text, bytes or None)."""
    content_type = response.headers.get("content-type")
    return decode_body(content_type, read_body(response), status=response.status_code)


async def aread_result(response: httpx.Response) -> Any:
    """:func:`read_result` for the async client."""
    content_type = response.headers.get("content-type")
    return decode_body(content_type, await aread_body(response), status=response.status_code)


def iter_chunks(response: httpx.Response) -> Iterator[str | bytes]:
    """The body's chunks as they arrive: ``str`` for text content types, else ``bytes``. An
    SSE stream's ``event: error`` raises once its chunks have been given."""
    content_type = response.headers.get("content-type")
    watch = FailureWatch(content_type, response.status_code)
    chunks = response.iter_text() if is_text(content_type) else response.iter_bytes()
    try:
        for chunk in chunks:
            watch.feed(chunk)
            if chunk:
                yield chunk
    except CUT as exc:
        raise watch.failure or exc
    if watch.failure is not None:
        raise watch.failure


async def aiter_chunks(response: httpx.Response) -> AsyncIterator[str | bytes]:
    """:func:`iter_chunks` for the async client."""
    content_type = response.headers.get("content-type")
    watch = FailureWatch(content_type, response.status_code)
    chunks = response.aiter_text() if is_text(content_type) else response.aiter_bytes()
    try:
        async for chunk in chunks:
            watch.feed(chunk)
            if chunk:
                yield chunk
    except CUT as exc:
        raise watch.failure or exc
    if watch.failure is not None:
        raise watch.failure


def iter_events(response: httpx.Response) -> Iterator[Any]:
    """The data of each server-sent event (JSON-decoded when it parses), up to ``[DONE]``."""
    reader = event_reader(response.status_code, response.headers)
    for line in response.iter_lines():
        yield from reader.feed(line)
        if reader.done:
            return
    yield from reader.flush()


async def aiter_events(response: httpx.Response) -> AsyncIterator[Any]:
    """:func:`iter_events` for the async client."""
    reader = event_reader(response.status_code, response.headers)
    async for line in response.aiter_lines():
        for event in reader.feed(line):
            yield event
        if reader.done:
            return
    for event in reader.flush():
        yield event


def _json_lines(response: httpx.Response) -> JsonLines | None:
    """The reader of an NDJSON body; None for a body of another type (given whole)."""
    content_type = response.headers.get("content-type")
    if media_type(content_type) != NDJSON:
        return None
    return JsonLines(response.status_code, content_type)


def iter_items(response: httpx.Response) -> Iterator[Any]:
    """The items of a streamed NDJSON body, each decoded as its line arrives; any other
    answer is one item, its whole body decoded as a call's result (an empty body: none)."""
    lines = _json_lines(response)
    if lines is None:
        result = read_result(response)
        if result not in (None, b"", ""):
            yield result
        return
    for chunk in response.iter_bytes():
        yield from lines.feed(chunk)
    yield from lines.flush()


async def aiter_items(response: httpx.Response) -> AsyncIterator[Any]:
    """:func:`iter_items` for the async client."""
    lines = _json_lines(response)
    if lines is None:
        result = await aread_result(response)
        if result not in (None, b"", ""):
            yield result
        return
    async for chunk in response.aiter_bytes():
        for item in lines.feed(chunk):
            yield item
    for item in lines.flush():
        yield item
