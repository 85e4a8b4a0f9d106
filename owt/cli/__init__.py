"""The ``owt`` command: ``owt serve`` and the client commands ``call``, ``encode``, ``url``,
``codegen``."""

from owt.cli.serve import main, serve_main

__all__ = ["main", "serve_main"]
