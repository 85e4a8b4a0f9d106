"""Starting owt: ``serve(**options)``, ``python -m owt.server``, and ``Server.sing()``.

Importing this module is light (no starlette, no uvicorn): adaptors in bare virtualenvs use
``Server.sing()`` to learn where the server that runs them listens.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

__all__ = ["Server", "serve"]


@dataclass(frozen=True)
class Server:
    """Where an owt server listens.

    ``Server.sing()`` during a call is the server running it::

        def run():
            me = Server.sing()
            return f"served by {me.url}"
    """

    address: str = "127.0.0.1"
    port: int = 9876

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}"

    @classmethod
    def sing(cls) -> Server:
        """The server running the current call; outside a call, the ``OWT_*`` settings."""
        from owt.core.context import current_call

        call = current_call()
        if call is not None and call.server:
            return cls(str(call.server["address"]), int(call.server["port"]))
        return cls(
            os.environ.get("OWT_ADDRESS", "127.0.0.1"), int(os.environ.get("OWT_PORT", "9876"))
        )


def serve(**options: Any) -> None:
    """Run an owt server until interrupted; takes the options of ``owt serve``.

    >>> import owt
    >>> owt.serve(port=9877, timeout=30)  # doctest: +SKIP
    """
    from owt.config import Settings
    from owt.server.serving import run_server

    settings = Settings.from_options(**options)
    settings.check()
    run_server(settings)
