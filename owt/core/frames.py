"""Length-prefixed frames between the server and its worker processes. Stdlib only.

A frame is a 4-byte big-endian length and a pickle (protocol 5) of a tuple whose first item
names the message. The server sends ``Call`` values (plain dataclasses); a worker sends back
only builtins (str, bytes, int, list, dict), so a worker of any Python >= 3.10 can talk to
the server.

server → worker::

    ("call", id, Call)              run this call (several run at once, each under its id)
    ("pull", id)                    one more batch of this stream (a few go ahead unasked)
    ("close", id)                   its caller went away: cancel it, close its stream

worker → server::

    ("ready", info)                 once, after start
    ("head", id, status, headers, body, streamed, info)   a reply, or the head of a stream
    ("items", id, [item, ...], info)   the chunks of a stream ready together; the last item
                                    None (the end) or an error payload ends it
    ("dying", message)              the worker is about to exit (it ran out of memory)

``info`` is None unless the worker's warm adaptors or kept objects changed since it last said.
A call is over for the server once its head says ``streamed`` False, or its items end.
"""

from __future__ import annotations

import os
import pickle
import struct
from typing import Any

__all__ = ["HEADER", "FrameBuffer", "pack", "write_frame"]

HEADER = struct.Struct("!I")
PICKLE_PROTOCOL = 5


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


class FrameBuffer:
    """Whole frames out of a byte stream that arrives in pieces of any size: under load one
    read holds several frames, and each is decoded without another read or await."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes | memoryview) -> list[Any]:
        """The messages of every frame that ``data`` completes, in order."""
        buffer = self._buffer
        buffer += data
        messages = []
        start = 0
        while len(buffer) - start >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer, start)
            end = start + HEADER.size + size
            if end > len(buffer):
                break
            with memoryview(buffer) as view:
                messages.append(pickle.loads(view[start + HEADER.size : end]))
            start = end
        del buffer[:start]
        return messages
