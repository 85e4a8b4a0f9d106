"""Server-sent events and streams that failed midway, read without any I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from owt.client.errors import NotEventStream, StreamFailed

__all__ = ["EventReader", "event_reader", "sse_failure", "stream_cut"]


class EventReader:
    """Server-sent events, line by line → the data of each event.

    Data is JSON-decoded when it parses, else kept as text; ``data: [DONE]`` ends the stream
    (``done`` turns true). An ``event: error`` (what owt sends when a stream fails after it
    started) raises :class:`StreamFailed` with the error it carries. Comments, ``id:`` and
    ``retry:`` lines are skipped.
    """

    DONE = "[DONE]"

    def __init__(self, status: int = 200) -> None:
        self.done = False
        self.status = status
        self._data: list[str] = []
        self._event = ""

    def feed(self, line: str) -> list[Any]:
        """Take one line (without its line break); return the events it completes."""
        line = line.rstrip("\r\n")
        if line:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
            return []
        return self.flush()

    def flush(self) -> list[Any]:
        """Dispatch the pending event (a blank line, or the end of the stream)."""
        event, self._event = self._event, ""
        if not self._data or self.done:
            self._data.clear()
            return []
        data = "\n".join(self._data)
        self._data.clear()
        if event == "error":
            self.done = True
            raise _stream_error(self.status, data)
        if data == self.DONE:
            self.done = True
            return []
        try:
            return [json.loads(data)]
        except ValueError:
            return [data]


def event_reader(status: int, headers: Mapping[str, str]) -> EventReader:
    """The reader of a response's events; a response of another content type raises
    :class:`NotEventStream` (its body would otherwise vanish: no line of it is an event)."""
    content_type = headers.get("content-type")
    if _media(content_type) != "text/event-stream":
        raise NotEventStream(status, content_type)
    return EventReader(status)


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _stream_error(status: int, data: str) -> StreamFailed:
    try:
        payload = json.loads(data)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        payload = {"error": "stream_failed", "message": data or "the stream sent an error"}
    return StreamFailed(status, payload)


def stream_cut(status: int, reason: object) -> StreamFailed:
    """The error for a body the server ended before it was complete."""
    message = (
        f"the response ended before it was complete ({reason}): the adaptor most likely "
        "failed midway; the server's log has its traceback"
    )
    return StreamFailed(status, {"error": "stream_failed", "message": message})


def sse_failure(content_type: str | None, partial: bytes) -> StreamFailed | None:
    """The ``event: error`` in the part of an SSE body that arrived before it was cut."""
    if _media(content_type) != "text/event-stream":
        return None
    reader = EventReader()
    try:
        for line in partial.decode("utf-8", "replace").splitlines():
            reader.feed(line)
    except StreamFailed as failed:
        return failed
    return None
