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

The clocks cost a request nothing but a timestamp: one sweep per event loop, a few times per
``--header-timeout``, looks at the open connections (a timer per request was about a tenth
of a warm call's cost), so a head is cut between 1 and 1.25 times the timeout after it began.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from http import HTTPStatus
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from owt.core.errors import BadRequest, HeadersTooLarge, HeaderTimeout, OwtError

__all__ = ["CYCLE", "BoundedHttpToolsProtocol", "client_gone"]

#: The scope key of a weak reference to the request's uvicorn cycle (whose ``disconnected``
#: says the client left).
CYCLE = "owt.cycle"


def client_gone(scope: dict[str, Any]) -> bool:
    """True once the request's client has closed its connection (served by owt's protocol)."""
    ref = scope.get(CYCLE)
    cycle = ref() if ref is not None else None
    return cycle is not None and bool(cycle.disconnected)


log = logging.getLogger(__name__)

NOT_HTTP = (
    "the request is not valid HTTP/1.1 (a malformed request line or header, or a body "
    "longer than its Content-Length)"
)


def _close_unless_continued(cycle: Any) -> None:
    """An answer to ``Expect: 100-continue`` sent before the body was asked for ends the
    connection: the client (curl, for a body over 1 MiB) then never sends that body, and
    keeping the connection would read its next request as the unsent body's bytes."""
    send = cycle.send

    async def send_then_close(message: Any) -> None:
        if message["type"] == "http.response.start" and cycle.waiting_for_100_continue:
            cycle.keep_alive = False  # uvicorn says "connection: close" and closes after
        await send(message)

    cycle.send = send_then_close  # read by the app's task, which has not started yet


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head (size and time)."""

    max_header_bytes = 32 * 1024
    header_timeout = 10.0

    _since = 0.0  # loop time this connection opened, or its current head began
    _in_head = False
    _head_bytes = 0  # raw bytes received while reading this head
    _chunk = 0  # bytes of the last read
    _refusal: OwtError | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._since = self.loop.time()
        _Sweep.of(self.loop, self.header_timeout).watch(self)

    def data_received(self, data: bytes) -> None:
        if self.parser is None:  # refused above; the transport is closing
            return
        self._chunk = len(data)
        super().data_received(data)
        if self._in_head and self.parser is not None and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes - len(self.url) > self.max_header_bytes:
                self._refuse(self._too_large())

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._since = self.loop.time()

    def on_headers_complete(self) -> None:
        self._in_head = False
        version = self.parser.get_http_version()
        if version not in ("1.1", "1.0"):  # HTTP/2.0 as text is no HTTP/2 (that is binary)
            self._refusal = BadRequest(
                f"the request line says HTTP/{version}: owt speaks HTTP/1.1 (a client "
                "that speaks HTTP/2 must fall back to HTTP/1.1 for it)"
            )
            raise ValueError("not HTTP/1")  # uvicorn answers: see send_400_response
        # Whole header lines are counted only when this head could be over the bound: the
        # reads of an unfinished head are bounded in data_received, so only its last read
        # (and a head that came in one read) can still hold too much.
        if self._head_bytes + self._chunk - len(self.url) > self.max_header_bytes:
            size = sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > self.max_header_bytes:
                self._refusal = self._too_large()
                raise ValueError("request headers too large")  # uvicorn answers: see below
        super().on_headers_complete()
        if self.cycle is not None:  # the app can tell whether its answer could still arrive
            # A weak reference: the cycle holds the scope, and a scope holding the cycle would
            # make every request garbage that only the collector frees.
            cast(dict[str, Any], self.scope)[CYCLE] = weakref.ref(self.cycle)
            if self.cycle.waiting_for_100_continue:
                _close_unless_continued(self.cycle)

    def _unsupported_upgrade_warning(self) -> None:
        # owt serves no WebSockets (uvicorn runs with ws="none"): an Upgrade request was
        # answered as plain HTTP, which is all there is to say (not uvicorn's advice to
        # install a WebSocket library).
        self.logger.debug("an Upgrade request, answered as plain HTTP: owt serves no WebSockets")

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to any parser error, including one a callback above raised: JSON
        # as every answer of owt's, not uvicorn's plain text.
        self._refuse(self._refusal or BadRequest(NOT_HTTP))

    # -- the clock and refusals ----------------------------------------------------------------

    def overdue(self, now: float) -> None:
        """Called by the sweep: act on a head or a silence that has lasted too long."""
        if self.transport.is_closing() or now - self._since < self.header_timeout:
            return
        if self._in_head:
            self._refuse(
                HeaderTimeout(
                    f"the request headers did not arrive within {self.header_timeout:g}s "
                    "(--header-timeout)"
                )
            )
        elif self.cycle is None:  # connected, yet not one byte in all that time
            self.transport.close()

    def _too_large(self) -> HeadersTooLarge:
        return HeadersTooLarge(
            f"the request headers are over the limit of {self.max_header_bytes} bytes "
            "(--max-header-bytes)"
        )

    def _refuse(self, err: OwtError) -> None:
        """Answer ``err`` and close: the rest of this connection cannot be trusted."""
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


class _Sweep:
    """One timer per event loop that looks at every open connection's clock."""

    _sweeps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sweep] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, every: float) -> None:
        self.loop = loop
        self.every = every
        self.connections: weakref.WeakSet[BoundedHttpToolsProtocol] = weakref.WeakSet()
        self.timer: asyncio.TimerHandle | None = None

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop, timeout: float) -> _Sweep:
        sweep = cls._sweeps.get(loop)
        if sweep is None:
            sweep = cls._sweeps[loop] = cls(loop, timeout / 4)
        sweep.every = min(sweep.every, timeout / 4)  # two servers on one loop: the tighter
        return sweep

    def watch(self, connection: BoundedHttpToolsProtocol) -> None:
        self.connections.add(connection)
        if self.timer is None:
            self.timer = self.loop.call_later(self.every, self.sweep)

    def sweep(self) -> None:
        self.timer = None
        now = self.loop.time()
        for connection in list(self.connections):
            if connection.transport.is_closing():
                self.connections.discard(connection)
            else:
                connection.overdue(now)
        if self.connections:  # open ones remain: look again; a new one restarts the timer
            self.timer = self.loop.call_later(self.every, self.sweep)
