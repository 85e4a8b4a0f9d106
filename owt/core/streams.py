"""A result's chunks, pulled one at a time with the call's context. Stdlib only.

A sync iterator is pulled through the executor's ``offload`` (never on the event loop) and
closed in a thread of its own, after any ``next`` still running; an async iterator is pulled
and closed on the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

from owt.core.call import Call
from owt.core.context import using_call
from owt.core.errors import OwtError
from owt.core.failures import SYNC_USER_ERRORS, USER_ERRORS, adaptor_error, raised_by_adaptor
from owt.core.results import encode_item

__all__ = ["AsyncStream", "Offload", "SyncStream"]

T = TypeVar("T")
Offload = Callable[[Callable[[], T]], Awaitable[T]]


class SyncStream(Iterator[Any]):
    """A sync iterator run with the call's context; closed at most once, never mid-``next``."""

    def __init__(self, call: Call, iterator: Any) -> None:
        self.call = call
        self.iterator = iter(iterator)
        self._lock = threading.Lock()
        self._closed = False

    def pull(self) -> Any:
        with self._lock, using_call(self.call):
            if self._closed:
                raise StopIteration
            try:
                return next(self.iterator)
            except StopIteration:
                raise
            except OwtError:
                raise
            except SYNC_USER_ERRORS as exc:  # on a thread: even a CancelledError is its own
                raise adaptor_error(exc)

    def __next__(self) -> bytes:
        return encode_item(self.pull())

    def close(self) -> None:
        """Close the iterator (its ``finally`` runs) once any ``next`` in flight returns."""
        with self._lock, using_call(self.call):
            if self._closed:
                return
            self._closed = True
            close = getattr(self.iterator, "close", None)
            if close is not None:
                try:
                    close()
                except SYNC_USER_ERRORS:
                    pass

    def asynchronous(self, offload: Offload[Any]) -> AsyncIterator[bytes]:
        return _AsyncOfSync(self, offload)


class _AsyncOfSync(AsyncIterator[bytes]):
    """Iterates a SyncStream off the loop; ``aclose`` closes it in a background thread."""

    def __init__(self, stream: SyncStream, offload: Offload[Any]) -> None:
        self.stream = stream
        self.offload = offload
        self.finished = False

    async def __anext__(self) -> bytes:
        chunk = await self.offload(self._next)
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    def _next(self) -> bytes | None:
        try:
            return next(self.stream)
        except StopIteration:
            self.finished = True
            return None

    async def aclose(self) -> None:
        # No await here: a cancelled consumer must still get the generator closed, and the
        # close waits for a ``next`` that may still be running in another thread.
        if not self.finished:
            threading.Thread(target=self.stream.close, daemon=True).start()


class AsyncStream(AsyncIterator[bytes]):
    """An async iterator of user chunks, encoded, with the call's context."""

    def __init__(self, call: Call, iterator: Any) -> None:
        self.call = call
        self.iterator = iterator

    async def pull(self) -> Any:
        with using_call(self.call):
            try:
                return await self.iterator.__anext__()
            except (StopAsyncIteration, OwtError):
                raise
            except USER_ERRORS as exc:
                raise adaptor_error(exc)
            except (asyncio.CancelledError, GeneratorExit) as exc:
                if not raised_by_adaptor(exc):
                    raise  # the call is being cancelled
                raise adaptor_error(exc)

    async def __anext__(self) -> bytes:
        return encode_item(await self.pull())

    async def aclose(self) -> None:
        close = getattr(self.iterator, "aclose", None)
        if close is not None:
            with using_call(self.call):
                try:
                    await close()
                except USER_ERRORS:
                    pass
