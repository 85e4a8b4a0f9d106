"""ASGI plumbing: a request snapshot in, a Reply out (streamed, with disconnects noticed)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio

from owt.core.body import StreamedRequest
from owt.core.call import Reply, Request
from owt.core.errors import (
    BadRequest,
    MethodNotAllowed,
    OwtError,
    TooLarge,
)
from owt.core.events import DONE
from owt.server.body import BodySource, too_large
from owt.server.multipart import is_multipart, parse_multipart
from owt.server.relay import StreamCut, is_sse, send_stream

__all__ = [
    "CALL_METHODS",
    "not_a_call",
    "read_request",
    "reconnects_to_finished_stream",
    "send_error",
    "send_refusal",
    "send_reply",
]

log = logging.getLogger(__name__)

CALL_METHODS = ("GET", "HEAD", "POST")

Scope = dict[str, Any]
Message = dict[str, Any]


async def read_request(
    scope: Scope, receive: Any, max_body_bytes: int, path: str, stream_from: int | None = None
) -> Request:
    """Snapshot the request; a body over ``max_body_bytes`` is refused before it is read.

    With ``stream_from``, a raw body (not JSON, a form or multipart: those hold the call's
    fields) longer than that, or of no declared length, is not read here: the request is a
    :class:`~owt.core.body.StreamedRequest` whose ``source`` reads it as the call asks.
    """
    raw_headers = scope.get("headers", [])
    pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers]
    declared: int | None = None
    content_type = ""
    for name, value in pairs:
        if name == "content-length":
            try:
                declared = int(value)
            except ValueError:
                raise BadRequest("bad Content-Length header", field="content-length")
        elif name == "content-type":
            content_type = value
    if declared is not None and declared > max_body_bytes:
        raise TooLarge(too_large(max_body_bytes, _read_whole(content_type)))
    client = scope.get("client")
    method = scope.get("method", "GET")
    snapshot: dict[str, Any] = {
        "method": method,
        "path": path,
        "query_string": scope.get("query_string", b"").decode("latin-1"),
        "header_pairs": pairs,
        "scheme": scope.get("scheme", "http"),
        "remote_addr": client[0] if client else None,
        "root_path": scope.get("root_path", ""),
    }
    if method in ("GET", "HEAD"):
        return Request(**snapshot)
    if (
        stream_from is not None
        and (declared is None or declared > stream_from)
        and _is_raw(content_type)
    ):
        request = StreamedRequest(**snapshot)
        request.source = BodySource(receive, max_body_bytes)
        return request
    body = await _read_body(receive, max_body_bytes, content_type)
    if body and is_multipart(content_type):
        form_pairs, file_parts = parse_multipart(content_type, body)
        # As in Flask: the parts are the body now (and cross to a worker once).
        return Request(**snapshot, form_pairs=form_pairs, file_parts=file_parts)
    return Request(**snapshot, data=body)


async def _read_body(receive: Any, max_body_bytes: int, content_type: str) -> bytes:
    parts = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_body_bytes:
            raise TooLarge(too_large(max_body_bytes, _read_whole(content_type)))
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def _read_whole(content_type: str) -> str:
    """What to tell the sender of a body too large that is read whole for its type: a file
    sent by ``curl --data-binary`` is labelled a form unless told otherwise."""
    media = _media(content_type)
    if media not in ("", "application/x-www-form-urlencoded"):
        return ""
    return (
        f"; a body sent as {media or 'no Content-Type'} is read whole, as it may hold the "
        "call's fields (curl --data-binary sends application/x-www-form-urlencoded): to "
        "stream a file to the adaptor's request.stream() instead, send it as raw bytes, e.g. "
        "-H 'Content-Type: application/octet-stream'"
    )


def _media(content_type: str) -> str:
    """A Content-Type without its parameters, in lower case."""
    return content_type.split(";", 1)[0].strip().lower()


def _is_raw(content_type: str) -> bool:
    """A body of a type that holds no call fields: bytes for the adaptor alone."""
    media = _media(content_type)
    if media in ("", "application/json", "application/x-www-form-urlencoded"):
        return False
    return not (media.endswith("+json") or media.startswith("multipart/"))


def not_a_call(method: str) -> MethodNotAllowed | None:
    """The 405 of a method that is no call (TRACE, PUT, DELETE...), else None."""
    if method in CALL_METHODS:
        return None
    put = " (curl -T sends PUT: add -X POST)" if method == "PUT" else ""
    message = f"{method} is not a call: send GET or POST{put}"
    return MethodNotAllowed(message, allowed=list(CALL_METHODS))


def reconnects_to_finished_stream(scope: Scope) -> bool:
    """An ``EventSource`` reconnecting after ``sse()`` sent its last event (its id: done)."""
    if scope.get("method") != "GET":  # EventSource only ever GETs
        return False
    for name, value in scope.get("headers", ()):
        if name == b"last-event-id":
            return bool(value.strip() == _DONE_ID)
    return False


_DONE_ID = DONE.encode()


def _raw_headers(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers]


async def send_error(send: Any, err: OwtError) -> None:
    await send_reply(send, None, err.reply())


async def send_refusal(observer: Any, scope: Scope, receive: Any, send: Any, reply: Reply) -> None:
    """An answer that runs no call (a 401, 403, 405 or 503; the 204 that stops a reconnect):
    with a request id, an access line and its count in the metrics, as every answer
    (``observer``: the app's ``Observer``, or None)."""
    if observer is None:
        await send_reply(send, receive, reply)
        return
    record = observer.begin(scope, send)
    await send_reply(record, receive, reply)
    observer.end(record, scope, None, reply)


async def send_reply(
    send: Any,
    receive: Any,
    reply: Reply,
    chunk_timeout: float | None = None,
    what: str = "",
    *,
    head_only: bool = False,
    cut: StreamCut | None = None,
) -> bool:
    """Send a Reply; for a stream, each chunk as it comes. False if the client went away or
    the stream failed (``what`` names the call in the log line of a failure). For a HEAD
    request (``head_only``) a stream is closed once its head is out: nobody reads its body;
    when ``cut`` fires (the server's shutdown), a stream under way ends failed."""
    headers = _raw_headers(reply.headers)
    if reply.stream is None:
        # A whole body goes with its length (no chunked framing); a stream is chunked.
        # (204 and 304 carry no body and, per RFC 9110, no length to announce one.)
        if reply.status not in (204, 304) and b"content-length" not in dict(headers):
            headers.append((b"content-length", b"%d" % len(reply.body)))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})
        return True
    # Without it a browser tab buffers a text stream to sniff its type and shows nothing
    # until the end; with it, chunks appear as they arrive.
    if b"x-content-type-options" not in dict(headers):
        headers.append((b"x-content-type-options", b"nosniff"))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    stream = reply.stream
    assert isinstance(stream, AsyncIterator)
    try:
        if head_only:
            await send({"type": "http.response.body", "body": b""})
            return True
        sse = is_sse(headers)
        return await send_stream(send, receive, reply.body, stream, chunk_timeout, sse, what, cut)
    finally:
        with anyio.CancelScope(shield=True):
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
