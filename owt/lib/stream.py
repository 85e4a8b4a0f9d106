"""Streaming helpers: server-sent events for browsers' ``EventSource``. Stdlib only.

def run(text):
    return sse(word for word in text.split())
# id: 1\\ndata: hello\\n\\n  id: 2\\ndata: world\\n\\n  id: [DONE]\\ndata: [DONE]\\n\\n

In a page, close the ``EventSource`` on ``[DONE]`` (owt also answers its reconnect to a
finished stream with 204, which stops it)::

    const source = new EventSource(url);
    source.onmessage = (e) => e.data === "[DONE]" ? source.close() : show(e.data);
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

from owt.core.call import Response
from owt.core.events import DONE, DONE_EVENT, event_text
from owt.core.results import encode_json

__all__ = ["DONE", "SSE_HEADERS", "sse", "sse_event"]

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


def _events(items: Iterable[Any]) -> Iterator[str]:
    for number, item in enumerate(items, 1):
        yield sse_event(item, id=str(number))
    yield DONE_EVENT


async def _aevents(items: AsyncIterable[Any]) -> AsyncIterator[str]:
    number = 0
    async for item in items:
        number += 1
        yield sse_event(item, id=str(number))
    yield DONE_EVENT


def sse(items: Iterable[Any] | AsyncIterable[Any]) -> Response:
    """Stream ``items`` as a ``text/event-stream``: one event per item, with ids, ending with
    ``data: [DONE]`` (see :mod:`owt.core.events`)."""
    body: Any = _aevents(items) if hasattr(items, "__aiter__") else _events(items)  # type: ignore[arg-type]
    return Response(body, 200, dict(SSE_HEADERS))
