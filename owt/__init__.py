"""owt — serve owt yer fancy on t'fly.

One HTTP server whose behaviour each request defines: a client sends a small Python adaptor
and its arguments; owt compiles it once, runs it where asked and returns or streams the result.

Importing ``owt`` pulls in no third-party package: the names below load on first use, so an
adaptor in a bare virtualenv can still write ``from owt import pipe, keep, request``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Request",
    "Response",
    "Server",
    "batch",
    "keep",
    "lib",
    "pipe",
    "request",
    "serve",
    "sse",
]

_LAZY = {
    "Request": "owt.core.call:Request",
    "Response": "owt.core.call:Response",
    "Server": "owt.server:Server",
    "batch": "owt.core.batching:batch",
    "keep": "owt.core.keep:keep",
    "lib": "owt.lib:",
    "pipe": "owt.summat:pipe",
    "request": "owt.core.context:request",
    "serve": "owt.server:serve",
    "sse": "owt.lib.stream:sse",
}

if TYPE_CHECKING:
    from owt import lib
    from owt.core.batching import batch
    from owt.core.call import Request, Response
    from owt.core.context import request
    from owt.core.keep import keep
    from owt.lib.stream import sse
    from owt.server import Server, serve
    from owt.summat import pipe


def __getattr__(name: str) -> Any:
    try:
        module_name, _, attr = _LAZY[name].partition(":")
    except KeyError:
        raise AttributeError(f"module 'owt' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = getattr(module, attr) if attr else module
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
