"""Server-sent events as text, for browsers' ``EventSource`` (WHATWG HTML §9.2). Stdlib only.

An item is always exactly one event: its text is split on every line break a browser
splits on (``\\r\\n``, ``\\r`` and ``\\n``) into ``data:`` lines, which the browser joins
again with ``\\n``. Events carry ids (``1``, ``2``, ...); the last one is ``id: [DONE]`` /
``data: [DONE]``. A browser reconnects whenever a stream ends; the reconnect sends
``Last-Event-ID: [DONE]``, which the server answers with 204 — and a 204 stops
``EventSource`` for good. An error after the stream started is sent as ``event: error``
with the JSON error as its data, and the same ``[DONE]`` id.
"""

from __future__ import annotations

import re

__all__ = ["DONE", "DONE_EVENT", "error_event", "event_text"]

#: The data of the last event, and the id that marks a finished stream.
DONE = "[DONE]"
DONE_EVENT = f"id: {DONE}\ndata: {DONE}\n\n"

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def event_text(data: str, *, event: str | None = None, id: str | None = None) -> str:
    """One event: ``event:`` and ``id:`` lines when given, then one ``data:`` line per line.

    >>> event_text("Left\\r\\rdata: Right", id="1")
    'id: 1\\ndata: Left\\ndata: \\ndata: data: Right\\n\\n'
    """
    head = ""
    if event:
        head = f"event: {_LINE_BREAK.sub(' ', event)}\n"
    if id is not None:
        head += f"id: {_LINE_BREAK.sub(' ', id)}\n"
    if "\n" not in data and "\r" not in data:  # JSON always: one line, no regex over it
        return f"{head}data: {data}\n\n"
    return head + "".join(f"data: {line}\n" for line in _LINE_BREAK.split(data)) + "\n"


def error_event(error_json: str) -> str:
    """The ``event: error`` that ends a failed stream (its data is the JSON error)."""
    return event_text(error_json, event="error", id=DONE)
