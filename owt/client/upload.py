"""An upload: a raw request body for the adaptor's ``request.stream()``, its call in the URL."""

from __future__ import annotations

import functools
import io
import os
import stat
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from owt.client.urls import MAX_QUERY, checked_query

__all__ = ["Upload"]


@dataclass(frozen=True)
class Upload:
    """A raw request body for the adaptor to read as it arrives (``request.stream()``) or
    whole (``request.data``): bytes, a file opened in binary mode or an iterator of bytes
    (for the async client: bytes or an async iterator of bytes)."""

    body: Any
    content_type: str = "application/octet-stream"

    @classmethod
    def of(cls, body: Any, content_type: str, *, asynchronous: bool = False) -> Upload:
        """The upload of ``body``; a body the client cannot send (a file opened in text
        mode, an iterator of ``str``) is a ``TypeError`` saying what to send instead."""
        if isinstance(body, (bytes, bytearray, memoryview, str)):
            return cls(body, content_type)
        if asynchronous:
            if not hasattr(body, "__aiter__"):
                raise TypeError(
                    f"the async client uploads bytes or an async iterator of bytes, not "
                    f"{type(body).__name__}: read a file into bytes, or wrap its reads in an "
                    "async generator"
                )
            return cls(_async_bytes(body), content_type)
        mode = getattr(body, "mode", None) if hasattr(body, "read") else None
        if isinstance(body, io.TextIOBase) or (isinstance(mode, str) and "b" not in mode):
            raise TypeError(
                f"an upload is bytes, and {getattr(body, 'name', 'this file')!r} is open in "
                "text mode (it reads str): open it with 'rb'"
            )
        if hasattr(body, "read"):
            return cls(body, content_type)
        if not hasattr(body, "__iter__"):
            raise TypeError(
                f"the client uploads bytes, a file opened with 'rb' or an iterator of bytes, "
                f"not {type(body).__name__}"
            )
        return cls(_bytes(iter(body)), content_type)

    @property
    def replayable(self) -> bool:
        """Whether it can be sent again (the client retries a call whose code the server
        no longer holds); a file or an iterator goes once, so its call sends the code."""
        return isinstance(self.body, (bytes, bytearray, memoryview))

    @staticmethod
    def refuse(files: Mapping[str, Any]) -> None:
        if files:
            raise TypeError(
                "binary arguments go as multipart parts, which an upload cannot hold: "
                "send the bytes as the upload, or as an argument, not both"
            )

    def apply(self, args: dict[str, Any], params: Mapping[str, Any]) -> None:
        """Make ``args`` (for ``httpx``) a POST of this body, its fields in the query."""
        too_long = functools.partial(_too_long, params.get("code_b64"))
        checked_query(args["url"], params, too_long, via="upload")
        args.update(method="POST", params=params, content=_content(self.body))
        args.setdefault("headers", {})["content-type"] = self.content_type


def _too_long(code: Any, length: int) -> str:
    """What to do when an upload's query is too long for a URL: the code, or the arguments."""
    limit = f"its query is {length} characters, and httpx sends at most {MAX_QUERY}"
    if isinstance(code, str) and len(code) > MAX_QUERY // 2:
        return (
            f"an upload's code travels in the URL, and this code ({len(code) * 3 // 4} "
            f"bytes) is too long for one ({limit}): register it as an endpoint once "
            "(client.register(NAME, code), or owt serve --mount NAME=FILE) and upload to it "
            "with client.endpoint(NAME).upload(...)"
        )
    return (
        f"an upload's arguments travel in the URL, and these are too long for one ({limit}): "
        "send large values in the upload itself, or as a call without one"
    )


def _refused(chunk: object) -> TypeError:
    return TypeError(
        f"an upload's iterator gives bytes, and this one gave {type(chunk).__name__}: encode "
        "its text (chunk.encode()), or read the file with 'rb'"
    )


def _bytes(chunks: Iterator[Any]) -> Iterator[bytes]:
    for chunk in chunks:
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise _refused(chunk)
        yield bytes(chunk)


async def _async_bytes(chunks: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise _refused(chunk)
        yield bytes(chunk)


def _content(body: Any) -> Any:
    """What ``httpx`` sends as the body: bytes as bytes, and a file that is no regular file
    (a pipe, stdin) read in chunks, of no declared length (its size would read 0)."""
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    fileno = getattr(body, "fileno", None)
    if fileno is not None and hasattr(body, "read"):
        try:
            regular = stat.S_ISREG(os.fstat(fileno()).st_mode)
        except (OSError, ValueError):  # no descriptor (an in-memory file): httpx sizes it
            regular = True
        if not regular:
            return iter(functools.partial(body.read, 1024 * 1024), b"")
    return body
