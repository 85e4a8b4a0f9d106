"""Arguments of an endpoint converted by the function's type hints. Stdlib only, Python >= 3.10.

A mounted or registered endpoint gets its arguments as text (query parameters, form fields)
or as JSON values; :func:`convert_arguments` turns them into what the hints ask for::

    def run(n: int, scale: float = 1.0, loud: bool = False, tags: list[str] | None = None): ...

    convert_arguments(run, {"n": "3", "loud": "yes", "tags": ["a", "b"]})
    # {'n': 3, 'loud': True, 'tags': ['a', 'b']}

Supported: ``int``, ``float``, ``bool`` (``true/false/1/0/yes/no/on/off``), ``str``,
``list[X]`` / ``set[X]`` / ``tuple[X, ...]`` (from repeated parameters or a JSON array),
``dict`` (a JSON object), ``Literal[...]`` (checked), ``Optional[X]`` / ``X | None`` / other
unions (tried in order), ``Annotated[X, ...]``, enums (by value or name) and any other class
built from a single string (``pathlib.Path``). An argument without a hint is passed unchanged.
A missing required argument or a value that does not fit is a ``BadRequest`` naming the
parameter and what it expects.

:func:`hint_from_source` reads an annotation's *text* into a hint without evaluating it, so
the server can describe an endpoint (OpenAPI) without running its code; :func:`json_schema`
turns a hint into a JSON Schema.
"""

from __future__ import annotations

import ast
import collections.abc
import enum
import inspect
import json
import types
import typing
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from owt.exceptions import BadRequest

__all__ = ["convert_arguments", "describe", "hint_from_source", "json_schema"]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_REQUEST_NAMES = ("request", "_")
_SEQUENCES: dict[Any, type] = {
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
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_NONE = type(None)


class Mismatch(ValueError):
    """A value that does not fit a hint (turned into a BadRequest naming the parameter)."""


@dataclass(frozen=True)
class _Param:
    name: str
    hint: Any
    required: bool


@dataclass(frozen=True)
class _Plan:
    params: tuple[_Param, ...]
    names: frozenset[str]
    first: str | None
    wants_request: bool
    accepts_any: bool


_plans: weakref.WeakKeyDictionary[Any, _Plan] = weakref.WeakKeyDictionary()


def convert_arguments(fn: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` converted by ``fn``'s type hints; raises ``BadRequest`` for the first misfit.

    A non-dict argument (``__last__``) goes to the first parameter. Arguments the function
    does not name are dropped when it takes the request (it reads them itself), left for the
    binding to refuse otherwise.
    """
    plan = _plan_of(fn)
    if plan is None:
        return kwargs
    values = dict(kwargs)
    if "__last__" in values and "__last__" not in plan.names and not plan.accepts_any:
        last = values.pop("__last__")
        if plan.first is not None:
            values.setdefault(plan.first, last)
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in plan.names or plan.accepts_any or not plan.wants_request:
            out[key] = value
    for param in plan.params:
        if param.name not in out:
            if param.required:
                raise BadRequest(
                    f"missing required parameter {param.name!r} ({describe(param.hint)})",
                    field=param.name,
                    expected=describe(param.hint),
                )
            continue
        try:
            out[param.name] = convert(out[param.name], param.hint)
        except Mismatch as exc:
            raise BadRequest(
                f"parameter {param.name!r} expects {describe(param.hint)}, "
                f"got {_show(out[param.name])}{_reason(exc)}",
                field=param.name,
                expected=describe(param.hint),
            )
    return out


def _plan_of(fn: Any) -> _Plan | None:
    try:
        return _plans[fn]
    except (KeyError, TypeError):
        pass
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    hints = _resolved_hints(fn)
    params = list(signature.parameters.values())
    wants_request = (
        bool(params)
        and params[0].name in _REQUEST_NAMES
        and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD)
    )
    named = [
        p
        for p in (params[1:] if wants_request else params)
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    plan = _Plan(
        params=tuple(
            _Param(p.name, _hint_for(p, hints), p.default is inspect.Parameter.empty) for p in named
        ),
        names=frozenset(p.name for p in named),
        first=named[0].name if named else None,
        wants_request=wants_request,
        accepts_any=any(p.kind is p.VAR_KEYWORD for p in params),
    )
    try:
        _plans[fn] = plan
    except TypeError:  # not weak-referenceable: work it out each time
        pass
    return plan


def _resolved_hints(fn: Any) -> dict[str, Any]:
    if not (inspect.isfunction(fn) or inspect.ismethod(fn)):
        return {}  # a callable object: its signature's annotations are read one by one
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:  # a name the hints use is not importable: read each one alone
        return {}


def _hint_for(param: inspect.Parameter, hints: dict[str, Any]) -> Any:
    if param.name in hints:
        return hints[param.name]
    annotation = param.annotation
    if annotation is inspect.Parameter.empty:
        return Any
    if isinstance(annotation, str):
        return hint_from_source(annotation)
    return annotation


# -- converting ------------------------------------------------------------------------------


def convert(value: Any, hint: Any) -> Any:
    """``value`` as ``hint`` asks; raises :class:`Mismatch` when it does not fit."""
    if hint is Any or hint is inspect.Parameter.empty or isinstance(hint, (str, typing.TypeVar)):
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        return convert(value, args[0])
    if origin is typing.Union or origin is types.UnionType:
        return _convert_union(value, args)
    if origin is typing.Literal:
        return _convert_literal(value, args)
    if hint is None or hint is _NONE:
        if value is None:
            return None
        raise Mismatch
    if hint in _SEQUENCES or origin in _SEQUENCES:
        return _convert_sequence(value, _SEQUENCES[origin or hint], args)
    if hint in _MAPPINGS or origin in _MAPPINGS:
        return _convert_mapping(value, args)
    if isinstance(value, list):
        if len(value) == 1:
            return convert(value[0], hint)
        raise Mismatch(f"one value, not {len(value)}")
    if hint is bool:
        return _to_bool(value)
    if hint is int:
        return _to_int(value)
    if hint is float:
        return _to_float(value)
    if hint is str:
        if isinstance(value, str):
            return value
        raise Mismatch
    if hint is bytes and isinstance(value, str):
        return value.encode()
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _to_enum(value, hint)
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        if isinstance(value, str):
            try:
                return hint(value)
            except Exception as exc:
                raise Mismatch(str(exc))
        raise Mismatch
    return value  # a hint we do not understand (a Protocol, a NewType...): leave it


def _convert_union(value: Any, members: tuple[Any, ...]) -> Any:
    nullable = _NONE in members
    if value is None and nullable:
        return None
    others = [m for m in members if m is not _NONE]
    if nullable and value == "" and str not in others:
        return None
    # A JSON value that already has a member's type keeps it ("1" for ``int | str`` from a
    # JSON string); text from a query string is tried against each member in order.
    if not isinstance(value, str):
        for member in others:
            if isinstance(member, type) and type(value) is member:
                return value
    for member in others:
        try:
            return convert(value, member)
        except Mismatch:
            continue
    raise Mismatch


def _convert_literal(value: Any, options: tuple[Any, ...]) -> Any:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    for option in options:
        if type(value) is type(option) and value == option:
            return option
    if isinstance(value, str):
        for option in options:
            try:
                if convert(value, type(option)) == option:
                    return option
            except Mismatch:
                continue
    raise Mismatch


def _convert_sequence(value: Any, kind: type, args: tuple[Any, ...]) -> Any:
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    else:
        raise Mismatch
    if kind is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        if len(items) != len(args):
            raise Mismatch(f"{len(args)} values, not {len(items)}")
        return tuple(convert(item, hint) for item, hint in zip(items, args, strict=True))
    hint = args[0] if args else Any
    return kind(convert(item, hint) for item in items)


def _convert_mapping(value: Any, args: tuple[Any, ...]) -> Any:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise Mismatch("not a JSON object")
    if not isinstance(value, dict):
        raise Mismatch
    if len(args) == 2:
        return {convert(k, args[0]): convert(v, args[1]) for k, v in value.items()}
    return value


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise Mismatch


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise Mismatch
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise Mismatch


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise Mismatch
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise Mismatch


def _to_enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    for member in cls:
        if value == member.value:
            return member
    if isinstance(value, str):
        if value in cls.__members__:
            return cls.__members__[value]
        for member in cls:
            try:
                if convert(value, type(member.value)) == member.value:
                    return member
            except Mismatch:
                continue
    raise Mismatch


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _reason(exc: Mismatch) -> str:
    return f" ({exc})" if str(exc) else ""


# -- describing ------------------------------------------------------------------------------

_NAMES = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    _NONE: "nothing",
}


def describe(hint: Any) -> str:
    """What a hint expects, in words: ``list[int]`` → ``a list of integers``."""
    if hint in _NAMES:
        return _NAMES[hint]
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        return describe(args[0])
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(describe(a) for a in args if a is not _NONE) + (
            " (or nothing)" if _NONE in args else ""
        )
    if hint in _SEQUENCES or origin in _SEQUENCES:
        if args and args[0] is not Any:
            return f"a list of {_plural(describe(args[0]))}"
        return "a list"
    if hint in _MAPPINGS or origin in _MAPPINGS:
        return "a JSON object"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in hint)
    if isinstance(hint, type):
        return f"a {hint.__name__}"
    return "any value"


def _plural(text: str) -> str:
    for article in ("an ", "a "):
        if text.startswith(article):
            noun = text[len(article) :]
            return noun if " " in noun else noun + "s"
    return text


def json_schema(hint: Any) -> dict[str, Any]:
    """The JSON Schema (2020-12, as OpenAPI 3.1 uses) of what a hint accepts."""
    simple = {int: "integer", float: "number", bool: "boolean", str: "string", _NONE: "null"}
    if hint in simple:
        return {"type": simple[hint]}
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        return json_schema(args[0])
    if origin is typing.Literal:
        return {"enum": [a for a in args if isinstance(a, (str, int, float, bool)) or a is None]}
    if origin is typing.Union or origin is types.UnionType:
        return {"anyOf": [json_schema(a) for a in args]}
    if hint in _SEQUENCES or origin in _SEQUENCES:
        schema: dict[str, Any] = {"type": "array"}
        if args and args[-1] is not Ellipsis and len(args) > 1:
            schema["prefixItems"] = [json_schema(a) for a in args]
        elif args:
            schema["items"] = json_schema(args[0])
        return schema
    if hint in _MAPPINGS or origin in _MAPPINGS:
        return {"type": "object"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [m.value for m in hint]}
    return {}


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
}


def hint_from_source(text: str | ast.expr) -> Any:
    """The hint an annotation's text (or AST) names, read without evaluating it.

    Builtin types, ``typing`` and ``collections.abc`` names (bare or qualified, as in
    ``t.Optional``), ``X | Y``, subscripts and literals are understood; anything else
    (a user class) reads as ``Any``.

    >>> hint_from_source("list[int] | None")
    typing.Optional[list[int]]
    """
    try:
        node = ast.parse(text, mode="eval").body if isinstance(text, str) else text
        return _read(node)
    except (SyntaxError, ValueError, TypeError, KeyError, RecursionError):
        return Any


def _read(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):  # a forward reference in quotes
            return hint_from_source(node.value)
        if node.value is None:
            return None
        raise ValueError
    if isinstance(node, ast.Name):
        return _KNOWN.get(node.id, Any)
    if isinstance(node, ast.Attribute):
        return _KNOWN.get(node.attr, Any)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _read(node.left), _read(node.right)
        if left is Any or right is Any:
            return Any
        return typing.Union[left, right]  # noqa: UP007 (built from parts at run time)
    if isinstance(node, ast.Subscript):
        base = _read(node.value)
        if base is Any:
            return Any
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base is typing.Literal:
            return typing.Literal[tuple(_literal(item) for item in items)]
        if base is typing.Annotated:
            return _read(items[0])
        args = tuple(
            Ellipsis if isinstance(i, ast.Constant) and i.value is Ellipsis else _read(i)
            for i in items
        )
        return base[args if len(args) > 1 else args[0]]
    raise ValueError


def _literal(node: ast.expr) -> Any:
    value = ast.literal_eval(node)
    if isinstance(value, (str, int, float, bool, bytes)) or value is None:
        return value
    raise ValueError
