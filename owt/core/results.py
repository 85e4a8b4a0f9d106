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
| a tuple subclass (namedtuple)  | a value: JSON, like a list                             |
| Response(body, status, headers)| exactly that                                           |
"""

from __future__ import annotations

import base64
import dataclasses
import inspect
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from owt.core.arrays import NPY, accepts_npy, is_ndarray, npy_bytes
from owt.core.call import Reply, Response
from owt.core.errors import AdaptorError
from owt.core.failures import adaptor_error
from owt.core.jsontext import dump_bytes
from owt.core.scalars import short_repr

__all__ = [
    "MAX_HEADER_BYTES",
    "PLAIN_RESULTS",
    "TEXT",
    "check_head",
    "encode_chunk",
    "encode_item",
    "encode_json",
    "is_stream",
    "not_json",
    "parts_of",
    "reply_for_body",
    "stream_content_type",
    "stream_reply",
    "unencodable",
]

TEXT = "text/plain; charset=utf-8"
#: The most header bytes an adaptor may answer with: Node (the JS client) reads a head of up
#: to 16 KiB (httpx and curl 100 KiB, browsers 256 KiB), owt's own headers and the status
#: line included; an answer it cannot read is none.
MAX_HEADER_BYTES = 15 * 1024
HTML = "text/html; charset=utf-8"
JSON = "application/json"
BINARY = "application/octet-stream"
NDJSON = "application/x-ndjson"


def _default(value: Any) -> Any:
    if isinstance(value, Response):
        raise not_json(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # Field by field, as the encoder goes (asdict's deep copy would try to pickle a
        # generator in a field, and say so instead of what is wrong).
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        return tolist()
    raise not_json(value)


def not_json(value: Any) -> TypeError:
    """Why ``value``, inside a result or as an item of a stream, cannot be sent as JSON, in
    terms of what the adaptor gave: a stream in a stream, a coroutine, a Response."""
    kind = type(value).__name__
    if isinstance(value, Response):
        return TypeError(
            "a Response is only ever the whole result, not an item of a stream or part of a "
            "value: return it as the result (in a pipe, end the pipe itself with sse() or "
            "json_out(), not a pipe given to each())"
        )
    if inspect.isawaitable(value):
        return TypeError(
            f"a {kind} (what an async def returns) cannot be sent: nothing awaits it inside "
            "a value or as an item of a stream; await it in an async def, or make its "
            "function a def"
        )
    if is_stream(value):
        return TypeError(
            f"a {kind} is itself a stream: only the whole result streams, item by item, so "
            "a stream inside it (as an item, or in a value) cannot be sent; flatten it "
            "(yield from it) or collect its items with list(...)"
        )
    shown = short_repr(value)
    return TypeError(f"a {kind} is not JSON-able: {shown} (send text, numbers, lists, dicts)")


def encode_json(value: Any) -> bytes:
    """RFC 8259 JSON (NaN and infinities as ``null``, see :mod:`owt.core.jsontext`)."""
    return dump_bytes(value, default=_default)


# Indentation, blank lines or a BOM before the doctype do not make a page plain text.
_PAGE = re.compile(r"[\s\ufeff]*<(?:!doctype|html)", re.IGNORECASE)


def _text_type(text: str) -> str:
    return HTML if _PAGE.match(text) else TEXT


def is_stream(value: Any) -> bool:
    """True for iterators and async iterators that should be streamed (not lists or strings)."""
    if isinstance(value, (str, bytes, bytearray, memoryview, dict, list, tuple)):
        return False
    return hasattr(value, "__anext__") or hasattr(value, "__next__")


def encode_chunk(item: Any) -> bytes:
    """One streamed item as bytes: text as UTF-8, bytes as is, anything else as a JSON line."""
    if type(item) is bytes:
        return item
    if isinstance(item, (bytes, bytearray, memoryview)):  # a subclass (numpy.bytes_) too
        return bytes(item)
    if isinstance(item, str):
        return item.encode()
    if item is None:
        return b""
    return encode_json(item) + b"\n"


def encode_item(item: Any) -> bytes:
    """:func:`encode_chunk` for an item an adaptor streamed: one that cannot be encoded is
    the adaptor's error (500 ``adaptor_error``), not owt's."""
    try:
        return encode_chunk(item)
    except Exception as exc:  # not JSON-able, circular, a lone surrogate, an int too long...
        raise unencodable(exc, "a streamed item") from None


def unencodable(exc: Exception, what: str = "the result") -> Exception:
    """The adaptor's error for a value owt cannot turn into bytes, saying what it was."""
    err = adaptor_error(exc)
    err.message = f"{what} cannot be sent: {err.message}"
    if isinstance(exc, UnicodeEncodeError):
        err.message += (
            " (text with a lone surrogate, as bytes decoded with errors='surrogateescape' give, "
            "is not UTF-8: return the bytes themselves, or decode them with errors='replace')"
        )
    return err


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
    An array's answer depends on ``accept``, so it says so (``Vary: Accept``): an HTTP cache
    between owt and its callers keeps the JSON and the ``.npy`` answers apart.
    """
    if isinstance(body, (list, tuple)) or is_ndarray(body):
        headers = _varies(headers)
    if accept and accepts_npy(accept):
        data = npy_bytes(body)
        if data is not None:
            return Reply(status, _with_type(headers or [], NPY), data)
    try:
        payload, ctype = _payload(body)
    except Exception as exc:  # not JSON-able, circular, a lone surrogate, an int too long...
        raise unencodable(exc) from None
    if payload and status in _NO_BODY:
        raise _bad_head(f"the status {status} carries no body; return None with it", status=status)
    if headers:
        _check_length(headers, len(payload))
    return Reply(status, _with_type(headers or [], ctype), payload)


def _varies(headers: list[tuple[str, str]] | None) -> list[tuple[str, str]]:
    """``headers`` with ``Vary: Accept`` (unless the adaptor set a Vary of its own)."""
    if headers and any(name.lower() == "vary" for name, _ in headers):
        return headers
    return [*(headers or ()), ("vary", "accept")]


def _payload(body: Any) -> tuple[bytes, str | None]:
    if body is None:
        return b"", None
    if isinstance(body, str):
        return body.encode(), _text_type(body)
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body), BINARY
    if isinstance(body, (bool, int, float)):
        return str(body).encode(), TEXT
    return encode_json(body), JSON


def _check_length(headers: list[tuple[str, str]], size: int) -> None:
    for name, value in headers:
        if name.lower() == "content-length" and value.strip() != str(size):
            raise _bad_head(
                f"the header 'Content-Length: {value}' does not match the body's {size} bytes; "
                "remove it (owt sets it)",
                header=name,
            )


def _with_type(headers: list[tuple[str, str]], ctype: str | None) -> list[tuple[str, str]]:
    if not headers:
        return [("content-type", ctype)] if ctype else []
    if ctype is None or any(name.lower() == "content-type" for name, _ in headers):
        return headers
    return [("content-type", ctype), *headers]


# RFC 9110: a field name is a token; a value holds no control character but tab.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_NO_BODY = frozenset({204, 304})
#: Headers that frame the body or the connection: owt's to set, never an adaptor's.
_FRAMING = frozenset({"transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer"})


def check_head(status: Any, headers: list[tuple[str, str]], *, streamed: bool = False) -> int:
    """The status an adaptor chose, as an int, once it and its headers are valid HTTP.

    A bad one is the adaptor's error (500 ``adaptor_error`` naming it), answered before
    anything is sent — never a dropped connection, never a header injected by a line break.
    """
    try:
        status = int(status)  # an exact int, also from an HTTPStatus or a numpy integer
    except (TypeError, ValueError):
        raise _bad_head(f"the status {status!r} is not a number", status=repr(status))
    if not 200 <= status <= 599:
        raise _bad_head(f"the status {status} is not a final HTTP status (200-599)", status=status)
    if streamed and status in _NO_BODY:
        raise _bad_head(
            f"the status {status} carries no body, but a stream was returned", status=status
        )
    size = sum(len(name) + len(value) + 4 for name, value in headers)
    if size > MAX_HEADER_BYTES:
        raise _bad_head(
            f"the headers take {size} bytes, over the {MAX_HEADER_BYTES} that HTTP clients "
            "read; send less in headers (put large values in the body)",
            size=size,
        )
    for name, value in headers:
        if not _TOKEN.match(name):
            raise _bad_head(f"the header name {name!r} is not a valid HTTP field name", header=name)
        if _CONTROL.search(value):
            raise _bad_head(
                f"the header {name!r} holds a line break or control character in its value "
                f"{value[:80]!r} (it could inject other headers); remove it or percent-encode "
                "the value",
                header=name,
            )
        if not value.isascii() and not _latin1(value):
            raise _bad_head(
                f"the header {name!r} holds characters HTTP cannot carry in {value[:80]!r}; "
                "percent-encode the value (urllib.parse.quote)",
                header=name,
            )
        lower = name.lower()
        if lower in _FRAMING or (lower == "content-length" and streamed):
            raise _bad_head(
                f"the header {name!r} is owt's to set (it frames the body); remove it",
                header=name,
            )
    return status


def _latin1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _bad_head(message: str, **extra: Any) -> AdaptorError:
    return AdaptorError(f"the adaptor's response is not valid HTTP: {message}", **extra)


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
    """Split a result into (body, status, headers): unpacks ``Response`` and status tuples.

    Only a plain ``tuple`` is ``(body, status[, headers])``: a tuple of its own type (a
    namedtuple, ``owt.summat``'s data tuple from ``fork``) is a value, sent as a JSON array.

    The status and headers are checked here, before anything is sent (see :func:`check_head`).
    """
    if isinstance(result, Response):
        parts = (result.body, result.status, _header_list(result.headers))
    elif type(result) is not tuple:  # a namedtuple or a pipe's data tuple is a value
        return result, 200, []
    elif len(result) == 2 and _is_status(result[1]):
        parts = (result[0], result[1], [])
    elif len(result) == 2 and _is_headers(result[1]):
        parts = (result[0], 200, _header_list(result[1]))
    elif len(result) == 3 and _is_status(result[1]) and _is_headers(result[2]):
        parts = (result[0], result[1], _header_list(result[2]))
    else:
        return result, 200, []
    body, status, headers = parts
    return body, check_head(status, headers, streamed=is_stream(body)), headers


def _is_status(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def stream_reply(
    stream: Iterator[bytes] | AsyncIterator[bytes],
    first: Any,
    status: int,
    headers: list[tuple[str, str]],
) -> Reply:
    """A streamed Reply whose first chunk has already been produced."""
    return Reply(
        status, _with_type(headers, stream_content_type(first)), encode_item(first), stream
    )
