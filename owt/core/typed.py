"""Arguments of an endpoint converted by the function's type hints. Stdlib only, Python >= 3.10.

A mounted or registered endpoint gets its arguments as text (query parameters, form fields)
or as JSON values; :func:`convert_arguments` turns them into what the hints ask for::

    def run(n: int, scale: float = 1.0, loud: bool = False, tags: list[str] | None = None): ...

    convert_arguments(run, {"n": "3", "loud": "yes", "tags": ["a", "b"]})
    # {'n': 3, 'loud': True, 'tags': ['a', 'b']}

Supported: ``int``, ``float``, ``bool`` (``true/false/1/0/yes/no/on/off``), ``str``,
``list[X]`` / ``set[X]`` / ``tuple[X, ...]`` (from repeated parameters or a JSON array),
``dict`` (a JSON object), dataclasses and TypedDicts (a JSON object, each field converted by
its hint; a dataclass arrives as an instance), ``Literal[...]`` (checked), ``Optional[X]`` /
``X | None`` / other unions (tried in order), ``Annotated[X, ...]``, enums (by value or
name), ``bytes`` (a file part, or text as UTF-8) and any other class built from a single
string (``pathlib.Path``). A
parameter without a hint takes its type from its default (``n=1`` is an ``int``, ``tags=()`` a
list of strings); one with neither is passed unchanged.
A missing required argument or a value that does not fit is a ``BadRequest`` naming the
parameter and what it expects.

:func:`hint_from_source`, :func:`describe` and :func:`json_schema` (from
:mod:`owt.core.hints`) read, word and document hints without running any code.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import types
import typing
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from owt.core.errors import BadRequest
from owt.core.hints import (
    MAPPINGS,
    NONE_TYPE,
    SEQUENCES,
    describe,
    hint_from_default,
    hint_from_source,
    json_schema,
    record_fields,
)
from owt.core.scalars import Mismatch, show_value, to_bool, to_float, to_int

__all__ = [
    "Mismatch",
    "convert",
    "convert_argument",
    "convert_arguments",
    "describe",
    "hint_from_source",
    "json_schema",
]

_REQUEST_NAMES = ("request", "_")


@dataclass(frozen=True)
class _Param:
    name: str
    hint: Any
    required: bool
    convert: Callable[[Any], Any]  # ``convert`` for this hint, chosen once: _converter


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
    out = dict(kwargs)
    if "__last__" in out and "__last__" not in plan.names and not plan.accepts_any:
        last = out.pop("__last__")
        if plan.first is not None:
            out.setdefault(plan.first, last)
    if plan.wants_request and not plan.accepts_any and not out.keys() <= plan.names:
        out = {key: value for key, value in out.items() if key in plan.names}
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
            out[param.name] = param.convert(out[param.name])
        except Mismatch as exc:
            raise _misfit(param.name, param.hint, out[param.name], exc)
    return out


def convert_argument(name: str, value: Any, hint: Any) -> Any:
    """The argument ``name`` as ``hint`` asks, as :func:`convert_arguments` converts each:
    ``BadRequest`` naming it and what it expects when it does not fit."""
    try:
        return convert(value, hint)
    except Mismatch as exc:
        raise _misfit(name, hint, value, exc)


def _misfit(name: str, hint: Any, value: Any, exc: Mismatch) -> BadRequest:
    return BadRequest(
        f"parameter {name!r} expects {describe(hint)}, got {show_value(value)}{_reason(exc)}",
        field=name,
        expected=describe(hint),
    )


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
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]  # a positional-only one too: sent by name, the binding passes it in order
    plan = _Plan(
        params=tuple(
            _Param(p.name, h, p.default is inspect.Parameter.empty, _converter(h))
            for p, h in ((p, _hint_for(p, hints)) for p in named)
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


def _converter(hint: Any) -> Callable[[Any], Any]:
    """:func:`convert` for one hint, its dispatch on the hint done once: text, numbers and
    flags of the plain types are converted directly, anything else goes through ``convert``."""
    if hint is Any or hint is inspect.Parameter.empty or isinstance(hint, (str, typing.TypeVar)):
        return lambda value: value
    kinds, to = _SIMPLE.get(hint, ((), str)) if isinstance(hint, type) else ((), str)
    return lambda value: to(value) if type(value) in kinds else convert(value, hint)


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
        if param.default is inspect.Parameter.empty:
            return Any
        return hint_from_default(param.default)  # ``n=1`` is an int
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
    if hint is None or hint is NONE_TYPE:
        if value is None:
            return None
        raise Mismatch
    if hint in SEQUENCES or origin in SEQUENCES:
        return _convert_sequence(value, SEQUENCES[origin or hint], args)
    if hint in MAPPINGS or origin in MAPPINGS:
        return _convert_mapping(value, args)
    if isinstance(value, list):
        if len(value) == 1:
            return convert(value[0], hint)
        raise Mismatch(f"one value, not {len(value)}")
    if hint is bool:
        return to_bool(value)
    if hint is int:
        return to_int(value)
    if hint is float:
        return to_float(value)
    if hint is str:
        if isinstance(value, str):
            return value
        raise Mismatch
    if hint is bytes and isinstance(value, str):
        return value.encode()
    if isinstance(hint, type) and (dataclasses.is_dataclass(hint) or typing.is_typeddict(hint)):
        return _to_record(value, hint)
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
    nullable = NONE_TYPE in members
    if value is None and nullable:
        return None
    others = [m for m in members if m is not NONE_TYPE]
    if nullable and value == "" and str not in others:
        return None
    # A JSON value that already has a member's type keeps it ("1" for ``int | str`` from a
    # JSON string); text from a query string is tried against each member in order.
    if not isinstance(value, str):
        for member in others:
            if isinstance(member, type) and type(value) is member:
                return value
    failure = Mismatch()
    for member in others:
        try:
            return convert(value, member)
        except Mismatch as exc:
            if len(others) == 1:  # ``X | None``: why it is no X is the answer
                failure = exc
    if nullable and isinstance(value, str) and value.strip() == "null":
        return None  # JSON's null as text (a query's ``?b=null`` for a ``Point | None``)
    raise failure


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
    value = _from_text(value)
    if not isinstance(value, dict):
        raise Mismatch
    if len(args) != 2:
        return value
    converted = {}
    for key, item in value.items():
        try:
            converted[convert(key, args[0])] = convert(item, args[1])
        except Mismatch as exc:
            raise Mismatch(f"key {key!r}: {describe(args[1])} expected{_reason(exc)}")
    return converted


def _from_text(value: Any) -> Any:
    """A JSON object's text (a query string's, a form field's) as the object it holds."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise Mismatch("not a JSON object")


def _to_record(value: Any, cls: type) -> Any:
    """A dataclass or TypedDict from a JSON object (or its text, from a query string), each
    field converted by its own hint; a missing required field or an unknown one is named."""
    if not typing.is_typeddict(cls) and isinstance(value, cls):
        return value
    value = _from_text(value)
    if not isinstance(value, dict):
        raise Mismatch("not a JSON object")
    hints, required = record_fields(cls)
    unknown = sorted(str(key) for key in value if key not in hints)
    if unknown:
        raise Mismatch(f"no field {', '.join(map(repr, unknown))}; it has: {', '.join(hints)}")
    missing = [name for name in required if name not in value]
    if missing:
        raise Mismatch(f"missing field {', '.join(map(repr, missing))}")
    fields = {}
    for name, item in value.items():
        try:
            fields[name] = convert(item, hints[name])
        except Mismatch as exc:
            raise Mismatch(f"field {name!r} expects {describe(hints[name])}{_reason(exc)}")
    if typing.is_typeddict(cls):
        return fields
    try:
        return cls(**fields)
    except Exception as exc:  # its __post_init__ refused the values
        raise Mismatch(f"{type(exc).__name__}: {exc}")


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


#: Hint → (value types converted directly, how): what :func:`convert` does for them.
_SIMPLE: dict[type, tuple[frozenset[type], Callable[[Any], Any]]] = {
    str: (frozenset({str}), str),  # str(text) is text itself
    int: (frozenset({str, int, float}), to_int),
    float: (frozenset({str, int, float}), to_float),
    bool: (frozenset({str, bool, int}), to_bool),
}


def _reason(exc: Mismatch) -> str:
    return f" ({exc})" if str(exc) else ""
