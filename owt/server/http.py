"""ASGI plumbing: a request snapshot in, a Reply out (streamed, with disconnects noticed)."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from typing import Any

import anyio

from owt.core.call import FilePart, Reply, Request
from owt.core.errors import BadRequest, OwtError, TooLarge
from owt.server.multipart import is_multipart, parse_multipart

__all__ = ["read_request", "send_reply"]

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]


async def read_request(scope: Scope, receive: Any, max_body_bytes: int, path: str) -> Request:
    """Snapshot the request; a body over ``max_body_bytes`` is refused before it is read."""
    raw_headers = scope.get("headers", [])
    pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers]
    for name, value in pairs:
        if name == "content-length":
            try:
                declared = int(value)
            except ValueError:
                raise BadRequest("bad Content-Length header", field="content-length")
            if declared > max_body_bytes:
                raise TooLarge(f"the body is over the limit of {max_body_bytes} bytes")
    body = b""
    if scope.get("method") not in ("GET", "HEAD"):
        parts = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_body_bytes:
                raise TooLarge(f"the body is over the limit of {max_body_bytes} bytes")
            parts.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
    client = scope.get("client")
    form_pairs: list[tuple[str, str]] | None = None
    file_parts: list[FilePart] = []
    if body:
        content_type = next((v for n, v in pairs if n == "content-type"), "")
        if is_multipart(content_type):
            form_pairs, file_parts = parse_multipart(content_type, body)
            body = b""  # as in Flask: the parts are the body now (and cross to a worker once)
    return Request(
        method=scope.get("method", "GET"),
        path=path,
        query_string=scope.get("query_string", b"").decode("latin-1"),
        header_pairs=pairs,
        data=body,
        scheme=scope.get("scheme", "http"),
        remote_addr=client[0] if client else None,
        root_path=scope.get("root_path", ""),
        form_pairs=form_pairs,
        file_parts=file_parts,
    )


def _raw_headers(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers]


async def send_error(send: Any, err: OwtError) -> None:
    await send_reply(send, None, err.reply())


async def send_reply(
    send: Any, receive: Any, reply: Reply, chunk_timeout: float | None = None
) -> bool:
    """Send a Reply; for a stream, each chunk as it comes. False if the client went away."""
    headers = _raw_headers(reply.headers)
    if reply.stream is None:
        # A whole body goes with its length (no chunked framing); a stream is chunked.
        if b"content-length" not in dict(headers):
            headers.append((b"content-length", b"%d" % len(reply.body)))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})
        return True
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    stream = reply.stream
    assert isinstance(stream, AsyncIterator)
    completed = False
    try:
        async with anyio.create_task_group() as tg:

            async def watch_disconnect() -> None:
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        tg.cancel_scope.cancel()
                        return

            tg.start_soon(watch_disconnect)
            completed = await _pump(send, stream, reply.body, chunk_timeout)
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
    return completed


async def _pump(
    send: Any, stream: AsyncIterator[bytes], first: bytes, chunk_timeout: float | None
) -> bool:
    try:
        if first:
            await send({"type": "http.response.body", "body": first, "more_body": True})
        while True:
            with anyio.fail_after(chunk_timeout if chunk_timeout else math.inf):
                try:
                    chunk = await stream.__anext__()
                except StopAsyncIteration:
                    break
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except TimeoutError:
        log.warning("stream ended: no chunk within %ss", chunk_timeout)
        await send({"type": "http.response.body", "body": b""})
        return False
    except OwtError as err:
        log.warning("stream ended by an error after it started: %s", err.message)
        await send({"type": "http.response.body", "body": b""})
        return False
    except OSError:  # the client went away while we were sending
        return False
    await send({"type": "http.response.body", "body": b""})
    return True
