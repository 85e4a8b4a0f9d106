"""The generic call (SPEC §2) in ``/_owt/openapi.json``: its fields as this server reads them.

The code comes in one of three ways, and the document says so: ``code_b64`` or
``code_sha256`` (``anyOf`` the two, at ``/`` and ``/{path}``), or a mounted or registered
endpoint's path, which has a path item of its own. The fields a server does not take are
left out: ``requirements`` and ``rebuild`` under ``--no-install`` or ``--locked``, the Ray
placement fields unless ``--executor ray``; ``env`` lists the environments this server has.
A GET carries the fields in the query (one exploded object); a POST in a JSON, URL-encoded or
multipart body (where ``kwargs`` is JSON text and file parts are ``bytes`` arguments).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from owt.config import Settings

__all__ = ["BOOL_TEXT", "call_component", "call_fields", "generic_item", "nullable"]

#: What the server reads as a boolean in text (``parse_bool``): case and spaces aside.
BOOL_TEXT = (
    r"^\s*([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Yy][Ee][Ss]|[Nn][Oo]|[Oo][Nn]|"
    r"[Oo][Ff][Ff]|1|0|)\s*$"
)
_BOOL = {"anyOf": [{"type": "boolean"}, {"enum": [0, 1]}, {"type": "string", "pattern": BOOL_TEXT}]}
_CODE_REQUIRED = [{"required": ["code_b64"]}, {"required": ["code_sha256"]}]


def call_fields(settings: Settings, *, body: bool) -> dict[str, dict[str, Any]]:
    """Each call field this server reads, as a JSON Schema with its description."""
    envs = ["main", *(spec.partition("=")[0].strip() for spec in settings.env)]
    fields: dict[str, dict[str, Any]] = {
        "code_b64": {
            "type": "string",
            "minLength": 1,
            "contentEncoding": "base64",
            "contentMediaType": "text/x-python",
            "description": "Base64 (standard or URL-safe, padding optional) of UTF-8 source.",
        },
        "code_sha256": {
            "type": "string",
            "pattern": "^[0-9a-fA-F]{64}$",
            "description": "Run code the server already holds, by its sha256 (else 404).",
        },
        "kwargs_b64": {
            "type": "string",
            "contentEncoding": "base64",
            "description": "Base64 of the arguments: a JSON object or a Python literal.",
        },
        "fn_name": {
            "type": "string",
            "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
            "default": "run",
            "description": "Which function in the code to call.",
        },
        "env": {
            "enum": [*sorted(set(envs)), ""],
            "default": "main",
            "description": "Which Python environment runs it (this server's: --env).",
        },
        "timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "Seconds the call may run (not counting an environment build).",
        },
        "use_cache": {**_BOOL, "default": False, "description": "Cache the response."},
        "cache_kwargs": {**_BOOL, "default": False, "description": "Key the cache by arguments."},
    }
    if body:
        fields["kwargs"] = {"type": "object", "description": "The arguments as a JSON object."}
    if not settings.locked:
        fields["cache_key_override"] = {"type": "string", "description": "The cache key."}
    if not settings.locked and not settings.no_install:
        fields["requirements"] = {
            "type": "array",
            "items": {"type": "string", "pattern": "^[A-Za-z0-9]"},
            "description": "pip requirement strings: the call runs in an environment of them.",
        }
        fields["rebuild"] = {**_BOOL, "default": False, "description": "Build the set again."}
    if settings.executor == "ray":
        fields.update(_placement_fields())
    return fields


def _placement_fields() -> dict[str, dict[str, Any]]:
    """What a call's Ray actor holds (``--executor ray``)."""
    amount = {"type": "number", "minimum": 0}
    return {
        "num_cpus": {**amount, "description": "CPUs the call's actor holds."},
        "num_gpus": {**amount, "description": "GPUs the call's actor holds."},
        "memory": {"type": "integer", "minimum": 0, "description": "Bytes of memory it holds."},
        "accelerator_type": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
        "resources": {"type": "object", "additionalProperties": amount},
    }


def _call_schema(settings: Settings, *, body: bool, form: bool = False) -> dict[str, Any]:
    properties = call_fields(settings, body=body)
    if form and "kwargs" in properties:  # a form field holds text: JSON of the arguments
        properties["kwargs"] = {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "The arguments: JSON text of an object.",
        }
    if form:
        for name in ("requirements", "resources"):
            if name in properties:
                properties[name] = {"type": "string", "contentMediaType": "application/json"}
    return {
        "type": "object",
        "properties": properties,
        "anyOf": _CODE_REQUIRED,
        "additionalProperties": True,  # other fields are the adaptor's to read
    }


def generic_item(settings: Settings, where: str, responses: dict[str, Any]) -> dict[str, Any]:
    """The path item of the generic call at ``/`` (``where="root"``) or ``/{path}``."""
    query = {
        "name": "call",
        "in": "query",
        "style": "form",
        "explode": True,
        "required": True,
        "description": "The call's fields, each a query parameter (SPEC §2).",
        "schema": _call_schema(settings, body=False),
    }
    form = _call_schema(settings, body=True, form=True)
    return {
        "get": {
            "operationId": f"call_{where}_get",
            "summary": "Run an adaptor (its fields in the query string)",
            "parameters": [query],
            "responses": responses,
        },
        "post": {
            "operationId": f"call_{where}_post",
            "summary": "Run an adaptor (its fields in the body)",
            "description": "The fields may come in the query string too; the body's win.",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Call"}},
                    "application/x-www-form-urlencoded": {"schema": form},
                    "multipart/form-data": {"schema": form},
                },
            },
            "responses": responses,
        },
    }


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or JSON null: a field sent as null in a JSON body is a field left out."""
    if "anyOf" in schema:
        return {**schema, "anyOf": [*schema["anyOf"], {"type": "null"}]}
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    if isinstance(schema.get("type"), str):
        return {**schema, "type": [schema["type"], "null"]}
    return schema


def call_component(settings: Settings) -> dict[str, Any]:
    schema = _call_schema(settings, body=True)
    schema["properties"] = {name: nullable(s) for name, s in schema["properties"].items()}
    schema["description"] = "A call's fields (SPEC §2); other fields are left for the adaptor."
    return schema
