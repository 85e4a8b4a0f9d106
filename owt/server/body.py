"""A request body read from the client as its call asks for it (``request.stream()``).

:func:`owt.server.http.read_request` leaves a large raw body unread and gives its request a
:class:`BodySource`. The call's executor hands the body on: in this process through
:meth:`BodySource.reader`, to a worker process as frames it asks for, to anything else read
whole first. At most :data:`READ_AHEAD` bytes wait here: beyond that uvicorn stops reading
the socket, and the client waits for the adaptor.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
from dataclasses import fields
from typing import Any

from owt.core.body import BodyReader, StreamedRequest
from owt.core.call import Request
from owt.core.errors import BadRequest, CallerGone, OwtError, TooLarge

__all__ = ["MAX_FORM_FIELDS", "READ_AHEAD", "BodySource", "check_form", "too_large", "whole"]

#: Bytes of a streamed body read from the client ahead of the adaptor.
READ_AHEAD = 1024 * 1024

Message = dict[str, Any]


def too_large(limit: int, hint: str = "") -> str:
    return (
        f"the body is over the limit of {limit} bytes (--max-body-bytes): send less, or start "
        f"owt with a larger --max-body-bytes{hint}"
    )


class BodySource:
    """The body of one request, from the ASGI ``receive``, on the server's loop.

    One task reads it ahead (started by the first :meth:`take` or :meth:`receive`);
    :meth:`take` hands over what has come. Anything else that listens to the client (to see
    it leave) calls :meth:`receive` instead of the ASGI one, which waits for the body's end:
    the body's messages are the reader's alone.
    """

    def __init__(self, receive: Any, limit: int) -> None:
        self._receive = receive
        self._limit = limit
        self._parts: collections.deque[bytes] = collections.deque()
        self._held = 0
        self._size = 0
        self._error: OwtError | None = None
        self._gone = False
        self._arrived = asyncio.Event()
        self._space = asyncio.Event()
        self._done = asyncio.Event()  # the body has all come, or will not
        self._task: asyncio.Task[None] | None = None

    def _start(self) -> None:
        if self._task is None and not self._done.is_set():
            self._task = asyncio.get_running_loop().create_task(self._fill())

    async def _fill(self) -> None:
        try:
            while True:
                while self._held >= READ_AHEAD:
                    self._space.clear()
                    await self._space.wait()
                message = await self._receive()
                if message["type"] == "http.disconnect":
                    self._gone = True
                    self._error = CallerGone("the client left before it sent the whole body")
                    return
                chunk = message.get("body", b"")
                self._size += len(chunk)
                if self._size > self._limit:
                    self._error = TooLarge(too_large(self._limit))
                    return
                if chunk:
                    self._parts.append(chunk)
                    self._held += len(chunk)
                    self._arrived.set()
                if not message.get("more_body", False):
                    return
        finally:
            self._arrived.set()
            self._done.set()

    async def take(self) -> bytes:
        """What has come of the body since the last take (waiting for something), ``b""``
        at its end; raises the error that ended it early."""
        self._start()
        while not self._parts and not self._done.is_set():
            self._arrived.clear()
            await self._arrived.wait()
        parts = self._parts
        if parts:
            data = parts.popleft() if len(parts) == 1 else b"".join(parts)
            parts.clear()
            self._held = 0
            self._space.set()
            return data
        if self._error is not None:
            raise self._error
        return b""

    async def read_whole(self) -> bytes:
        """The rest of the body at once (for an executor that cannot stream it)."""
        parts = []
        while chunk := await self.take():
            parts.append(chunk)
        return b"".join(parts)

    async def receive(self) -> Message:
        """The ASGI ``receive`` for everything but the body: once the body is in (or the
        client left while sending it), the client's next message."""
        self._start()
        await self._done.wait()
        if self._gone:
            return {"type": "http.disconnect"}
        message: Message = await self._receive()
        return message

    def reader(self) -> BodyReader:
        """A reader for a call in this process, on any thread or loop but this one."""
        return _LocalReader(self, asyncio.get_running_loop())

    def close(self) -> None:
        """The request is over: stop reading (a call still running, given up on, finds the
        body cut short, not ended)."""
        if self._done.is_set():
            return
        self._error = CallerGone("the request is over: its body can no longer be read")
        if self._task is not None:
            self._task.cancel()  # its end wakes whoever waits
        else:
            self._arrived.set()
            self._done.set()


async def whole(request: StreamedRequest) -> Request:
    """The request with its body read whole: a plain value to send anywhere."""
    source: BodySource = request.source
    values = {name: request.__dict__[name] for name in _FIELDS}
    return Request(**values, data=await source.read_whole())


_FIELDS = tuple(f.name for f in fields(Request) if f.name != "data")


class _LocalReader(BodyReader):
    __slots__ = ("loop", "source")

    def __init__(self, source: BodySource, loop: asyncio.AbstractEventLoop) -> None:
        self.source = source
        self.loop = loop

    def ask(self) -> concurrent.futures.Future[bytes]:
        return asyncio.run_coroutine_threadsafe(self.source.take(), self.loop)


#: Fields a URL-encoded body may hold (Django's default): millions took seconds to parse.
MAX_FORM_FIELDS = 1000


def check_form(data: bytes) -> None:
    """BadRequest for a URL-encoded body of more than :data:`MAX_FORM_FIELDS` fields. One
    that is not UTF-8 text is no form (a photo sent by ``curl --data-binary``): it passes,
    and holds no fields (:attr:`owt.core.call.Request.form`)."""
    if data.count(b"&") < MAX_FORM_FIELDS:
        return
    try:
        data.decode()
    except UnicodeDecodeError:
        return
    message = f"the form has more than {MAX_FORM_FIELDS} fields: send that much as JSON"
    raise BadRequest(message, field="body")
