"""Turning whatever an adaptor returned into a ``Reply`` (SPEC §4). Stdlib only.

| result                         | reply                                                  |
|--------------------------------|--------------------------------------------------------|
| str                            | text/plain, or text/html when it opens like a page     |
| bytes                          | application/octet-stream                               |
| int, float, bool               | its text                                               |
| dict, list, dataclass, ...     | application/json                                       |
| a list of numbers, numpy array | application/x-npy when the caller accepts it, else JSON |
| None                           | empty body                                             |
| iterator / async iterator      | streamed; its content type from the first chunk        |
| (body, status[, headers])      | the body as above with that status and headers         |
| Response(body, status, headers)| exactly that                                           |
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from owt.core.arrays import NPY, accepts_npy, npy_bytes
from owt.core.call import Reply, Response

__all__ = [
    "PLAIN_RESULTS",
    "TEXT",
    "encode_chunk",
    "encode_json",
    "is_stream",
    "parts_of",
    "reply_for_body",
    "stream_content_type",
]

TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
JSON = "application/json"
BINARY = "application/octet-stream"
NDJSON = "application/x-ndjson"


def _default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        return tolist()
    raise TypeError(f"a result of type {type(value).__name__} is not JSON serialisable")


def encode_json(value: Any) -> bytes:
    return json.dumps(value, default=_default, ensure_ascii=False).encode()


def _text_type(text: str) -> str:
    head = text[:15].lstrip().lower()
    return HTML if head.startswith(("<!doctype", "<html")) else TEXT


def is_stream(value: Any) -> bool:
    """True for iterators and async iterators that should be streamed (not lists or strings)."""
    if isinstance(value, (str, bytes, bytearray, memoryview, dict, list, tuple)):
        return False
    return hasattr(value, "__anext__") or hasattr(value, "__next__")


def encode_chunk(item: Any) -> bytes:
    """One streamed item as bytes: text as UTF-8, bytes as is, anything else as a JSON line."""
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode()
    if isinstance(item, (bytearray, memoryview)):
        return bytes(item)
    if item is None:
        return b""
    return encode_json(item) + b"\n"


def stream_content_type(first: Any) -> str:
    if isinstance(first, str):
        return _text_type(first)
    if isinstance(first, (bytes, bytearray, memoryview)) or first is None:
        return BINARY if first is not None else TEXT
    return NDJSON


#: Result types that are a whole body as they are: no status, headers or stream to unpack.
PLAIN_RESULTS = frozenset({str, bytes, int, float, bool, type(None)})


def reply_for_body(
    body: Any,
    status: int = 200,
    headers: list[tuple[str, str]] | None = None,
    accept: str = "",
) -> Reply:
    """A finished (non-streamed) body as a Reply; ``headers`` win over the inferred type.

    An array (a list of numbers, nested equal lists, a numpy array) is a ``.npy`` file when
    ``accept`` asks for ``application/x-npy`` (:mod:`owt.core.arrays`), else JSON.
    """
    if accept and accepts_npy(accept):
        data = npy_bytes(body)
        if data is not None:
            return Reply(status, _with_type(headers or [], NPY), data)
    if body is None:
        payload, ctype = b"", None
    elif isinstance(body, str):
        payload, ctype = body.encode(), _text_type(body)
    elif isinstance(body, (bytes, bytearray, memoryview)):
        payload, ctype = bytes(body), BINARY
    elif isinstance(body, (bool, int, float)):
        payload, ctype = str(body).encode(), TEXT
    else:
        payload, ctype = encode_json(body), JSON
    return Reply(status, _with_type(headers or [], ctype), payload)


def _with_type(headers: list[tuple[str, str]], ctype: str | None) -> list[tuple[str, str]]:
    if not headers:
        return [("content-type", ctype)] if ctype else []
    if ctype is None or any(name.lower() == "content-type" for name, _ in headers):
        return headers
    return [("content-type", ctype), *headers]


def _header_list(headers: Any) -> list[tuple[str, str]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(k), str(v)) for k, v in items]


def _is_headers(value: Any) -> bool:
    if isinstance(value, Mapping):
        return True
    return isinstance(value, list) and all(
        isinstance(p, (tuple, list)) and len(p) == 2 for p in value
    )


def parts_of(result: Any) -> tuple[Any, int, list[tuple[str, str]]]:
    """Split a result into (body, status, headers): unpacks ``Response`` and status tuples."""
    if isinstance(result, Response):
        return result.body, int(result.status), _header_list(result.headers)
    if isinstance(result, tuple):
        if len(result) == 2 and isinstance(result[1], int) and not isinstance(result[1], bool):
            return result[0], result[1], []
        if len(result) == 2 and _is_headers(result[1]):
            return result[0], 200, _header_list(result[1])
        if (
            len(result) == 3
            and isinstance(result[1], int)
            and not isinstance(result[1], bool)
            and _is_headers(result[2])
        ):
            return result[0], result[1], _header_list(result[2])
    return result, 200, []


def stream_reply(
    stream: Iterator[bytes] | AsyncIterator[bytes],
    first: Any,
    status: int,
    headers: list[tuple[str, str]],
) -> Reply:
    """A streamed Reply whose first chunk has already been produced."""
    return Reply(
        status, _with_type(headers, stream_content_type(first)), encode_chunk(first), stream
    )
