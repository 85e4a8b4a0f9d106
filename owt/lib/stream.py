"""Streaming helpers: server-sent events for browsers' ``EventSource``. Stdlib only.

def run(text):
    return sse(word for word in text.split())
# id: 1\\ndata: hello\\n\\n  id: 2\\ndata: world\\n\\n  id: [DONE]\\ndata: [DONE]\\n\\n

In a page, close the ``EventSource`` at the event whose id is ``[DONE]`` (owt also answers
its reconnect to a finished stream with 204, which stops it). Look at the id, not the data:
an item that is the text "[DONE]" comes as ``id: 7`` / ``data: [DONE]``, data like any other::

    const source = new EventSource(url);
    source.onmessage = (e) => e.lastEventId === "[DONE]" ? source.close() : show(e.data);

A browser that loses a stream midway reconnects with ``Last-Event-ID: N``, the id of the last
event it got. ``sse()`` cannot know whether its items would come again the same way (a
clock, a queue, a model that samples), so it sends them all again, from id 1. An adaptor
whose items are the same every time skips the ones the client has and numbers on from
there — :func:`owt.lib.speech.speak` does::

    def run(text):
        done = last_event_id()                       # 0 on a first connection
        return sse(words(text)[done:], first_id=done + 1)
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

from owt.core.call import Response
from owt.core.context import current_call
from owt.core.events import DONE, DONE_EVENT, event_text
from owt.core.results import encode_json

__all__ = ["DONE", "SSE_HEADERS", "last_event_id", "sse", "sse_event"]

SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}


def sse_event(item: Any, event: str | None = None, id: str | None = None) -> str:
    """One event: text as is (split into ``data:`` lines at every line break), else JSON.

    However many line breaks (``\\n``, ``\\r`` or ``\\r\\n``) the text holds, it stays one
    event, and the browser sees its lines joined by ``\\n``.
    """
    text = item if isinstance(item, str) else encode_json(item).decode()  # as whole results
    return event_text(text, event=event, id=id)


def last_event_id() -> int:
    """How many events of this stream the client already has: the ``Last-Event-ID`` that a
    reconnecting ``EventSource`` sends (the id of the last event it got), as ``sse()``
    numbers them; 0 on a first connection, outside a call, or for an id it did not write."""
    call = current_call()
    text = call.request.headers.get("last-event-id", "").strip() if call else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else 0


def _events(items: Iterable[Any], first_id: int) -> Iterator[str]:
    for number, item in enumerate(items, first_id):
        yield sse_event(item, id=str(number))
    yield DONE_EVENT


async def _aevents(items: AsyncIterable[Any], first_id: int) -> AsyncIterator[str]:
    number = first_id - 1
    async for item in items:
        number += 1
        yield sse_event(item, id=str(number))
    yield DONE_EVENT


def sse(items: Iterable[Any] | AsyncIterable[Any], first_id: int = 1) -> Response:
    """Stream ``items`` as a ``text/event-stream``: one event per item, with ids from
    ``first_id`` on, ending with the event ``id: [DONE]`` / ``data: [DONE]`` (see
    :mod:`owt.core.events`)."""
    if hasattr(items, "__aiter__"):
        body: Any = _aevents(items, first_id)  # type: ignore[arg-type]
    else:
        body = _events(items, first_id)
    return Response(body, 200, dict(SSE_HEADERS))
