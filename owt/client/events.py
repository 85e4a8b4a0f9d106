"""Server-sent events, JSON lines and streams that failed midway, read without any I/O."""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from typing import Any

from owt.client.errors import ConnectionFailed, NotEventStream, OwtError, StreamFailed, bad_result

__all__ = [
    "EventReader",
    "FailureWatch",
    "JsonLines",
    "connection_cut",
    "event_reader",
    "sse_failure",
]


class EventReader:
    """Server-sent events, line by line → the data of each event.

    Data is JSON-decoded when it parses, else kept as text. The event whose id is ``[DONE]``
    ends the stream (``done`` turns true); in a stream without ids (not owt's ``sse()``),
    ``data: [DONE]`` does. An item that is the text "[DONE]" has an id of its own
    (``id: 7`` / ``data: [DONE]``) and is data like any other. An ``event: error`` (what owt
    sends when a stream fails after it started) raises :class:`StreamFailed` with the error
    it carries. Comments and ``retry:`` lines are skipped.
    """

    DONE = "[DONE]"  # the id of owt's last event, and its data

    def __init__(self, status: int = 200, *, decode: bool = True) -> None:
        self.done = False
        self.status = status
        self.decode = decode  # False: only an error event matters (its data is not returned)
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None  # None: the event has no id line

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
            elif name == "id":
                self._id = value
            return []
        return self.flush()

    def flush(self) -> list[Any]:
        """Dispatch the pending event (a blank line, or the end of the stream)."""
        event, self._event = self._event, ""
        id_, self._id = self._id, None
        if self.done or (not self._data and id_ != self.DONE):
            self._data.clear()
            return []
        data = "\n".join(self._data)
        self._data.clear()
        if event == "error":
            self.done = True
            raise _stream_error(self.status, data)
        if id_ == self.DONE or (id_ is None and data == self.DONE):
            self.done = True
            return []
        if not self.decode:
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


def connection_cut(
    reason: object, *, server_up: bool, url: object, response: Mapping[str, Any] | None = None
) -> OwtError:
    """The error for a connection that ended before its answer was complete, saying what is
    known: whether the response had started (``response``: its ``status`` and
    ``request_id``), and whether the server still answers (``server_up``)."""
    if response is None:  # no answer at all
        if server_up:
            message = (
                f"the server closed the connection without answering ({reason}), though it "
                "answers other requests: its log says why"
            )
        else:
            message = (
                f"the server closed the connection without answering ({reason}) and no longer "
                f"answers at {url}: it stopped or crashed during the call (its log or its "
                "supervisor says why), or the network failed; run the call again once it is back"
            )
        return ConnectionFailed(message, kind="connection_lost")
    status, request_id = int(response.get("status") or 200), response.get("request_id")
    where = f" under request id {request_id}" if request_id else ""
    if server_up:
        message = (
            f"the response ended before it was complete ({reason}), and the server still "
            "answers: it ended this call itself, as the adaptor raised, ran past its timeout "
            f"or lost its worker midway; the server's log has the error{where} (a stream sent "
            "with sse() carries its error to the client)"
        )
        kind = "stream_failed"
    else:
        message = (
            f"the connection was lost before the response was complete ({reason}), and the "
            f"server no longer answers at {url}: it stopped or crashed (its log or its "
            "supervisor says why), or the network failed; run the call again once it is back"
        )
        kind = "connection_lost"
    return StreamFailed(status, {"error": kind, "message": message, "request_id": request_id})


class FailureWatch:
    """Watches the chunks of a streamed body go by for an SSE ``event: error`` (in a body of
    another content type there is none): ``failure`` is the error it carried."""

    def __init__(self, content_type: str | None, status: int = 200) -> None:
        self.active = _media(content_type) == "text/event-stream"
        self.failure: StreamFailed | None = None
        self._reader = EventReader(status, decode=False)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._rest = ""

    def feed(self, chunk: str | bytes) -> None:
        if not self.active or self.failure is not None:
            return
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        *lines, self._rest = (self._rest + text).split("\n")
        try:
            for line in lines:
                self._reader.feed(line)
        except StreamFailed as failed:
            self.failure = failed


class JsonLines:
    """The items of an NDJSON body (``application/x-ndjson``: what the server streams for a
    generator of dicts, lists or numbers), fed in chunks that may split a line anywhere."""

    def __init__(self, status: int = 200, content_type: str | None = None) -> None:
        self.status = status
        self.content_type = content_type
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._rest = ""

    def feed(self, chunk: str | bytes) -> list[Any]:
        """The items the lines completed by ``chunk`` hold."""
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        *lines, self._rest = (self._rest + text).split("\n")
        return [self._item(line) for line in lines if line.strip()]

    def flush(self) -> list[Any]:
        """The item of a last line without its line break."""
        rest, self._rest = self._rest + self._decoder.decode(b"", final=True), ""
        return [self._item(rest)] if rest.strip() else []

    def _item(self, line: str) -> Any:
        try:
            return json.loads(line)
        except ValueError as exc:
            raise bad_result(self.status, self.content_type, exc) from None


def sse_failure(content_type: str | None, partial: bytes) -> StreamFailed | None:
    """The ``event: error`` in the part of an SSE body that arrived before it was cut."""
    watch = FailureWatch(content_type)
    watch.feed(partial)
    return watch.failure
