"""An upload: a raw request body for the adaptor's ``request.stream()``, its call in the URL."""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from owt.client.errors import OwtError

__all__ = ["MAX_QUERY", "Upload"]

#: The longest query ``httpx`` sends (its limit on one component of a URL).
MAX_QUERY = 65536


@dataclass(frozen=True)
class Upload:
    """A raw request body for the adaptor to read as it arrives (``request.stream()``) or
    whole (``request.data``): bytes, a file opened in binary mode or an iterator of bytes
    (for the async client: bytes or an async iterator of bytes)."""

    body: Any
    content_type: str = "application/octet-stream"

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
        if len(urlencode(params)) > MAX_QUERY:
            message = _too_long(params.get("code_b64"))
            raise OwtError(0, {"error": "too_long_for_url", "message": message})
        args.update(method="POST", params=params, content=_content(self.body))
        args.setdefault("headers", {})["content-type"] = self.content_type


def _too_long(code: Any) -> str:
    """What to do when an upload's query is too long for a URL: the code, or the arguments."""
    limit = f"httpx sends at most {MAX_QUERY} characters of query"
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
