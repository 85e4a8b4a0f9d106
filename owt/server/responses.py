"""The JSON responses of owt's own routes (``/_owt/...``), as RFC 8259 JSON.

Starlette's ``JSONResponse`` refuses NaN and infinities with an exception (a 500 page that
is not even JSON); an OpenAPI default of ``1e999`` or a registered endpoint's ``NaN``
argument must not break ``/_owt/openapi.json`` or ``/_owt/endpoints``. They are written as
``null``, as everywhere else owt writes JSON (:mod:`owt.core.jsontext`).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse as _StarletteJSONResponse
from starlette.responses import Response

from owt.core.errors import OwtError
from owt.core.jsontext import dump_bytes

__all__ = ["JSONResponse", "error_response"]


def error_response(err: OwtError) -> Response:
    """An owt error as the Starlette response of an ``/_owt`` route (what ``err.reply()`` is
    on the call path)."""
    return Response(err.body(), err.status, headers=dict(err.headers()))


class JSONResponse(_StarletteJSONResponse):
    """Starlette's ``JSONResponse``, writing non-finite floats as ``null``."""

    def render(self, content: Any) -> bytes:
        return dump_bytes(content)
