"""Running the app on uvicorn: bind, print the ready line, serve, shut down cleanly."""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any

import uvicorn

from owt.app import create_app
from owt.config import Settings

__all__ = ["run_server"]

LOG_LEVELS = {0: logging.WARNING, 1: logging.INFO}


class _Server(uvicorn.Server):
    """uvicorn's server, printing owt's ready line once it listens."""

    def __init__(self, config: uvicorn.Config, ready_line: str) -> None:
        super().__init__(config)
        self.ready_line = ready_line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(self.ready_line, flush=True)


def bind_socket(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address.strip("[]"), port))
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    level = LOG_LEVELS.get(settings.verbose, logging.DEBUG)
    return uvicorn.Config(
        app,
        loop="auto",
        http="httptools",
        lifespan="on",
        log_level=level,
        access_log=settings.verbose >= 2,
        # Large adaptors travel in GET query strings; h11 would cap them at 16 KiB.
        h11_max_incomplete_event_size=max(settings.max_body_bytes, 1024 * 1024),
        timeout_graceful_shutdown=5,
        server_header=False,
    )


def run_server(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM. ``settings.port`` 0 picks a free port (the ready line says)."""
    logging.basicConfig(
        level=LOG_LEVELS.get(settings.verbose, logging.DEBUG),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    sock = bind_socket(settings.address, settings.port)
    settings.port = sock.getsockname()[1]
    app = create_app(settings)
    server = _Server(uvicorn_config(app, settings), f"owt serving on {settings.url}")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
