"""Bounded connections: a request head has a size and a time limit, an idle connection an end.

uvicorn's httptools protocol keeps reading a request head for as long as the client sends it:
one endless header line, or 10,000 headers, grows a buffer per connection without bound, and
a client sending one byte a second (slowloris), or nothing at all, holds its connection open
for ever. :class:`BoundedHttpToolsProtocol` adds the standard answers:

- 431 ``headers_too_large`` once the header lines of a request pass ``--max-header-bytes``
  (the request target is bounded separately: large adaptors travel in GET query strings);
  counted on the raw bytes as they arrive, so memory stays within the bound plus one read.
- 408 ``header_timeout`` when a request's head is not complete ``--header-timeout`` seconds
  after its first byte; a connection that sends nothing at all in that time is closed
  without an answer (there is no request to answer).
- ``--keep-alive-timeout``: uvicorn's own timer closes a connection idle between requests.

Each refusal is one JSON error (``owt.core.errors``) and ``Connection: close``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from http import HTTPStatus

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from owt.core.errors import HeadersTooLarge, HeaderTimeout, OwtError

__all__ = ["BoundedHttpToolsProtocol"]

log = logging.getLogger(__name__)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head (size and time)."""

    max_header_bytes = 32 * 1024
    header_timeout = 10.0

    _head_timer: asyncio.TimerHandle | None = None
    _in_head = False
    _head_bytes = 0  # raw bytes received while reading this head
    _header_bytes = 0  # bytes of complete header lines
    _refusal: OwtError | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self._idle_timeout)  # a connection that never says anything

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.parser is None:  # refused above; the transport is closing
            return
        if not self._in_head:
            self._disarm()  # the idle timer: something arrived
        super().data_received(data)
        if self._in_head and self.parser is not None and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes - len(self.url) > self.max_header_bytes:
                self._refuse(self._too_large())

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = self._header_bytes = 0
        self._arm(self._head_timeout)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self.max_header_bytes:
            self._refusal = self._too_large()
            raise ValueError("request headers too large")  # uvicorn answers: see below
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to any parser error, including one a callback above raised.
        if self._refusal is not None:
            self._refuse(self._refusal)
        else:
            super().send_400_response(msg)

    # -- timers and refusals -----------------------------------------------------------------

    def _arm(self, callback: Callable[[], None]) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout, callback)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _idle_timeout(self) -> None:
        self._head_timer = None
        if not self._in_head and not self.transport.is_closing():
            self.transport.close()

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self._refuse(
                HeaderTimeout(
                    f"the request headers did not arrive within {self.header_timeout:g}s "
                    "(--header-timeout)"
                )
            )

    def _too_large(self) -> HeadersTooLarge:
        return HeadersTooLarge(
            f"the request headers are over the limit of {self.max_header_bytes} bytes "
            "(--max-header-bytes)"
        )

    def _refuse(self, err: OwtError) -> None:
        """Answer ``err`` and close: the rest of this connection cannot be trusted."""
        self._disarm()
        self._in_head = False
        client = self.client or ("?", 0)
        log.warning("%d from %s: %s", err.status, client[0], err.message)
        body = err.body()
        head = [f"HTTP/1.1 {err.status} {HTTPStatus(err.status).phrase}"]
        head += [f"{k}: {v}" for k, v in err.headers()]
        head += [f"content-length: {len(body)}", "connection: close"]
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        self.transport.close()
        self.parser = None  # type: ignore[assignment]
