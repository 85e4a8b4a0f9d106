"""owt's own routes under ``/_owt``: health, status, the cache, and the routes each part adds
(endpoints, environments, OpenAPI, metrics, the playground). Unknown ones are a JSON 404."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from owt.core.errors import NotFound
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
        return JSONResponse({**responses.stats(), "keys": responses.listing()})

    async def not_found(request: StarletteRequest) -> Response:
        err = NotFound(f"no owt route {request.url.path}")
        return error_response(err)

    return [
        Route(f"{RESERVED}/health", health),
        Route(f"{RESERVED}/status", status),
        Route(f"{RESERVED}/cache", cache, methods=["GET", "DELETE"]),
        *endpoint_routes(app.state),
        *env_routes(app.state),
        openapi_route(app.state),
        metrics_route(app.metrics, lambda: app.state),
        *web_routes(),
        Route(RESERVED + "/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE"]),
    ]


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
