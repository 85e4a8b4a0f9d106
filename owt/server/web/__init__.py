"""The playground at ``/_owt/``: one static page shipped in the package, served by owt itself.

The page (``index.html``, ``playground.js``, ``snippets.js``, ``wav.js``, ``playground.css``
in this folder; no build step, nothing fetched from elsewhere) writes and runs adaptors,
shows answers as they arrive, copies a call as curl / JavaScript / Python / shell / Haskell,
offers a form per endpoint (from ``/_owt/openapi.json``) and shows ``/_owt/status``. The page
itself holds no secret, so its files are served without credentials (:data:`PUBLIC_PATHS`);
everything it fetches needs them, and on a ``--token``/``--auth`` server it asks for them once.

Requests with no code also land here: a browser at ``/`` is sent to the playground, and
``/favicon.ico`` gets owt's own icon unless a response is pinned there (SPEC §5).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.requests import Request as StarletteRequest
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from owt.core.call import Reply, Request
from owt.core.errors import MissingCode, NotFound
from owt.server.responses import error_response

__all__ = ["PAGE", "PUBLIC_PATHS", "no_code_reply", "web_routes"]

PAGE = "/_owt/"
ASSETS = {
    "playground.js": "text/javascript; charset=utf-8",
    "snippets.js": "text/javascript; charset=utf-8",
    "wav.js": "text/javascript; charset=utf-8",
    "playground.css": "text/css; charset=utf-8",
    "favicon.ico": "image/x-icon",
}
#: The page's own files: static, the same for everyone, reachable without credentials.
PUBLIC_PATHS = frozenset({PAGE, PAGE.rstrip("/"), *(f"{PAGE}web/{name}" for name in ASSETS)})
# The page's scripts come only from this server; frames it shows (HTML answers) are sandboxed;
# no page of another origin may show it in a frame of its own (clickjacking).
PAGE_HEADERS = {
    "cache-control": "no-cache",
    "content-security-policy": (
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: data:; "
        "frame-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'self'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "SAMEORIGIN",
}


@cache
def _asset(name: str) -> bytes:
    """A file of this folder, read once."""
    return resources.files(__name__).joinpath(name).read_bytes()


def web_routes() -> list[Route]:
    async def page(_: StarletteRequest) -> Response:
        return Response(_asset("index.html"), media_type="text/html", headers=PAGE_HEADERS)

    async def to_page(request: StarletteRequest) -> Response:
        # With its query: /_owt?token=T opens the page with the token, as /_owt/?token=T does.
        query = request.url.query
        return RedirectResponse(PAGE + (f"?{query}" if query else ""), status_code=307)

    async def file(request: StarletteRequest) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            err = NotFound(f"no owt route {request.url.path}")
            return error_response(err)
        headers = {"cache-control": "no-cache", "content-type": ASSETS[name]}
        return Response(_asset(name), headers=headers)

    return [
        Route(PAGE, page),
        Route(PAGE.rstrip("/"), to_page),
        Route(PAGE + "web/{name}", file),
    ]


def no_code_reply(request: Request, err: MissingCode) -> Reply:
    """A request that brought no code: the playground for a browser at ``/``, owt's icon at
    ``/favicon.ico``, else the ``missing_code`` error."""
    if request.method in ("GET", "HEAD"):
        if request.path == "/favicon.ico":
            headers = [("content-type", "image/x-icon"), ("cache-control", "max-age=86400")]
            return Reply(200, headers, _asset("favicon.ico"))
        if request.path == "/" and "text/html" in request.headers.get("accept", ""):
            return Reply(307, [("location", PAGE), ("content-type", "text/plain")], b"")
    return err.reply()
