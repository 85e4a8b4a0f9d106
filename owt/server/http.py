"""ASGI plumbing: a request snapshot in, a Reply out (streamed, with disconnects noticed)."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from typing import Any

import anyio

from owt.core.body import StreamedRequest
from owt.core.call import Reply, Request
from owt.core.errors import (
    BadRequest,
    Busy,
    Internal,
    MethodNotAllowed,
    OwtError,
    Timeout,
    TooLarge,
)
from owt.core.events import DONE, error_event
from owt.server.accesslog import CallRecord
from owt.server.body import BodySource, too_large
from owt.server.multipart import is_multipart, parse_multipart

__all__ = [
    "CALL_METHODS",
    "StreamCut",
    "not_a_call",
    "read_request",
    "reconnects_to_finished_stream",
    "send_error",
    "send_refusal",
    "send_reply",
]

log = logging.getLogger(__name__)

CALL_METHODS = ("GET", "HEAD", "POST")

#: Seconds between a failed stream's last bytes and the cut (see ``_fail``).
CUT_DELAY = 0.1

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


class StreamCut:
    """The end of a shutdown's grace for streams already under way: each ends as a failed
    stream does (an SSE stream's ``event: error``, 503 ``busy``; no final chunk), instead of
    stopping without a word. Calls not yet streaming are cancelled (and answered 503)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.streaming: set[asyncio.Task[Any]] = set()  # the calls sending a stream now

    @staticmethod
    def error() -> OwtError:
        return Busy(
            "the server is shutting down: the stream was cut at the end of its grace period "
            "(--graceful-timeout); try again when it is back",
            status=Busy.status,
        )


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
        sse = _is_sse(headers)
        return await _send_stream(send, receive, reply.body, stream, chunk_timeout, sse, what, cut)
    finally:
        with anyio.CancelScope(shield=True):
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()


async def _send_stream(
    send: Any,
    receive: Any,
    first: bytes,
    stream: AsyncIterator[bytes],
    chunk_timeout: float | None,
    sse: bool,
    what: str,
    cut: StreamCut | None,
) -> bool:
    """The chunks of a stream whose head went out, until it ends, fails, its client leaves
    or the shutdown cuts it; True when it ended normally."""
    task = asyncio.current_task()
    completed = cut_now = False
    if cut is not None and task is not None:
        cut.streaming.add(task)
    try:
        async with anyio.create_task_group() as tg:

            async def watch_disconnect() -> None:
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        tg.cancel_scope.cancel()
                        return

            async def watch_cut(cut: StreamCut) -> None:
                nonlocal cut_now
                await cut.event.wait()
                cut_now = True
                tg.cancel_scope.cancel()

            tg.start_soon(watch_disconnect)
            if cut is not None:
                tg.start_soon(watch_cut, cut)
            completed = await _pump(send, stream, first, chunk_timeout, sse, what)
            tg.cancel_scope.cancel()
        if cut_now and not completed and cut is not None:
            log.warning("%s: stream cut by the shutdown", what or "a call")
            await _fail(send, cut.error(), sse)
    finally:
        if cut is not None and task is not None:
            cut.streaming.discard(task)
    return completed


def _is_sse(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"text/event-stream"
    return False


async def _pump(
    send: Any,
    stream: AsyncIterator[bytes],
    first: bytes,
    chunk_timeout: float | None,
    sse: bool,
    what: str,
) -> bool:
    """Send the chunks of a started stream; True when it ended normally.

    A stream that fails after its head went out cannot change its status, but it must not
    look like a success: the response ends without its final chunk (curl exits 18, httpx
    raises ``RemoteProtocolError``, a browser's fetch rejects), after an ``event: error``
    with the JSON error for an SSE stream.
    """
    try:
        if first:
            await send({"type": "http.response.body", "body": first, "more_body": True})
        if chunk_timeout and chunk_timeout < math.inf:
            await _relay_within(send, stream, chunk_timeout)
        else:
            async for chunk in stream:
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except TimeoutError:  # (an OSError too: caught before that clause takes it)
        err: OwtError = Timeout(
            f"the stream sent no chunk within its timeout of {chunk_timeout}s",
            timeout=chunk_timeout,
        )
        log.warning("%s: stream cut: %s", what or "a call", err.message)
        await _fail(send, err, sse)
        return False
    except OSError:  # the client went away while we were sending
        return False
    except OwtError as err:
        trace = err.extra.get("traceback")
        log.error(
            "%s: stream cut by an error after it started: %s%s",
            what or "a call",
            err.message,
            f"\n{trace}" if trace else "",
        )
        await _fail(send, err, sse)
        return False
    except Exception as exc:  # a fault of owt itself: answered as well as it still can be
        log.exception("%s: stream cut by an internal error", what or "a call")
        await _fail(send, Internal(f"internal error: {type(exc).__name__}: {exc}"), sse)
        return False
    await send({"type": "http.response.body", "body": b""})
    return True


async def _relay_within(send: Any, stream: AsyncIterator[bytes], timeout: float) -> None:
    """Send the stream's chunks; TimeoutError when one takes longer than ``timeout`` to come
    (sending, which waits for the client, is not counted)."""
    stall = _Stall(timeout)
    loop = stall.loop
    try:
        with stall.scope:
            while True:
                stall.asked = loop.time()
                try:
                    chunk = await stream.__anext__()
                except StopAsyncIteration:
                    break
                stall.asked = None
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        stall.handle.cancel()
    if stall.fired:
        raise TimeoutError


class _Stall:
    """One timer for a stream's chunk deadlines, instead of a cancel scope per chunk (which
    cost about a third of a fast stream's time): it cancels the relay only when the stream
    has been asked for a chunk longer than ``timeout`` ago and not given it yet."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.scope = anyio.CancelScope()
        self.loop = asyncio.get_running_loop()
        self.asked: float | None = None  # when the pending chunk was asked for
        self.fired = False
        self.handle = self.loop.call_at(self.loop.time() + timeout, self._check)

    def _check(self) -> None:
        now = self.loop.time()
        if self.asked is not None and now >= self.asked + self.timeout:
            self.fired = True
            self.scope.cancel()
            return
        due = now + self.timeout if self.asked is None else self.asked + self.timeout
        self.handle = self.loop.call_at(due, self._check)


async def _fail(send: Any, err: OwtError, sse: bool) -> None:
    """End a started response as failed: never its final chunk (the server then closes the
    connection, which every HTTP client reports as an incomplete body).

    The cut waits :data:`CUT_DELAY` after the last bytes went out: Chromium drops data that
    arrives in the same read as the connection's end, so a page would otherwise lose the
    last chunks and the ``event: error`` that says why the stream failed.
    """
    if isinstance(send, CallRecord):  # its access line and the metrics name the kind
        send.error = err.kind
    if sse:
        event = error_event(err.body().decode())
        try:
            await send({"type": "http.response.body", "body": event.encode(), "more_body": True})
        except OSError:
            return
    await asyncio.sleep(CUT_DELAY)
