"""The JSON responses of owt's own routes (``/_owt/...``), as RFC 8259 JSON.

Starlette's ``JSONResponse`` refuses NaN and infinities with an exception (a 500 page that
is not even JSON); an OpenAPI default of ``1e999`` or a registered endpoint's ``NaN``
argument must not break ``/_owt/openapi.json`` or ``/_owt/endpoints``. They are written as
``null``, as everywhere else owt writes JSON (:mod:`owt.core.jsontext`).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse as _StarletteJSONResponse

from owt.core.jsontext import dumps

__all__ = ["JSONResponse"]


class JSONResponse(_StarletteJSONResponse):
    """Starlette's ``JSONResponse``, writing non-finite floats as ``null``."""

    def render(self, content: Any) -> bytes:
        return dumps(content).encode()
