"""Running the app on uvicorn: bind, print the ready line, serve, shut down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import math
import secrets
import signal
import socket
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn

from owt.config import Settings, SettingsError, is_loopback
from owt.core.errors import BadRequest
from owt.core.writes import BatchedWrites
from owt.executors.base import EnvironmentFailed
from owt.server.accesslog import configure_logging
from owt.server.app import OwtApp, create_app
from owt.server.connection import BoundedHttpToolsProtocol

__all__ = ["bind_socket", "run_server", "uvicorn_config"]

LOG_LEVELS = {0: logging.WARNING, 1: logging.INFO}
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Server(uvicorn.Server):
    """uvicorn's server, printing owt's ready line once it listens."""

    def __init__(self, config: uvicorn.Config, ready_line: str, grace: float = 10.0) -> None:
        super().__init__(config)
        self.ready_line = ready_line
        self.grace = grace

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # owt answers every call before uvicorn's own deadline (which would send a plain
        # 500): new and queued calls at once, running ones after the grace.
        app = self.config.app
        if isinstance(app, OwtApp):
            app.begin_shutdown(self.grace)
        await super().shutdown(sockets=sockets)
        if isinstance(app, OwtApp) and self.force_exit and app.calls:
            await asyncio.wait(list(app.calls), timeout=1)  # their 503s go out

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        app, loop = self.config.app, self._loop
        if self.force_exit and isinstance(app, OwtApp) and loop is not None:
            # A second Ctrl-C: uvicorn stops waiting for the running calls; owt answers
            # them now (JSON 503) rather than leave them to uvicorn's plain 500.
            loop.call_soon_threadsafe(app.begin_shutdown, 0)

    _loop: asyncio.AbstractEventLoop | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises the signal after a graceful shutdown; owt exits 0 instead, so
        # SIGINT and SIGTERM both mean "stop cleanly".
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets=sockets)
        if self.started:
            # What startup built (modules, the app, settings, executors) lives as long as
            # the server: frozen, the collector no longer walks it in every full collection,
            # which were the long pauses in the latency tail (bench/bench_tail.py).
            gc.collect()
            gc.freeze()
            print(self.ready_line, flush=True)


class _HttpToolsProtocol(BoundedHttpToolsProtocol):
    """uvicorn's httptools protocol with batched writes and without the 64 KiB URL limit
    (and a bounded head: :mod:`owt.server.connection`).

    ``httptools.parse_url`` refuses targets over 65535 bytes, so a longer one is split here
    instead (large adaptors travel in GET query strings); the whole target stays bounded by
    ``h11_max_incomplete_event_size``.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(BatchedWrites(transport, self.loop))  # type: ignore[arg-type]

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        limit = self.config.h11_max_incomplete_event_size
        if limit is not None and len(self.url) > limit:
            self._refusal = BadRequest(
                f"the request target (path and query) is over the limit of {limit} bytes "
                "(the larger of --max-body-bytes and 1 MiB): send the code in a POST body"
            )
            raise ValueError("request target too long")  # answered in send_400_response

    def on_headers_complete(self) -> None:
        if len(self.url) <= 65535:
            super().on_headers_complete()
            return
        path, _, query = self.url.partition(b"?")
        self.url = path
        super().on_headers_complete()  # builds the scope; the app task has not run yet
        self.scope["query_string"] = query


class _CutStreams(logging.Filter):
    """Drops uvicorn's lines for what owt logs itself: a response owt ended without its final
    chunk on purpose (a stream that failed after it started; owt logged the failure with its
    traceback), a request that is not HTTP (owt logs its JSON 400 with the client), the
    cancelled lifespan of a forced stop (a second Ctrl-C), and the traceback of an
    environment that could not start (its pool logged why, in one line)."""

    OWN = ("ASGI callable returned without completing response.", "Invalid HTTP request received.")

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        if text.startswith("Traceback"):
            last = text.rstrip().rsplit("\n", 1)[-1]
            if last.endswith(".CancelledError"):
                return False  # a second Ctrl-C cut the lifespan short (Starlette's report)
            if last.startswith(f"{EnvironmentFailed.__module__}.EnvironmentFailed: "):
                return False
        return text not in self.OWN


def bind_socket(address: str, port: int) -> socket.socket:
    """The listening socket; a :class:`SettingsError` saying why and what to do if it cannot be."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise SettingsError(_cannot_listen(address, port, exc)) from None
    sock.set_inheritable(False)  # worker processes must not hold the port after the server
    return sock


def _cannot_listen(address: str, port: int, exc: OSError) -> str:
    where = f"cannot listen on {address}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"{where}: the port is in use (another owt, or another server); stop that one, "
            "or pick another port: --port N (env OWT_PORT; --port 0 picks a free one)"
        )
    if exc.errno == errno.EACCES and 0 < port < 1024:
        return f"{where}: ports below 1024 need privileges; pick --port 1024 or above"
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, socket.gaierror):
        return (
            f"{where}: {address} is not an address of this machine ({exc.strerror}); "
            "--address takes one of its own, such as 127.0.0.1 or ::1"
        )
    return f"{where}: {exc.strerror or exc}"


def uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    level = LOG_LEVELS.get(settings.verbose, logging.DEBUG)
    protocol = type(
        "OwtHttpProtocol",
        (_HttpToolsProtocol,),
        {
            "max_header_bytes": settings.max_header_bytes,
            "header_timeout": settings.header_timeout,
        },
    )
    return uvicorn.Config(
        app,
        loop="auto",
        http=protocol,
        timeout_keep_alive=settings.keep_alive_timeout,  # type: ignore[arg-type]  # a float works
        lifespan="on",
        # owt serves no WebSockets: an Upgrade request is plain HTTP to it, through the
        # browser guard and auth like any other (uvicorn's WebSocket layer would log its
        # query, credentials and all, and bypass both).
        ws="none",
        log_level=level,
        log_config=None,  # uvicorn's lines go through owt's handler (configure_logging)
        access_log=False,  # owt writes its own access log (owt.server.accesslog)
        # Large adaptors travel in GET query strings: this bounds the request target.
        h11_max_incomplete_event_size=max(settings.max_body_bytes, 1024 * 1024),
        # after owt's own --graceful-timeout, by which every call has its answer
        timeout_graceful_shutdown=math.ceil(settings.graceful_timeout) + 5,
        server_header=False,
    )


def run_server(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM. ``settings.port`` 0 picks a free port (the ready line says)."""
    handler = configure_logging(settings, LOG_LEVELS.get(settings.verbose, logging.DEBUG))
    sock = bind_socket(settings.address, settings.port)
    settings.port = sock.getsockname()[1]
    ready = f"owt serving on {settings.url}"
    if "auto" in settings.token:  # as Jupyter does: a fresh token, and the URL that carries it
        token = secrets.token_urlsafe(24)
        settings.token = [token if t == "auto" else t for t in settings.token]
        # Printed before the ready line: whoever waits for that one has the token by then.
        local = settings.url.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:")
        ready = f"owt token {token}: open {local}/_owt/?token={token}\n{ready}"
    _warn_if_open(settings)
    app = create_app(settings)
    server = _Server(uvicorn_config(app, settings), ready, settings.graceful_timeout)
    logging.getLogger("uvicorn.error").addFilter(_CutStreams())
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        handler.flush()


def _warn_if_open(settings: Settings) -> None:
    """What ``--insecure`` let through, said once at start: the operator asked for it, but
    should not forget it."""
    if not settings.insecure:
        return
    log = logging.getLogger("owt.server")
    if not is_loopback(settings.address) and not settings.protected:
        log.warning(
            "--insecure: listening on %s without credentials: anyone who can reach it can "
            "run code as this user",
            settings.address,
        )
    if any(o.strip().lower() in ("*", "null") for o in settings.cors) and not settings.token:
        log.warning(
            "--insecure: --cors %s without --token: pages of every site its users visit can "
            "run code here",
            " ".join(settings.cors),
        )
