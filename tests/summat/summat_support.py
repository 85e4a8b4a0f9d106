"""Helpers for the summat tests: requests to call pipes with, and a way to read bodies."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from owt.core.call import Request, Response


def make_request(
    path: str = "/",
    query: str = "",
    data: bytes | str = b"",
    content_type: str | None = None,
    method: str = "GET",
) -> Request:
    body = data.encode() if isinstance(data, str) else data
    headers = [("content-type", content_type)] if content_type else []
    return Request(method=method, path=path, query_string=query, header_pairs=headers, data=body)


def json_request(value: Any, path: str = "/") -> Request:
    return make_request(
        path, data=json.dumps(value), content_type="application/json", method="POST"
    )


def body_text(response: Response) -> str:
    """The whole body of a (possibly streaming, sync or async) response as text."""
    body = response.body
    if hasattr(body, "__aiter__"):

        async def collect() -> list[Any]:
            return [chunk async for chunk in body]

        chunks: list[Any] = asyncio.run(collect())
    elif isinstance(body, (str, bytes)):
        chunks = [body]
    else:
        chunks = list(body)
    return "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)
