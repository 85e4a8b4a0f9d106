"""Writes of one event-loop turn sent together (a socket's, a pipe's). Stdlib only."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["BatchedWrites"]


class BatchedWrites:
    """A transport that sends what one step of the event loop wrote as one ``write()``.

    uvicorn writes a response's head and its body separately, each straight to the socket;
    batching them halves the system calls of a small reply. The server's pipe to a worker
    process carries the frames of the calls one loop turn sends the same way (one write, one
    wake-up of the worker). Pending bytes go out at the loop's next turn, or at once past
    ``FLUSH_BYTES`` or on close, so nothing is delayed behind the next request.
    """

    FLUSH_BYTES = 64 * 1024

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)
        self._size += len(data)
        if self._size > self.FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._size = 0
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._size + self._transport.get_write_buffer_size()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def __getattr__(self, name: str) -> Any:  # get_extra_info, set_protocol, ...
        return getattr(self._transport, name)
