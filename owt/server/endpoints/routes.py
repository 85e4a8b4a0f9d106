"""``/_owt/endpoints``: list, show, register (``PUT``) and remove (``DELETE``) endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio.to_thread
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response
from starlette.routing import Route

from owt.core.errors import BadRequest, Locked, OwtError, TooLarge, UnknownCode, UnknownEnv
from owt.executors.requirements import check_requirements
from owt.server.http import read_request
from owt.server.protocol import decode_text, read_fields, sha256_field
from owt.server.responses import JSONResponse, error_response

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from owt.server.app import State
    from owt.server.endpoints.endpoint import Endpoint

__all__ = ["answering", "check_where_it_runs", "endpoint_routes"]


def endpoint_routes(state: State) -> list[Route]:
    """``GET /_owt/endpoints``, and ``GET``/``PUT``/``DELETE /_owt/endpoints/NAME``."""
    settings = state.settings
    shown = not settings.locked  # a locked server's code and files are its own to publish

    async def listing(_: StarletteRequest) -> Response:
        found = [e.describe(file=shown) for e in state.endpoints.snapshot()]
        return JSONResponse({"endpoints": found})

    async def show(request: StarletteRequest) -> Response:
        endpoint = state.endpoints.require(request.path_params["name"])
        return JSONResponse(endpoint.describe(code=shown, file=shown))

    async def put(request: StarletteRequest) -> Response:
        if settings.locked and not settings.allow_register:
            raise Locked("this server is locked: registering endpoints needs --allow-register")
        snapshot = await read_request(
            dict(request.scope), request.receive, settings.max_body_bytes, request.url.path
        )
        fields = read_fields(snapshot)
        state.endpoints.guard_fields(fields)  # --locked: no cache keys outside its own path
        if fields.get("code_b64") not in (None, ""):
            code = decode_text(fields["code_b64"], "code_b64")
        elif isinstance(fields.get("code"), str) and fields["code"].strip():
            code = fields["code"]
        elif fields.get("code_sha256") not in (None, ""):
            sha = sha256_field(fields["code_sha256"])
            known = state.codes.get(sha)
            if known is None:
                raise UnknownCode(f"no code with sha256 {sha}; send code_b64", code_sha256=sha)
            code = known
        else:
            raise BadRequest("send the endpoint's code as code_b64 (or code_sha256)", field="code")
        if len(code) > settings.max_code_bytes:
            limit = settings.max_code_bytes
            raise TooLarge(f"the code is over the limit of {limit} bytes (--max-code-bytes)")
        name = request.path_params["name"]
        endpoint = await anyio.to_thread.run_sync(state.endpoints.prepare, name, code, fields)
        check_where_it_runs(state, endpoint)
        created = await state.endpoints.add(endpoint)
        return JSONResponse(endpoint.describe(), 201 if created else 200)

    async def delete(request: StarletteRequest) -> Response:
        if settings.locked and not settings.allow_register:
            raise Locked("this server is locked: removing endpoints needs --allow-register")
        endpoint = await state.endpoints.remove(request.path_params["name"])
        return JSONResponse(endpoint.describe())

    base = "/_owt/endpoints"
    return [
        Route(base, answering(listing), methods=["GET"]),
        Route(base + "/{name}", answering(show), methods=["GET"]),
        Route(base + "/{name}", answering(put), methods=["PUT"]),
        Route(base + "/{name}", answering(delete), methods=["DELETE"]),
    ]


def check_where_it_runs(state: State, endpoint: Endpoint) -> None:
    """Refuse an endpoint now that each of its calls would be refused: an unknown ``env``,
    ``requirements`` that are not what pip reads or that this server does not build."""
    if "requirements" in endpoint.options:
        refusal = getattr(state.requirements, "refusal", None)
        check_requirements(endpoint.options["requirements"], endpoint.env, refusal)
        return
    envs = sorted(state.environments)
    if endpoint.env not in envs:
        raise UnknownEnv(
            f"no environment named {endpoint.env!r} (this server has: {', '.join(envs)})",
            known=envs,
        )


def answering(
    handler: Callable[[StarletteRequest], Awaitable[Response]],
) -> Callable[[StarletteRequest], Awaitable[Response]]:
    """The handler, with owt's errors answered as their JSON (``{"error": KIND, ...}``)."""

    async def route(request: StarletteRequest) -> Response:
        try:
            return await handler(request)
        except OwtError as err:
            return error_response(err)

    return route
