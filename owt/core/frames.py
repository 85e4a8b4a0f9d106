"""Length-prefixed frames between the server and its worker processes. Stdlib only.

A frame is a 4-byte big-endian length and a pickle (protocol 5) of a tuple whose first item
names the message. The server sends ``Call`` values (plain dataclasses); a worker sends back
only builtins (str, bytes, int, list, dict), so a worker of any Python >= 3.10 can talk to
the server.

server → worker::

    ("call", Call)                  run this call (one at a time per worker)
    ("close",)                      the client went away: close the running stream

worker → server::

    ("ready", info)                 once, after start
    ("reply", status, headers, body, info)     a whole reply
    ("head", status, headers, body)            the first part of a streamed reply ...
    ("chunk", bytes)                           ... each further chunk as it is produced ...
    ("end", error_payload | None, info)        ... and its end (an error after it started)
    ("dying", message)              the worker is about to exit (it ran out of memory)

``info`` is None unless the worker's warm adaptors or kept objects changed since it last said.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import struct
from typing import Any

__all__ = ["HEADER", "pack", "read_frame", "write_frame"]

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


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next message; ``asyncio.IncompleteReadError`` when the other side has gone."""
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    return pickle.loads(await reader.readexactly(size))
