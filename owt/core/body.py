"""A request body read as the adaptor asks for it: ``request.stream()``. Stdlib only.

The server reads a large raw body (over :data:`STREAM_FROM` bytes, or of no declared length,
whose type is not JSON, a form or multipart) only as the call asks for it, so a 2 GB upload
never sits whole in the server's memory, nor in a worker's::

    def run(request):
        digest = hashlib.sha256()
        for chunk in request.stream():  # or: async for chunk in request.stream()
            digest.update(chunk)
        return digest.hexdigest()

Such a request is a :class:`StreamedRequest`: where the call runs it holds a
:class:`BodyReader` that fetches the next bytes from the server (across a thread, or as
frames from a worker process). ``request.data`` reads what is left of the body whole; after
``stream()`` has begun, the bytes are the stream's alone. Every other request has its body
whole already, and ``stream()`` yields it as one chunk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, Protocol

from owt.core.call import Request

__all__ = ["STREAM_FROM", "BodyReader", "Chunks", "Source", "StreamedRequest"]

#: A raw body longer than this (or of no declared length) streams to the adaptor.
STREAM_FROM = 1024 * 1024


class Source(Protocol):
    """On the server: the body as it comes from the client (``owt.server.body``)."""

    async def take(self) -> bytes:
        """What has come since the last take; ``b""`` at the end."""
        ...


class BodyReader:
    """Where a call runs: asks the server for the next bytes of its request's body."""

    def ask(self) -> concurrent.futures.Future[bytes]:
        """The next bytes of the body (``b""`` at its end), when they come; the future
        fails with the :class:`~owt.core.errors.OwtError` that ended the body early (its
        client left, or it went over the server's limit)."""
        raise NotImplementedError


class Chunks:
    """A body's chunks as they arrive, for ``for`` (blocking) and ``async for`` alike."""

    __slots__ = ("_first", "_reader")

    def __init__(self, reader: BodyReader | None, first: bytes = b"") -> None:
        self._reader = reader
        self._first = first

    def __iter__(self) -> Chunks:
        return self

    def __next__(self) -> bytes:
        chunk = self._pending()
        if chunk is None:
            assert self._reader is not None
            chunk = self._reader.ask().result()
        return self._given(chunk, StopIteration)

    def __aiter__(self) -> Chunks:
        return self

    async def __anext__(self) -> bytes:
        chunk = self._pending()
        if chunk is None:
            assert self._reader is not None
            chunk = await asyncio.wrap_future(self._reader.ask())
        return self._given(chunk, StopAsyncIteration)

    def _pending(self) -> bytes | None:
        """The whole body given at the start, once; b"" once nothing more will come; None
        when the reader must be asked."""
        first, self._first = self._first, b""
        if first:
            return first
        return b"" if self._reader is None else None

    def _given(self, chunk: bytes, end: type[Exception]) -> bytes:
        if not chunk:
            self._reader = None
            raise end
        return chunk


class StreamedRequest(Request):
    """A request whose body is still arriving when its call starts (see the module).

    ``data`` reads the rest of the body whole; ``stream()`` yields it chunk by chunk, once.
    """

    _reader: BodyReader | None = None  # where the call runs
    _streaming = False  # stream() has begun: the bytes are its alone
    #: On the server: what reads the body from the client (never sent anywhere).
    source: Any = None  # an owt.server.body.BodySource

    @property
    def data(self) -> bytes:
        whole: bytes | None = self.__dict__.get("_whole")
        if whole is None:
            if self._streaming:
                raise RuntimeError(
                    "the body was read with request.stream(), so request.data no longer "
                    "has it: keep the chunks the stream gave"
                )
            whole = self.__dict__["_whole"] = b"".join(self._open())
        return whole

    @data.setter
    def data(self, value: bytes) -> None:
        self.__dict__["data"] = b""  # what crosses with the request: a reader fetches the body
        if value:
            self.__dict__["_whole"] = value

    def stream(self) -> Chunks:
        whole = self.__dict__.get("_whole")
        if whole is not None:
            return Chunks(None, whole)
        if self._streaming:
            raise RuntimeError(
                "request.stream() gives the body once: keep the chunks it gave the first time"
            )
        self._streaming = True
        return self._open()

    def _open(self) -> Chunks:
        if self._reader is None:
            raise RuntimeError("this request's body cannot be read here")
        return Chunks(self._reader)

    def attach(self, reader: BodyReader) -> None:
        """Where the call runs: the body comes through ``reader``."""
        self._reader = reader

    def __repr__(self) -> str:
        return f"StreamedRequest(method={self.method!r}, path={self.path!r}, body streamed)"
