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
from starlette.responses import Response
from starlette.routing import Route

from owt.core.arrays import NPY
from owt.core.batching import item_hint
from owt.core.errors import OwtError
from owt.core.hints import (
    hint_from_default,
    hint_from_source,
    json_schema,
    records_in,
    refers_to,
    stream_item,
)
from owt.server.endpoints.table import CALLER_FIELDS
from owt.server.openapi_call import call_component, call_fields, generic_item
from owt.server.openapi_forms import (
    Parameter,
    declared,
    literal,
    query_parameters,
    request_body,
)
from owt.server.openapi_pipes import pipe_parameters
from owt.server.responses import JSONResponse

if TYPE_CHECKING:
    from owt.config import Settings
    from owt.server.app import State
    from owt.server.endpoints import Endpoint

__all__ = ["Parameter", "Signature", "build_document", "openapi_route", "parameters_of"]

_REQUEST_NAMES = ("request", "_")
_ERROR_KINDS = sorted({cls.kind for cls in OwtError.__subclasses__()} | {"http_error"})
_ERROR = {"$ref": "#/components/responses/Error"}
_ERROR_STATUSES = ("400", "401", "403", "404", "413", "422", "424", "500", "502", "503", "504")


@dataclass(frozen=True)
class Signature:
    """What a function's source declares: its parameters, its return hint, and whether it
    also takes parameters it does not name (``**kwargs``, or the request that reads them).
    A pipe's parameters are the arguments its ``kwarg``/``kwargs`` steps read."""

    params: tuple[Parameter, ...]
    returns: Any
    open: bool
    pipe: bool = False


@functools.lru_cache(maxsize=256)
def parameters_of(code: str, fn_name: str) -> Signature | None:
    """The signature of ``fn_name`` in ``code`` (a top-level ``def``), of the lambda that is
    the whole code, or of the pipe that is (:mod:`owt.server.openapi_pipes`); None when
    the code declares no parameters of it."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    found: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | None = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == fn_name:
            found = node  # the last definition wins, as it does when the module runs
    if found is None and len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
        found = tree.body[0].value if isinstance(tree.body[0].value, ast.Lambda) else None
    if found is None:  # a pipe (the arguments its steps read), or unknown parameters
        piped = pipe_parameters(tree, fn_name)
        return None if piped is None else Signature(piped, Any, True, pipe=True)
    args = found.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += args.defaults
    pairs = list(zip(positional, defaults, strict=True))
    takes_request = bool(pairs) and pairs[0][0].arg in _REQUEST_NAMES
    if takes_request:
        pairs = pairs[1:]  # the request, passed positionally, is no parameter of the call
    pairs += list(zip(args.kwonlyargs, args.kw_defaults, strict=True))
    records = records_in(tree)  # dataclasses and TypedDicts the hints may name
    # @batch: a function of the list of items, called with ONE item, answering its own result
    decorators = [] if isinstance(found, ast.Lambda) else found.decorator_list
    batched = any(refers_to(d, "batch") for d in decorators) and len(pairs) == 1
    params = tuple(_parameter(arg, default, records, batched) for arg, default in pairs)
    hint = None if isinstance(found, ast.Lambda) else found.returns
    returns = hint_from_source(hint, records) if hint is not None else Any
    if batched:
        returns = item_hint(returns, Any)
    return Signature(params, returns, takes_request or args.kwarg is not None)


def _parameter(
    arg: ast.arg, default: ast.expr | None, records: dict[str, Any], item: bool = False
) -> Parameter:
    """One parameter: its hint, or the type of its default when it has none (``n=1``); with
    ``item``, one item of the list it hints (a batched function's)."""
    value, known = literal(default)
    if arg.annotation is not None:
        hint = hint_from_source(arg.annotation, records)
    else:
        hint = hint_from_default(value) if known else Any
    if item:
        hint = item_hint(hint, Any)
    return declared(arg.arg, hint, default is None, value, known)


def openapi_route(state: State) -> Route:
    async def openapi(_: StarletteRequest) -> Response:
        endpoints = state.endpoints.snapshot()
        document = await anyio.to_thread.run_sync(build_document, state.settings, endpoints)
        return JSONResponse(document)

    return Route("/_owt/openapi.json", openapi, methods=["GET"])


def build_document(settings: Settings, endpoints: list[Endpoint]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for a server with these settings and endpoints."""
    from owt import __version__

    paths: dict[str, Any] = {
        "/": generic_item(settings, "root", _responses()),
        "/{path}": generic_item(settings, "path", _responses()),
    }
    paths["/{path}"]["parameters"] = [
        {
            "name": "path",
            "in": "path",
            "required": True,
            "description": "Any path (it may hold slashes); the adaptor reads it.",
            "schema": {"type": "string"},
        }
    ]
    # The call's own options a request to an endpoint may still send (its timeout, caching).
    settable = CALLER_FIELDS - {"kwargs", "kwargs_b64"}
    fields = call_fields(settings, body=True)  # cache_key_override is not a --locked one's
    options = {name: fields[name] for name in sorted(settable) if name in fields}
    for endpoint in endpoints:
        paths[f"/{endpoint.name}"] = _endpoint_item(endpoint, options, settings.locked)
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
        "components": _components(settings),
    }
    if settings.protected:
        schemes = document["components"]["securitySchemes"] = {}
        if settings.auth:
            schemes["basic"] = {"type": "http", "scheme": "basic"}
        if settings.token:
            schemes["bearer"] = {"type": "http", "scheme": "bearer"}
        document["security"] = [{name: []} for name in schemes]
    return document


def _components(settings: Settings) -> dict[str, Any]:
    return {
        "schemas": {
            "Call": call_component(settings),
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


def _endpoint_item(
    endpoint: Endpoint, options: dict[str, dict[str, Any]], locked: bool
) -> dict[str, Any]:
    signature = parameters_of(endpoint.code, endpoint.fn_name)
    where = "registered" if endpoint.file is None else "mounted"
    if endpoint.file is not None and not locked:  # (a locked server's files stay its own)
        where = f"file {endpoint.file}"
    summary = f"The {endpoint.kind} endpoint {endpoint.name!r} ({where})"
    description = (
        f"Runs {endpoint.fn_name}() with plain parameters converted by its type hints (or "
        f"by its defaults). Paths below /{endpoint.name}/ reach it too. Beside the "
        f"arguments a request may send the call's own options ({', '.join(options)}; see "
        "the Call schema)."
    )
    if signature is not None and signature.pipe:
        description += (
            " It is a pipe: its parameters are the arguments its kwarg() and kwargs() steps "
            "read, typed by their defaults as the server converts them; any others are "
            "passed on too."
        )
    if signature is None:
        signature = Signature((), Any, True)
        if _compiles(endpoint.code):
            description += " Its parameters are not declared: any are passed on."
        else:
            description += (
                " Its code does not compile now: every call answers 422 compile_error until "
                "it is fixed."
            )
    params = signature.params
    required = [p.name for p in params if p.required and p.name not in endpoint.kwargs]
    ok = _result(signature.returns)
    extensions = _typing_extensions(signature)
    return {
        "summary": summary,
        "description": description,
        "get": {
            "operationId": f"endpoint_{endpoint.name}_get",
            "parameters": query_parameters(params, required, options),
            "responses": _responses(ok),
            **extensions,
        },
        "post": {
            "operationId": f"endpoint_{endpoint.name}_post",
            "requestBody": request_body(params, required, signature.open, options),
            "responses": _responses(ok),
            **extensions,
        },
    }


def _compiles(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


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
    content = {media: {"schema": schema}}
    if _numbers(schema):  # an array of numbers: also .npy for Accept: application/x-npy
        content[NPY] = {"schema": {"type": "string", "contentMediaType": NPY}}
    return {"description": "The function's result.", "content": content}


def _numbers(schema: dict[str, Any]) -> bool:
    """Whether a JSON schema is an array (of arrays) of numbers."""
    if schema.get("type") != "array":
        return False
    items = schema.get("items", {})
    return items.get("type") in ("number", "integer") or _numbers(items)


def _typing_extensions(signature: Signature) -> dict[str, Any]:
    """What ``owt codegen`` types a function from: ``x-owt-parameters``, the JSON Schema of
    each parameter's hint (the request bodies above also take the text forms the conversion
    reads, which no typed caller should send); ``x-owt-result``, that of the return hint (of
    each item, for a stream); and ``x-owt-stream`` for a streamed result."""
    returns = signature.returns
    item = stream_item(returns)
    schema = json_schema(type(None) if returns is None else returns if item is None else item)
    parameters = {p.name: p.schema for p in signature.params}
    return {
        "x-owt-parameters": parameters,
        "x-owt-result": schema,
        "x-owt-stream": item is not None,
    }
