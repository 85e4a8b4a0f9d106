"""Streaming helpers: server-sent events for browsers' ``EventSource``. Stdlib only.

def run(text):
    return sse(word for word in text.split())
# data: hello\n\n  data: world\n\n  data: [DONE]\n\n
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

from owt.core.call import Response
from owt.core.jsontext import dumps

__all__ = ["SSE_HEADERS", "sse", "sse_event"]

SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}


def sse_event(item: Any, event: str | None = None) -> str:
    """One event: text as is (multi-line text split into ``data:`` lines), else JSON."""
    text = item if isinstance(item, str) else dumps(item)
    lines = [f"event: {event}"] if event else []
    lines.extend(f"data: {line}" for line in text.split("\n"))
    return "\n".join(lines) + "\n\n"


def _events(items: Iterable[Any]) -> Iterator[str]:
    for item in items:
        yield sse_event(item)
    yield "data: [DONE]\n\n"


async def _aevents(items: AsyncIterable[Any]) -> AsyncIterator[str]:
    async for item in items:
        yield sse_event(item)
    yield "data: [DONE]\n\n"


def sse(items: Iterable[Any] | AsyncIterable[Any]) -> Response:
    """Stream ``items`` as a ``text/event-stream``, ending with ``data: [DONE]``."""
    body: Any = _aevents(items) if hasattr(items, "__aiter__") else _events(items)  # type: ignore[arg-type]
    return Response(body, 200, dict(SSE_HEADERS))
