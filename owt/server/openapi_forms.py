"""How an endpoint's parameters travel in a request, for its OpenAPI document: each one's JSON
Schema as a query parameter, in a JSON body, in a form and as a multipart part.

An argument named like a call field (``timeout``, ``env``, ...) travels inside ``kwargs``
(``kwargs_b64`` in a query or a form), as owt's clients send it: as a plain parameter it would
be the call's own field.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from owt.core.call import CALL_FIELDS
from owt.core.hints import describe, json_schema
from owt.core.scalars import INT_DIGITS
from owt.server.openapi_call import BOOL_TEXT, nullable

__all__ = ["Parameter", "declared", "literal", "query_parameters", "request_body"]


@dataclass(frozen=True)
class Parameter:
    """One argument of an endpoint's function, as its source declares it."""

    name: str
    schema: dict[str, Any]
    description: str
    required: bool
    default: Any = None


def literal(default: ast.expr | None) -> tuple[Any, bool]:
    """A default's value and True, when the source writes it as a literal (``1``, ``()``);
    else ``(None, False)``: a name or a call says nothing without running the code."""
    if default is None:
        return None, False
    try:
        return ast.literal_eval(default), True
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None, False


def declared(name: str, hint: Any, required: bool, value: Any, known: bool) -> Parameter:
    """A parameter of this hint, whose schema carries its default when JSON can hold it."""
    schema = json_schema(hint)
    if known and isinstance(value, tuple):
        value = list(value)
    if known and (isinstance(value, (str, int, float, bool, list, dict)) or value is None):
        schema.setdefault("default", value)
    return Parameter(name, schema, describe(hint), required, value)


def query_parameters(
    params: tuple[Parameter, ...], required: list[str], options: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The query parameters of a GET: one per argument, ``kwargs_b64`` for those named like
    call fields, and the call's own ``options`` (its timeout, caching), each marked
    ``x-owt-option`` so that a form can tell them from the function's arguments."""
    plain, fielded = _split(params)
    entries = [_query_parameter(p, p.name in required) for p in plain]
    if fielded:
        names = ", ".join(p.name for p in fielded)
        entries.append(
            {
                "name": "kwargs_b64",
                "in": "query",
                "required": any(p.name in required for p in fielded),
                "description": f"Base64 of a JSON object of the arguments {names} (named like "
                "call fields, they cannot be plain parameters).",
                "schema": _b64_json(_kwargs(fielded, required)),
            }
        )
    for name, schema in options.items():
        described = {k: v for k, v in schema.items() if k != "description"}
        entries.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": schema.get("description", ""),
                "schema": described,
                "x-owt-option": True,
            }
        )
    return entries


def _query_parameter(p: Parameter, required: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": p.name,
        "in": "query",
        "required": required,
        "description": p.description,
    }
    if _json_text(p.schema):
        entry["content"] = {"application/json": {"schema": p.schema}}
    else:
        entry["schema"] = _as_text(p.schema)
    return entry


def _json_text(schema: dict[str, Any]) -> bool:
    """An object, or an object or null: its query text is JSON (``null`` is None)."""
    members = schema.get("anyOf", [schema])
    kinds = {m.get("type") for m in members if isinstance(m, dict)}
    return "object" in kinds and kinds <= {"object", "null"} and len(kinds) == len(members)


def request_body(
    params: tuple[Parameter, ...],
    required: list[str],
    open_: bool,
    options: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The bodies an endpoint takes: JSON, a form, and multipart (a file part for a bytes
    parameter, text for the others), each with the call's own ``options`` beside the
    arguments."""
    plain, fielded = _split(params)
    top = [name for name in required if name not in CALL_FIELDS]
    body = _object({p.name: _as_json(p.schema) for p in plain}, top, open_)
    form = _object({p.name: _as_text(p.schema, form=True) for p in plain}, top, open_)
    if fielded:
        kwargs = _kwargs(fielded, required)
        body["properties"]["kwargs"] = kwargs
        form["properties"]["kwargs_b64"] = _b64_json(kwargs)
        if "required" in kwargs:
            body["required"] = [*top, "kwargs"]
            form["required"] = [*top, "kwargs_b64"]
    body["properties"].update({name: nullable(schema) for name, schema in options.items()})
    form["properties"].update(options)
    content: dict[str, Any] = {
        "application/json": {"schema": body},
        "application/x-www-form-urlencoded": {"schema": form},
    }
    parts = {**form, "properties": {**form["properties"]}}
    parts["properties"].update({p.name: _as_part(p.schema) for p in plain})
    content["multipart/form-data"] = {"schema": parts}
    result: dict[str, Any] = {"content": content}
    if required:
        result["required"] = True
    return result


def _split(params: tuple[Parameter, ...]) -> tuple[list[Parameter], list[Parameter]]:
    """(the plain arguments, those named like call fields)."""
    plain = [p for p in params if p.name not in CALL_FIELDS]
    return plain, [p for p in params if p.name in CALL_FIELDS]


def _kwargs(fielded: list[Parameter], required: list[str]) -> dict[str, Any]:
    """The ``kwargs`` object that carries the arguments named like call fields."""
    inner = [p.name for p in fielded if p.name in required]
    return _object({p.name: _as_json(p.schema) for p in fielded}, inner, False)


def _b64_json(schema: dict[str, Any]) -> dict[str, Any]:
    """Text: base64 of JSON of ``schema``."""
    return {
        "type": "string",
        "contentEncoding": "base64",
        "contentMediaType": "application/json",
        "contentSchema": schema,
    }


def _object(properties: dict[str, Any], required: list[str], open_: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": open_,
    }
    if required:
        schema["required"] = required
    return schema


# Text the typed conversion reads as each kind of value (owt.core.typed), for schemas.
INT_TEXT = rf"^\s*[+-]?\d{{1,{INT_DIGITS}}}\s*$"
NUMBER_TEXT = r"^\s*[+-]?(\d{1,200}(\.\d*)?|\.\d+)([eE](-\d{1,3}|\+?\d{1,2}))?\s*$"
TYPED_BOOL_TEXT = BOOL_TEXT.replace("|1|0|)", "|1|0)")
_TEXT_OF = {
    "integer": {"type": "string", "pattern": INT_TEXT},
    "number": {"type": "string", "pattern": NUMBER_TEXT},
    "boolean": {"type": "string", "pattern": TYPED_BOOL_TEXT},
}


def _as_json(schema: dict[str, Any]) -> dict[str, Any]:
    """What the typed conversion takes in a JSON body for ``schema``: also the text of a
    number or a boolean (``"3"``, ``"yes"``), and 0 or 1 for a boolean."""
    kind = schema.get("type")
    if kind in _TEXT_OF:
        members: list[dict[str, Any]] = [{"type": kind}, _TEXT_OF[kind]]
        if kind == "boolean":
            members.insert(1, {"enum": [0, 1]})
        return {"anyOf": members, **_default(schema)}
    if "anyOf" in schema:
        return {"anyOf": [_as_json(member) for member in schema["anyOf"]], **_default(schema)}
    if kind == "array" and isinstance(schema.get("items"), dict):
        item_kind = schema["items"].get("type")
        item = _as_json(schema["items"])
        # A lone string is a list of one (a form field's single value arrives so).
        lone = item if item_kind == "string" else _TEXT_OF.get(str(item_kind))
        if lone is not None:
            return {"anyOf": [{**schema, "items": item}, lone], **_default(schema)}
        return {**schema, "items": item}
    if kind == "object":  # a record's fields and a mapping's values convert as arguments do
        converted = dict(schema)
        if isinstance(schema.get("properties"), dict):
            converted["properties"] = {k: _as_json(v) for k, v in schema["properties"].items()}
        if isinstance(schema.get("additionalProperties"), dict):
            converted["additionalProperties"] = _as_json(schema["additionalProperties"])
        return converted
    return schema


def _as_text(schema: dict[str, Any], *, form: bool = False) -> dict[str, Any]:
    """What a value of ``schema`` is when it travels as text (a query or form field)."""
    if not schema or set(schema) <= {"default", "description"}:
        text = {"type": "string", **schema}  # no hint: the function gets the text itself
        if not isinstance(text.get("default", ""), str):
            del text["default"]
        return text
    if schema.get("format") == "binary":
        return dict(schema) if form else {"type": "string"}  # a file part, or UTF-8 text
    kind = schema.get("type")
    if kind == "object":
        return {"type": "string", "contentMediaType": "application/json", "contentSchema": schema}
    if kind == "number":  # text only: a float's own text may be too large to read back
        default = {"default": repr(schema["default"])} if "default" in schema else {}
        return {**_TEXT_OF[kind], **default}
    if kind in _TEXT_OF:
        return {"anyOf": [{"type": kind}, _TEXT_OF[kind]], **_default(schema)}
    if "anyOf" in schema:
        return {"anyOf": [_as_text(m, form=form) for m in schema["anyOf"]], **_default(schema)}
    if kind == "array" and isinstance(schema.get("items"), dict):
        item = _as_text(schema["items"], form=form)
        # One value of a repeated parameter is a list of one: ?tag=a is ["a"].
        return {"anyOf": [{**schema, "items": item}, item], **_default(schema)}
    return schema


def _as_part(schema: dict[str, Any]) -> dict[str, Any]:
    """A multipart field: a file part for ``bytes``, else text. A ``str`` parameter takes one
    part of any text, which is what a client writes for any single value."""
    if schema.get("type") == "string" and schema.get("format") != "binary":
        return {"type": ["string", "integer", "number", "boolean"], **_default(schema)}
    return _as_text(schema, form=True)


def _default(schema: dict[str, Any]) -> dict[str, Any]:
    return {"default": schema["default"]} if "default" in schema else {}
