"""Sending a stream whose head went out: each chunk as it comes, within its chunk timeout,
until it ends, fails (then ended as failed: never its final chunk), its client leaves, or
the server's shutdown cuts it."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from typing import Any

import anyio

from owt.core.errors import Busy, Internal, OwtError, Timeout
from owt.core.events import error_event
from owt.server.accesslog import CallRecord

__all__ = ["CUT_DELAY", "StreamCut", "is_sse", "send_stream"]

log = logging.getLogger(__name__)

#: Seconds between a failed stream's last bytes and the cut (see ``_fail``).
CUT_DELAY = 0.1


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


async def send_stream(
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


def is_sse(headers: list[tuple[bytes, bytes]]) -> bool:
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
