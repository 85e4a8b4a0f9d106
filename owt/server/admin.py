"""owt's own routes under ``/_owt``: health, status, the cache, and the routes each part adds
(endpoints, environments, OpenAPI, metrics, the playground). Unknown ones are a JSON 404."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Match, Route

from owt.core.errors import MethodNotAllowed, NotFound, OwtError
from owt.server.endpoints import endpoint_routes
from owt.server.envs import env_routes
from owt.server.metrics import metrics_route
from owt.server.openapi import openapi_route
from owt.server.responses import JSONResponse, error_response
from owt.server.web import web_routes

if TYPE_CHECKING:
    from owt.server.app import OwtApp

__all__ = ["RESERVED", "admin_routes"]

RESERVED = "/_owt"


def admin_routes(app: OwtApp) -> list[Route]:
    async def health(_: StarletteRequest) -> Response:
        return PlainTextResponse("ok")

    def status_of() -> dict[str, Any]:
        state = app.state
        return {
            "version": _version(),
            "environments": {n: e.status() for n, e in state.environments.items()},
            "requirements": state.requirements.status() if state.requirements else None,
            "codes": len(state.codes),
            "cache": state.cache.stats(),
            "concurrency": state.limit.status(),
            "endpoints": state.endpoints.names(),
            "calls": app.metrics.summary(),  # the counts /_owt/metrics has, in brief
        }

    async def status(_: StarletteRequest) -> Response:
        shown = status_of()
        if app.settings.locked:  # what may be called there is the operator's to publish
            shown = _without_names(shown)
        return JSONResponse(shown)

    async def cache(request: StarletteRequest) -> Response:
        responses = app.state.cache
        if request.method == "DELETE":  # ?key=K forgets one entry, no key forgets all
            key = request.query_params.get("key")
            cleared = responses.clear() if key is None else responses.delete(key)
            return JSONResponse({"cleared": cleared})
        if app.settings.locked:  # a key holds a caller's arguments: not for other callers
            return JSONResponse(responses.stats())
        return JSONResponse({**responses.stats(), "keys": responses.listing()})

    routes = [
        Route(f"{RESERVED}/health", health),
        Route(f"{RESERVED}/status", status),
        Route(f"{RESERVED}/cache", cache, methods=["GET", "DELETE"]),
        *endpoint_routes(app.state),
        *env_routes(app.state),
        openapi_route(app.state),
        metrics_route(app.metrics, lambda: app.state),
        *web_routes(),
    ]
    # Last, for every method (an ASGI app as endpoint: no method list): what no route above
    # takes is a JSON 404, or a JSON 405 naming the methods of the route at that path.
    return [*routes, Route(RESERVED + "/{rest:path}", _Unrouted(routes))]


class _Unrouted:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        allowed: set[str] = set()
        for route in self.routes:
            methods = getattr(route, "methods", None)  # (a Mount has none)
            if methods and route.matches(scope)[0] is Match.PARTIAL:
                allowed |= methods
        path = scope["path"]
        if allowed:
            message = f"{scope['method']} is not a method of {path}"
            err: OwtError = MethodNotAllowed(message, allowed=sorted(allowed))
        else:
            err = NotFound(f"no owt route {path}")
        await error_response(err)(scope, receive, send)


def _without_names(value: Any) -> Any:
    """A status with function and endpoint names replaced by their counts."""
    if isinstance(value, dict):
        return {
            k: len(v)
            if k in ("functions", "endpoints") and isinstance(v, list)
            else _without_names(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_without_names(v) for v in value]
    return value


def _version() -> str:
    from owt import __version__

    return __version__
