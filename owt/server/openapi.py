"""``GET /_owt/openapi.json``: an OpenAPI 3.1 document of the call contract and every endpoint.

The generic call (SPEC §2) is described once, at ``/`` and ``/{path}``. Each mounted or
registered endpoint gets ``/NAME`` with a query parameter (GET) and a JSON/form property (POST)
per argument of its function, typed from its hints. The hints are read from the source with
``ast`` (:func:`owt.core.hints.hint_from_source`): describing an endpoint never runs its code,
and the document is built off the event loop.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from owt.core.errors import OwtError
from owt.core.hints import describe, hint_from_default, hint_from_source, json_schema

if TYPE_CHECKING:
    from owt.config import Settings
    from owt.server.app import State
    from owt.server.endpoints import Endpoint

__all__ = ["Parameter", "build_document", "openapi_route", "parameters_of"]

_REQUEST_NAMES = ("request", "_")
_ERROR_KINDS = sorted({cls.kind for cls in OwtError.__subclasses__()})
_ERROR = {"$ref": "#/components/responses/Error"}
_ERROR_STATUSES = ("400", "401", "403", "404", "413", "422", "424", "500", "502", "503", "504")


@dataclass(frozen=True)
class Parameter:
    """One argument of an endpoint's function, as its source declares it."""

    name: str
    schema: dict[str, Any]
    description: str
    required: bool
    default: Any = None


@functools.lru_cache(maxsize=256)
def parameters_of(code: str, fn_name: str) -> tuple[tuple[Parameter, ...], Any] | None:
    """The parameters and return hint of ``fn_name`` in ``code``, or None when it has no
    plain top-level ``def`` of that name (an expression adaptor: a pipe, a lambda)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    found = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == fn_name:
            found = node  # the last definition wins, as it does when the module runs
    if found is None:
        return None
    args = found.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += args.defaults
    pairs = list(zip(positional, defaults, strict=True))
    if pairs and pairs[0][0].arg in _REQUEST_NAMES:
        pairs = pairs[1:]  # the request, passed positionally, is no parameter of the call
    pairs = [p for p in pairs if p[0] not in args.posonlyargs]
    pairs += list(zip(args.kwonlyargs, args.kw_defaults, strict=True))
    params = []
    for arg, default in pairs:
        params.append(_parameter(arg, default))
    returns = hint_from_source(found.returns) if found.returns is not None else Any
    return tuple(params), returns


def _parameter(arg: ast.arg, default: ast.expr | None) -> Parameter:
    """One parameter: its hint, or the type of its default when it has none (``n=1``)."""
    value: Any = None
    known = False
    if default is not None:
        try:
            value, known = ast.literal_eval(default), True
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    if arg.annotation is not None:
        hint = hint_from_source(arg.annotation)
    else:
        hint = hint_from_default(value) if known else Any
    schema = json_schema(hint)
    if known and isinstance(value, tuple):
        value = list(value)
    if known and (isinstance(value, (str, int, float, bool, list, dict)) or value is None):
        schema.setdefault("default", value)
    return Parameter(arg.arg, schema, describe(hint), default is None, value)


def openapi_route(state: State) -> Route:
    async def openapi(_: StarletteRequest) -> Response:
        endpoints = state.endpoints.snapshot()
        document = await anyio.to_thread.run_sync(build_document, state.settings, endpoints)
        return JSONResponse(document)

    return Route("/_owt/openapi.json", openapi, methods=["GET"])


def build_document(settings: Settings, endpoints: list[Endpoint]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for a server with these settings and endpoints."""
    from owt import __version__

    paths: dict[str, Any] = {"/": _generic("root"), "/{path}": _generic("path")}
    paths["/{path}"]["parameters"] = [
        {
            "name": "path",
            "in": "path",
            "required": True,
            "description": "Any path (it may hold slashes); the adaptor reads it.",
            "schema": {"type": "string"},
        }
    ]
    for endpoint in endpoints:
        paths[f"/{endpoint.name}"] = _endpoint_item(endpoint)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "owt",
            "version": __version__,
            "description": (
                "One HTTP server whose behaviour each request defines: send a Python adaptor "
                "(code_b64) and its arguments to any path, or call a mounted or registered "
                "endpoint at /NAME with plain parameters."
            ),
        },
        "paths": paths,
        "components": _components(),
    }
    if settings.protected:
        schemes = document["components"]["securitySchemes"] = {}
        if settings.auth:
            schemes["basic"] = {"type": "http", "scheme": "basic"}
        if settings.token:
            schemes["bearer"] = {"type": "http", "scheme": "bearer"}
        document["security"] = [{name: []} for name in schemes]
    return document


# -- the generic call ------------------------------------------------------------------------

_CALL_FIELDS: dict[str, tuple[dict[str, Any], str]] = {
    "code_b64": ({"type": "string"}, "Base64 (standard or URL-safe) of UTF-8 Python source."),
    "kwargs_b64": ({"type": "string"}, "Base64 of the arguments: JSON or a Python literal."),
    "kwargs": ({"type": "object"}, "The arguments as a JSON object."),
    "fn_name": ({"type": "string", "default": "run"}, "Which function in the code to call."),
    "use_cache": ({"type": "boolean", "default": False}, "Cache the response."),
    "cache_kwargs": ({"type": "boolean", "default": False}, "Include arguments in the key."),
    "cache_key_override": ({"type": "string"}, "Use this string as the cache key."),
    "code_sha256": (
        {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
        "Run code the server already holds, by its sha256.",
    ),
    "env": ({"type": "string", "default": "main"}, "Which Python environment runs it."),
    "requirements": (
        {"type": "array", "items": {"type": "string"}},
        "pip requirement strings the code needs.",
    ),
    "timeout": ({"type": "number", "exclusiveMinimum": 0}, "Seconds before a 504."),
    "rebuild": (
        {"type": "boolean", "default": False},
        "Build the requirements' environment again after a failed build.",
    ),
    "num_cpus": ({"type": "number", "minimum": 0}, "CPUs the call's Ray actor holds."),
    "num_gpus": ({"type": "number", "minimum": 0}, "GPUs the call's Ray actor holds."),
    "memory": ({"type": "integer", "minimum": 0}, "Bytes of memory the Ray actor holds."),
    "accelerator_type": ({"type": "string"}, "Ray accelerator type, like A100."),
    "resources": (
        {"type": "object", "additionalProperties": {"type": "number"}},
        "Custom Ray resources the call's actor holds.",
    ),
}


def _generic(where: str) -> dict[str, Any]:
    query = []
    for name, (schema, text) in _CALL_FIELDS.items():
        param: dict[str, Any] = {"name": name, "in": "query", "description": text}
        if schema.get("type") == "object":
            param["content"] = {"application/json": {"schema": schema}}
        else:
            param["schema"] = schema
        query.append(param)
    return {
        "get": {
            "operationId": f"call_{where}_get",
            "summary": "Run an adaptor (fields in the query string)",
            "parameters": query,
            "responses": _responses(),
        },
        "post": {
            "operationId": f"call_{where}_post",
            "summary": "Run an adaptor (fields in a JSON body)",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Call"}}},
            },
            "responses": _responses(),
        },
    }


def _components() -> dict[str, Any]:
    return {
        "schemas": {
            "Call": {
                "type": "object",
                "description": "A call's fields (SPEC §2); other fields are left for the adaptor.",
                "properties": {name: dict(schema) for name, (schema, _) in _CALL_FIELDS.items()},
                "additionalProperties": True,
            },
            "Error": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {
                    "error": {"type": "string", "enum": _ERROR_KINDS},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                    "traceback": {"type": "string"},
                },
                "additionalProperties": True,
            },
        },
        "responses": {
            "Error": {
                "description": "An owt error: {error, message, ...}",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        },
    }


def _responses(ok: dict[str, Any] | None = None) -> dict[str, Any]:
    success = ok or {
        "description": "The adaptor's result: text, JSON, bytes or a stream.",
        "content": {"*/*": {"schema": {}}},
    }
    return {"200": success, **{status: _ERROR for status in _ERROR_STATUSES}}


# -- endpoints -------------------------------------------------------------------------------


def _endpoint_item(endpoint: Endpoint) -> dict[str, Any]:
    signature = parameters_of(endpoint.code, endpoint.fn_name)
    where = f"file {endpoint.file}" if endpoint.file is not None else "registered"
    summary = f"The {endpoint.kind} endpoint {endpoint.name!r} ({where})"
    description = (
        f"Runs {endpoint.fn_name}() with plain parameters converted by its type hints. "
        f"Paths below /{endpoint.name}/ reach it too."
    )
    if signature is None:
        params: tuple[Parameter, ...] = ()
        returns: Any = Any
        description += " Its parameters are not declared: any are passed on."
    else:
        params, returns = signature
    query = []
    for p in params:
        entry: dict[str, Any] = {
            "name": p.name,
            "in": "query",
            "required": p.required and p.name not in endpoint.kwargs,
            "description": p.description,
        }
        if p.schema.get("type") == "object":
            entry["content"] = {"application/json": {"schema": p.schema}}
        else:
            entry["schema"] = p.schema
        query.append(entry)
    body: dict[str, Any] = {
        "type": "object",
        "properties": {p.name: p.schema for p in params},
        "additionalProperties": signature is None,
    }
    required = [p.name for p in params if p.required and p.name not in endpoint.kwargs]
    if required:
        body["required"] = required
    ok = _result(returns)
    return {
        "summary": summary,
        "description": description,
        "get": {
            "operationId": f"endpoint_{endpoint.name}_get",
            "parameters": query,
            "responses": _responses(ok),
        },
        "post": {
            "operationId": f"endpoint_{endpoint.name}_post",
            "requestBody": {
                "content": {
                    "application/json": {"schema": body},
                    "application/x-www-form-urlencoded": {"schema": body},
                }
            },
            "responses": _responses(ok),
        },
    }


def _result(hint: Any) -> dict[str, Any] | None:
    """The 200 response a return hint promises (SPEC §4), or None for "any"."""
    if hint in (str, int, float, bool):
        media = "text/plain"
    elif hint is bytes:
        media = "application/octet-stream"
    elif json_schema(hint).get("type") in ("object", "array"):
        media = "application/json"
    else:
        return None
    schema = {"type": "string"} if media == "text/plain" else json_schema(hint)
    if media == "application/octet-stream":
        schema = {"type": "string", "contentMediaType": "application/octet-stream"}
    return {"description": "The function's result.", "content": {media: {"schema": schema}}}
