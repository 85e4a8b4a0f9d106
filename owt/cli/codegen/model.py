"""The endpoints of an OpenAPI document as typed functions, for any language's generator.

``/_owt/openapi.json`` describes each mounted or registered endpoint's parameters and, in
``x-owt-result`` / ``x-owt-stream``, its result, as JSON Schema from the function's hints.
:func:`read_endpoints` turns that into :class:`Function` values over a small set of types
(:class:`Type`): what every generator knows how to write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from owt.cli.codegen.naming import words

__all__ = ["Field", "Function", "Module", "Scalar", "Type", "read_endpoints", "value_text", "words"]

OCTETS = "application/octet-stream"

#: A value a ``Literal`` may hold, as JSON carries it.
Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class Field:
    """A parameter of a function or a field of a record; ``required`` when it has no default.
    ``none_default``: an optional one's default is known to be None (so a None sent is the
    same as none)."""

    name: str
    type: Type
    required: bool = True
    none_default: bool = False


@dataclass(frozen=True)
class Type:
    """One of: ``int float bool str bytes none any json`` (a JSON object of any shape),
    ``list`` (of ``item``), ``optional`` (``item`` or nothing), ``enum`` (one of ``values``:
    a ``Literal``'s strings, numbers, booleans or None, named ``name``) or ``record``
    (``fields``, named ``name``)."""

    kind: str
    item: Type | None = None
    name: str = ""
    values: tuple[Scalar, ...] = ()
    fields: tuple[Field, ...] = ()

    @property
    def textual(self) -> bool:
        """An enum of strings only: its values are their own text (a result's too)."""
        return all(isinstance(v, str) for v in self.values)

    @property
    def json_lines(self) -> bool:
        """Whether the server streams items of this type as JSON lines (NDJSON, one item a
        line) rather than as text or bytes: numbers, booleans, lists, dicts, records."""
        inner = self.item if self.kind == "optional" and self.item is not None else self
        if inner.kind == "enum":
            return not any(isinstance(v, str) for v in inner.values)
        return inner.kind in ("int", "float", "bool", "json", "list", "record")


def value_text(value: Scalar) -> str | None:
    """The text the server answers a ``Literal`` value with, as a result (SPEC §4: ``str`` as
    itself, numbers and booleans as Python writes them, None as no body at all)."""
    return None if value is None else value if isinstance(value, str) else repr(value)


@dataclass(frozen=True)
class Function:
    """One endpoint: its name, path, parameters, result and whether the result streams."""

    name: str
    path: str
    params: tuple[Field, ...]
    result: Type
    stream: bool = False
    summary: str = ""


@dataclass
class Module:
    """The functions to write, and the named types (enums, records) they use, in order."""

    url: str
    functions: list[Function] = field(default_factory=list)
    types: dict[str, Type] = field(default_factory=dict)

    def name_type(self, wanted: str, type_: Type) -> Type:
        """``type_`` under a free name like ``wanted`` (the same type keeps its name, and an
        enum of the same values is that enum)."""
        for known in self.types.values():
            if type_.kind == "enum" and _shape(known) == _shape(type_):
                return known
        base = "".join(w.capitalize() for w in words(wanted)) or "Value"
        if base[0].isdigit():
            base = "T" + base
        name, n = base, 2
        while name in self.types and _shape(self.types[name]) != _shape(type_):
            name, n = f"{base}{n}", n + 1
        named = Type(type_.kind, type_.item, name, type_.values, type_.fields)
        self.types.setdefault(name, named)
        return self.types[name]


def _shape(t: Type) -> tuple[Any, ...]:
    values = tuple((type(v).__name__, v) for v in t.values)  # 1 and True are two values
    return (t.kind, values, tuple((f.name, f.type, f.required) for f in t.fields))


def read_endpoints(document: dict[str, Any], url: str, only: list[str] | None = None) -> Module:
    """The endpoints of ``document`` (those named in ``only``, if given) as a Module."""
    module = Module(url)
    found = []
    for path, item in document.get("paths", {}).items():
        post = item.get("post", {}) if isinstance(item, dict) else {}
        match = re.fullmatch(r"endpoint_(.+)_post", str(post.get("operationId", "")))
        if match is None:
            continue
        name = match.group(1)
        if only and name not in only:
            continue
        found.append(name)
        module.functions.append(_function(module, name, path, post))
    missing = sorted(set(only or ()) - set(found))
    if missing:
        raise LookupError(f"the server has no endpoint named {', '.join(missing)}")
    return module


#: Fields of a request to an endpoint that are the call's, not its function's arguments.
_OPTIONS = frozenset(
    {"timeout", "use_cache", "cache_kwargs", "cache_key_override", "kwargs", "kwargs_b64"}
)


def _function(module: Module, name: str, path: str, post: dict[str, Any]) -> Function:
    content = post.get("requestBody", {}).get("content", {})
    body = content.get("application/json", {}).get("schema", {})
    # Arguments named like call fields (timeout, env, ...) travel in the body's ``kwargs``:
    # their schemas, and which of them are required, are that object's.
    fielded = body.get("properties", {}).get("kwargs", {})
    required = set(body.get("required", [])) - {"kwargs"} | set(fielded.get("required", []))
    # The exact schema of each hint (the body's also takes text forms a typed caller never
    # sends); a server without it has only the body's.
    if "x-owt-parameters" in post:  # none at all is an answer too (a function of nothing)
        exact = post["x-owt-parameters"]
    else:  # the body's, but the call's own options beside the arguments
        exact = {k: v for k, v in body.get("properties", {}).items() if k not in _OPTIONS}
        exact.update(fielded.get("properties", {}))
    params = tuple(
        Field(p, _type(module, s, p), p in required, "default" in s and s["default"] is None)
        for p, s in exact.items()
    )
    result = _type(module, post.get("x-owt-result", {}), name + "_result")
    stream = bool(post.get("x-owt-stream"))
    return Function(name, path, params, result, stream, str(post.get("summary", "")))


def _type(module: Module, schema: dict[str, Any], wanted: str) -> Type:
    """The Type of a JSON Schema; ``wanted`` names an enum or record that has no title."""
    simple = {"integer": "int", "number": "float", "boolean": "bool", "null": "none"}
    kind = schema.get("type")
    if "enum" in schema:
        values = schema["enum"]
        if values and all(isinstance(v, str | int | float | bool) or v is None for v in values):
            return module.name_type(
                schema.get("title") or wanted, Type("enum", values=tuple(values))
            )
        return Type("any")
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        if len(options) == 1 and len(options) < len(schema["anyOf"]):
            return Type("optional", _type(module, options[0], wanted))
        return Type("any")
    if kind in simple:
        return Type(simple[kind])
    if kind == "string":
        return Type("bytes" if schema.get("contentMediaType") == OCTETS else "str")
    if kind == "array":
        return Type("list", _type(module, schema.get("items", {}), wanted))
    if kind == "object" and "properties" in schema:
        required = set(schema.get("required", []))
        fields = tuple(
            Field(f, _type(module, s, f), f in required) for f, s in schema["properties"].items()
        )
        return module.name_type(schema.get("title") or wanted, Type("record", fields=fields))
    if kind == "object":
        return Type("json")
    return Type("any")
