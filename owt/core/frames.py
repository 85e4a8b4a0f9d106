"""Length-prefixed frames between the server and its worker processes. Stdlib only.

A frame is a 4-byte big-endian length and a pickle (protocol 5) of a tuple whose first item
names the message. The server sends ``Call`` values (plain dataclasses); a worker sends back
only builtins (str, bytes, int, list, dict), so a worker of any Python >= 3.10 can talk to
the server.

server → worker::

    ("call", id, Call)              run this call (several run at once, each under its id)
    ("pull", id)                    one more batch of this stream (a few go ahead unasked)
    ("close", id)                   its caller went away: cancel it, close its stream
    ("body", id, data, error)       the next bytes of its request's body, as asked (b"" at
                                    the end; ``error`` the payload of what ended it early)

worker → server::

    ("ready", info)                 once, after start
    ("head", id, status, headers, body, streamed, info)   a reply, or the head of a stream
    ("items", id, [item, ...], info)   the chunks of a stream ready together; the last item
                                    None (the end) or an error payload ends it
    ("want", id)                    the call reads its streamed body: send the next bytes
    ("dying", message[, id, file])  the worker is about to exit: it ran out of memory, or
                                    the call ``id`` of the code ``file`` called ``os._exit``
                                    (calls of other code beside it may run again elsewhere)

``info`` is None unless the worker's warm adaptors or kept objects changed since it last said.
A call is over for the server once its head says ``streamed`` False, or its items end.

The server reads a worker's frames with :func:`loads_plain`, which refuses anything but plain
values: a worker runs adaptors, and a frame that named a class or function to call (an
adaptor writing to the pipe) must not run code in the server.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from collections.abc import Callable
from typing import Any

__all__ = [
    "HEADER",
    "MID_FRAME_STALL",
    "MIN_FRAME_RATE",
    "FrameBuffer",
    "loads_plain",
    "pack",
    "write_frame",
]

HEADER = struct.Struct("!I")
PICKLE_PROTOCOL = 5

#: A worker writes each frame whole, at the pipe's speed. Its output pausing inside a frame
#: for this many seconds, or a frame still arriving after them at under ``MIN_FRAME_RATE``
#: bytes a second, is a frame that will not end (its length forged by code writing to the
#: pipe, perhaps fed a byte at a time).
MID_FRAME_STALL = 5.0
MIN_FRAME_RATE = 1024 * 1024


def pack(message: tuple[Any, ...]) -> bytes:
    """One frame: the length of the pickled message, then the message."""
    data = pickle.dumps(message, PICKLE_PROTOCOL)
    return HEADER.pack(len(data)) + data


def write_frame(fd: int, message: tuple[Any, ...]) -> None:
    """Write a whole frame to a blocking file descriptor."""
    view = memoryview(pack(message))
    while view:
        written = os.write(fd, view)
        view = view[written:]


class _PlainOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(
            f"a worker's frame may hold only plain values (str, bytes, numbers, lists, dicts), "
            f"not {module}.{name}"
        )


class _View:
    """A file over a buffer, for a large frame (io.BytesIO would copy it first)."""

    __slots__ = ("pos", "view")

    def __init__(self, view: memoryview) -> None:
        self.view = view
        self.pos = 0

    def read(self, size: int = -1) -> bytes:
        start = self.pos
        self.pos = len(self.view) if size < 0 else min(start + size, len(self.view))
        return bytes(self.view[start : self.pos])

    def readinto(self, into: Any) -> int:
        chunk = self.view[self.pos : self.pos + len(into)]
        into[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)

    def readline(self) -> bytes:
        start = self.pos
        end = bytes(self.view[start:]).find(b"\n")
        self.pos = len(self.view) if end < 0 else start + end + 1
        return bytes(self.view[start : self.pos])


def loads_plain(data: bytes | memoryview) -> Any:
    """A pickle of plain values only; ``pickle.UnpicklingError`` for anything that would
    import or call something."""
    view = memoryview(data)
    source = io.BytesIO(view) if len(view) <= 65536 else _View(view)
    return _PlainOnly(source).load()


class FrameBuffer:
    """Whole frames out of a byte stream that arrives in pieces of any size: under load one
    read holds several frames, and each is decoded without another read or await.
    ``loads`` decodes a frame: the server reads a worker's with :func:`loads_plain`."""

    def __init__(self, loads: Callable[[memoryview], Any] = pickle.loads) -> None:
        self._buffer = bytearray()
        self._loads = loads
        self._since = 0.0  # when the frame arriving now began to

    @property
    def partial(self) -> bool:
        """Whether the bytes so far end inside a frame (its rest is still to come)."""
        return bool(self._buffer)

    def keep_pace(self, now: float) -> None:
        """Raise ValueError for a frame that will not end: still arriving
        :data:`MID_FRAME_STALL` seconds after it began, at under :data:`MIN_FRAME_RATE`."""
        seconds, arrived = now - self._since, len(self._buffer)
        if arrived and seconds > MID_FRAME_STALL and arrived < MIN_FRAME_RATE * seconds:
            raise ValueError(
                f"a frame has crawled in for {seconds:.0f}s ({arrived} bytes so far): a "
                "frame's length that is not its length"
            )

    def feed(self, data: bytes | memoryview, now: float = 0.0) -> list[Any]:
        """The messages of every frame that ``data`` completes, in order (``now``: when
        ``data`` came, for :meth:`keep_pace`)."""
        buffer = self._buffer
        if not buffer:
            self._since = now
        buffer += data
        messages = []
        start = 0
        while len(buffer) - start >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer, start)
            end = start + HEADER.size + size
            if end > len(buffer):
                break
            with memoryview(buffer) as view:
                messages.append(self._loads(view[start + HEADER.size : end]))
            start = end
            self._since = now  # the next frame begins in this piece
        del buffer[:start]
        return messages
