"""Type hints described for people and for OpenAPI, and read from source text. Stdlib only.

:func:`describe` says what a hint expects in words (``list[int]`` → ``a list of
integers``), :func:`json_schema` turns it into a JSON Schema, and :func:`hint_from_source`
reads an annotation's *text* into a hint without evaluating it, so the server can describe an
endpoint without running its code. :func:`records_in` reads the dataclasses and TypedDicts
a module declares, so that a hint naming one describes its fields (a :class:`Record`), and
:func:`stream_item` tells a streamed result (``Iterator[str]``) from a plain one.
"""

from __future__ import annotations

import ast
import collections.abc
import dataclasses
import enum
import types
import typing
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAPPINGS",
    "NONE_TYPE",
    "SEQUENCES",
    "STREAMS",
    "Record",
    "describe",
    "hint_from_default",
    "hint_from_source",
    "json_schema",
    "record_fields",
    "records_in",
    "refers_to",
    "stream_item",
]

SEQUENCES: dict[Any, type] = {
    list: list,
    set: set,
    frozenset: frozenset,
    tuple: tuple,
    collections.abc.Sequence: list,
    collections.abc.MutableSequence: list,
    collections.abc.Iterable: list,
    collections.abc.Collection: list,
    collections.abc.Set: set,
    collections.abc.MutableSet: set,
}
MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
STREAMS = (
    collections.abc.Iterator,
    collections.abc.Generator,
    collections.abc.AsyncIterator,
    collections.abc.AsyncGenerator,
)
NONE_TYPE = type(None)
OCTETS = "application/octet-stream"


@dataclass(frozen=True)
class Record:
    """A dataclass or TypedDict the adaptor declares: a JSON object of these fields, each
    ``(name, hint, required)``."""

    name: str
    fields: tuple[tuple[str, Any, bool], ...]


def stream_item(hint: Any) -> Any | None:
    """The hint of each item when ``hint`` is a stream (``Iterator[str]`` → ``str``), else None."""
    if hint in STREAMS:
        return Any
    if typing.get_origin(hint) in STREAMS:
        args = typing.get_args(hint)
        return args[0] if args else Any
    return None


# -- describing ------------------------------------------------------------------------------

_NAMES = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    bytes: "bytes (a file part)",
    NONE_TYPE: "nothing",
}


def describe(hint: Any) -> str:
    """What a hint expects, in words: ``list[int]`` → ``a list of integers``."""
    if hint in _NAMES:
        return _NAMES[hint]
    if hint is Any:  # a class on Python >= 3.11: never "a Any"
        return "any value"
    if isinstance(hint, Record):
        return _a(f"{hint.name} object")
    if isinstance(hint, type) and (dataclasses.is_dataclass(hint) or typing.is_typeddict(hint)):
        return _a(f"{hint.__name__} object")  # as the Record the source reads describes it
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        return describe(args[0])
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(describe(a) for a in args if a is not NONE_TYPE) + (
            " (or nothing)" if NONE_TYPE in args else ""
        )
    if hint in SEQUENCES or origin in SEQUENCES:
        if args and args[0] is not Any:
            return f"a list of {_plural(describe(args[0]))}"
        return "a list"
    if hint in MAPPINGS or origin in MAPPINGS:
        return "a JSON object"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in hint)
    if isinstance(hint, type):
        return _a(hint.__name__)
    return "any value"


def _a(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _plural(text: str) -> str:
    for article in ("an ", "a "):
        if text.startswith(article):
            noun = text[len(article) :]
            return noun if " " in noun else noun + "s"
    return text


def json_schema(hint: Any) -> dict[str, Any]:
    """The JSON Schema (2020-12, as OpenAPI 3.1 uses) of what a hint accepts."""
    simple = {int: "integer", float: "number", bool: "boolean", str: "string", NONE_TYPE: "null"}
    if hint in simple:
        return {"type": simple[hint]}
    if hint is bytes:
        # A file part (format) that is application/octet-stream (what codegen reads).
        return {"type": "string", "format": "binary", "contentMediaType": OCTETS}
    if isinstance(hint, Record):
        return {
            "type": "object",
            "title": hint.name,
            "properties": {name: json_schema(h) for name, h, _ in hint.fields},
            "required": [name for name, _, required in hint.fields if required],
            "additionalProperties": False,  # an unknown field is refused, by name
        }
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        return json_schema(args[0])
    if origin is typing.Literal:
        return {"enum": [a for a in args if isinstance(a, (str, int, float, bool)) or a is None]}
    if origin is typing.Union or origin is types.UnionType:
        return {"anyOf": [json_schema(a) for a in args]}
    if hint in SEQUENCES or origin in SEQUENCES:
        schema: dict[str, Any] = {"type": "array"}
        if args and args[-1] is not Ellipsis and len(args) > 1:
            schema["prefixItems"] = [json_schema(a) for a in args]
        elif args:
            schema["items"] = json_schema(args[0])
        return schema
    if hint in MAPPINGS or origin in MAPPINGS:
        if len(args) == 2 and args[1] is not Any:  # JSON keys are text: the values say more
            return {"type": "object", "additionalProperties": json_schema(args[1])}
        return {"type": "object"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [m.value for m in hint]}
    return {}


def hint_from_default(value: Any) -> Any:
    """The hint a parameter without one gets from its default: ``n=1`` is an ``int``.

    ``0.5`` is a ``float``, ``False`` a ``bool``, ``"x"`` a ``str``, ``b""`` ``bytes``; a
    list, tuple or set is a list of its first item's type (of strings when empty, as
    ``tags=()`` is); anything else (``None``, a dict) says nothing: ``Any``.

    >>> hint_from_default(()), hint_from_default(1), hint_from_default(None)
    (list[str], <class 'int'>, typing.Any)
    """
    if type(value) in (bool, int, float, str, bytes):
        return type(value)
    if type(value) in (list, tuple, set, frozenset):
        items = list(value)
        first = hint_from_default(items[0]) if items else str
        if first is not Any and all(type(item) is first for item in items):
            return list[first]  # type: ignore[valid-type]
        return list
    return Any


# -- reading hints from source text ----------------------------------------------------------

_KNOWN: dict[str, Any] = {
    "int": int,
    "float": float,
    "bool": bool,
    "str": str,
    "bytes": bytes,
    "list": list,
    "set": set,
    "frozenset": frozenset,
    "tuple": tuple,
    "dict": dict,
    "None": None,
    "Any": Any,
    "List": list,
    "Set": set,
    "FrozenSet": frozenset,
    "Tuple": tuple,
    "Dict": dict,
    "Sequence": collections.abc.Sequence,
    "MutableSequence": collections.abc.MutableSequence,
    "Iterable": collections.abc.Iterable,
    "Collection": collections.abc.Collection,
    "Mapping": collections.abc.Mapping,
    "MutableMapping": collections.abc.MutableMapping,
    "Optional": typing.Optional,
    "Union": typing.Union,
    "Literal": typing.Literal,
    "Annotated": typing.Annotated,
    "Iterator": collections.abc.Iterator,
    "Generator": collections.abc.Generator,
    "AsyncIterator": collections.abc.AsyncIterator,
    "AsyncGenerator": collections.abc.AsyncGenerator,
}


def hint_from_source(text: str | ast.expr, records: dict[str, Any] | None = None) -> Any:
    """The hint an annotation's text (or AST) names, read without evaluating it.

    Builtin types, ``typing`` and ``collections.abc`` names (bare or qualified, as in
    ``t.Optional``), ``X | Y``, subscripts and literals are understood; anything else
    (a user class) reads as ``Any`` — unless ``records`` (from :func:`records_in`) names it.

    >>> hint_from_source("list[int] | None")
    typing.Optional[list[int]]
    """
    try:
        node = ast.parse(text, mode="eval").body if isinstance(text, str) else text
        return _read(node, records or {})
    except (SyntaxError, ValueError, TypeError, KeyError, RecursionError):
        return Any


def _read(node: ast.expr, records: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):  # a forward reference in quotes
            return hint_from_source(node.value, records)
        if node.value is None:
            return None
        raise ValueError
    if isinstance(node, ast.Name):
        return records[node.id] if node.id in records else _KNOWN.get(node.id, Any)
    if isinstance(node, ast.Attribute):
        return _KNOWN.get(node.attr, Any)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _read(node.left, records), _read(node.right, records)
        if left is Any or right is Any:
            return Any
        return typing.Union[left, right]  # noqa: UP007 (built from parts at run time)
    if isinstance(node, ast.Subscript):
        base = _read(node.value, records)
        if base is Any:
            return Any
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base is typing.Literal:
            return typing.Literal[tuple(_literal(item) for item in items)]
        if base is typing.Annotated:
            return _read(items[0], records)
        args = tuple(
            Ellipsis if isinstance(i, ast.Constant) and i.value is Ellipsis else _read(i, records)
            for i in items
        )
        return base[args if len(args) > 1 else args[0]]
    raise ValueError


def _literal(node: ast.expr) -> Any:
    value = ast.literal_eval(node)
    if isinstance(value, (str, int, float, bool, bytes)) or value is None:
        return value
    raise ValueError


def records_in(tree: ast.Module) -> dict[str, Any]:
    """The dataclasses and TypedDicts a module declares at its top level, by name, their
    fields read from their annotations (a record may name one declared before it); and its
    enums, each as the ``Literal`` of its members' values (when every one is a constant)."""
    records: dict[str, Any] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        if any(refers_to(base, kind) for base in node.bases for kind in _ENUMS):
            values = _enum_values(node)
            if values:
                records[node.name] = typing.Literal[values]
            continue
        typed_dict = any(refers_to(base, "TypedDict") for base in node.bases)
        if not typed_dict and not any(refers_to(d, "dataclass") for d in node.decorator_list):
            continue
        total = not any(
            k.arg == "total" and isinstance(k.value, ast.Constant) and k.value.value is False
            for k in node.keywords
        )
        fields = []
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                hint = hint_from_source(item.annotation, records)
                required = total if typed_dict else item.value is None
                fields.append((item.target.id, hint, required))
        records[node.name] = Record(node.name, tuple(fields))
    return records


_ENUMS = ("Enum", "IntEnum", "StrEnum")


def _enum_values(node: ast.ClassDef) -> tuple[Any, ...]:
    """The values of an enum's members, or () when one is not a constant (``auto()``)."""
    values = []
    for item in node.body:
        if isinstance(item, ast.Assign) and len(item.targets) == 1:
            target = item.targets[0]
            if not isinstance(target, ast.Name) or target.id.startswith("_"):
                continue
            if not isinstance(item.value, ast.Constant) or item.value.value is None:
                return ()
            values.append(item.value.value)
    return tuple(values)


def refers_to(node: ast.expr, name: str) -> bool:
    """``name``, ``module.name`` or a call of either (``@dataclass(frozen=True)``)."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id == name
    return isinstance(node, ast.Attribute) and node.attr == name


def record_fields(cls: type) -> tuple[dict[str, Any], list[str]]:
    """A dataclass's or TypedDict's fields' hints (in order) and the names a value must have:
    the classes themselves, where a call runs (:func:`records_in` reads them from source)."""
    try:
        resolved = typing.get_type_hints(cls, include_extras=True)
    except Exception:  # a name a hint uses is not importable: read each hint alone
        resolved = {}
    raw: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        raw.update(getattr(klass, "__annotations__", {}))

    def hint(name: str) -> Any:
        if name in resolved:
            return resolved[name]
        annotation = raw.get(name, Any)
        return hint_from_source(annotation) if isinstance(annotation, str) else annotation

    if typing.is_typeddict(cls):
        names = list(raw)
        required = [n for n in names if n in getattr(cls, "__required_keys__", names)]
        return {name: hint(name) for name in names}, required
    fields = [f for f in dataclasses.fields(cls) if f.init]
    missing = dataclasses.MISSING
    required = [f.name for f in fields if f.default is missing and f.default_factory is missing]
    return {f.name: hint(f.name) for f in fields}, required
