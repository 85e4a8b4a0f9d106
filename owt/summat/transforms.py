"""Transforms: steps that make the next value from the previous one.

Functions given to ``f``, ``exec``, ``cond`` and ``fork`` (and ``each``) follow one rule,
:func:`owt.summat.step.apply`: a pipe runs on the value; a ``def``/``lambda`` gets the value
as its first argument, and any further *required* parameter by name from kept/imported
names or the call's arguments; any other callable is called as ``fn(value)``.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from owt.core.call import Response
from owt.core.results import encode_chunk, encode_json, not_json
from owt.core.scalars import short_repr
from owt.summat.step import (
    MISSING,
    Context,
    Step,
    Values,
    apply,
    as_data,
    describe,
    not_awaitable,
    prepare,
)

__all__ = [
    "Bytes",
    "Cast",
    "Clear",
    "Cond",
    "Exec",
    "F",
    "Foldl",
    "Foldl1",
    "Fork",
    "Get",
    "Identity",
    "Ix",
    "Map",
    "as_bytes",
    "jsonable",
]

T = TypeVar("T")
U = TypeVar("U")


class F(Step[Any, Any]):
    """``f(fn)``: ``fn(value)`` (or a pipe run on the value)."""

    name = "f"
    gives_replies = True  # what the user's function returned, read by owt's usual rules

    def __init__(self, fn: Any) -> None:
        self.args = (fn,)
        self.fn = prepare(fn)

    def run(self, last: Any, ctx: Context) -> Any:
        return apply(self.fn, last, ctx)


class Cast(Step[Any, Any]):
    """``cast(int)``: convert the value with a type or a one-argument function; a value that
    already is an instance of the type passes unchanged. Arguments are never injected."""

    name = "cast"

    def __init__(self, to: Callable[[Any], Any]) -> None:
        self.to = to
        self.args = (to,)

    def run(self, last: Any, ctx: Context) -> Any:
        if isinstance(self.to, type) and isinstance(last, self.to):
            return last
        return self.to(last)


class Exec(Step[T, T]):
    """``exec(fn)``: call ``fn`` on the value for its side effect; the value passes through."""

    name = "exec"

    def __init__(self, fn: Any) -> None:
        self.args = (fn,)
        self.fn = prepare(fn)

    def run(self, last: T, ctx: Context) -> T:
        not_awaitable(apply(self.fn, last, ctx), self, "exec()")
        return last


class Identity(Step[T, T]):
    """``identity()``: the value, unchanged."""

    name = "identity"

    def run(self, last: T, ctx: Context) -> T:
        return last


class Clear(Step[Any, None]):
    """``clear()``: None (an empty 200 if nothing follows)."""

    name = "clear"

    def run(self, last: Any, ctx: Context) -> None:
        return None


class Ix(Step[Any, Any]):
    """``ix(i)``: ``value[i]`` — an index, a negative index, a slice or a key."""

    name = "ix"

    def __init__(self, index: Any) -> None:
        self.index = index
        self.args = (index,)

    def run(self, last: Any, ctx: Context) -> Any:
        try:
            return last[self.index]
        except (IndexError, KeyError) as exc:
            raise type(exc)(f"ix({self.index!r}): not in {short_repr(last)}") from None


class Get(Step[Any, Any]):
    """``get(key)``: a mapping's item or an object's attribute; ``get(key, default)`` gives
    ``default`` when it is missing."""

    name = "get"

    def __init__(self, key: str, default: Any = MISSING) -> None:
        self.key = key
        self.default = default
        self.args = (key,) if default is MISSING else (key, default)

    def run(self, last: Any, ctx: Context) -> Any:
        if isinstance(last, Mapping):
            if self.key in last:
                return last[self.key]
            if self.default is not MISSING:
                return self.default
            raise KeyError(f"get({self.key!r}): no such key in {short_repr(last)}")
        if self.default is not MISSING:
            return getattr(last, self.key, self.default)
        try:
            return getattr(last, self.key)
        except AttributeError:
            raise AttributeError(
                f"get({self.key!r}): {type(last).__name__} has no item or attribute {self.key!r}"
            ) from None


class Map(Step[Iterable[Any], list[Any]]):
    """``map(fn)``: ``[fn(item) for item in value]``, eagerly (``each`` is the lazy one).

    ``fn`` is called as ``fn(item)`` (or is a pipe run on each item); no names are injected.
    """

    name = "map"

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn
        self.args = (fn,)

    def run(self, last: Iterable[Any], ctx: Context) -> list[Any]:
        fn = self.fn
        if isinstance(fn, Step):
            return [not_awaitable(fn.run(item, ctx), self, "map()") for item in last]
        return [not_awaitable(fn(item), self, "map()") for item in last]


class Foldl(Step[Iterable[Any], Any]):
    """``foldl(fn, acc)``: ``fn(fn(fn(acc, x0), x1), x2)...`` over the value's items."""

    name = "foldl"

    def __init__(self, fn: Callable[[Any, Any], Any], acc: Any) -> None:
        self.fn = fn
        self.acc = acc
        self.args = (fn, acc)

    def run(self, last: Iterable[Any], ctx: Context) -> Any:
        return functools.reduce(self.fn, last, self.acc)


class Foldl1(Step[Iterable[Any], Any]):
    """``foldl1(fn)``: ``foldl`` seeded with the first item; an empty value is an error."""

    name = "foldl1"

    def __init__(self, fn: Callable[[Any, Any], Any]) -> None:
        self.fn = fn
        self.args = (fn,)

    def run(self, last: Iterable[Any], ctx: Context) -> Any:
        items = iter(last)
        try:
            first = next(items)
        except StopIteration:
            raise ValueError(f"foldl1({describe(self.fn)}): the value has no items") from None
        return functools.reduce(self.fn, items, first)


class Bytes(Step[Any, bytes]):
    """``bytes()``: the bytes owt would send for the value (see :func:`as_bytes`)."""

    name = "bytes"

    def run(self, last: Any, ctx: Context) -> bytes:
        return as_bytes(last)


class Cond(Step[Any, Any]):
    """``cond(then, else_)``: ``then`` if the value is true, else ``else_`` (upstream owt's
    meaning: ``.f(lambda x: x > 10).cond(pipe().const("big"), pipe().const("small"))``).
    ``cond(pred, then, else_)``: the same, deciding by ``pred(value)`` instead.

    ``pred`` is a function or a pipe of the value. Each branch is a function or a pipe run
    on the value, or any other (non-callable) value used as it is.
    """

    name = "cond"
    gives_replies = True  # a function branch's result is the user's; a plain one is data

    def __init__(self, first: Any, second: Any, third: Any = MISSING) -> None:
        if third is MISSING:
            pred, then, else_ = None, first, second
            self.args = (first, second)
        else:
            if not callable(first):
                raise TypeError(
                    f"cond(): the predicate must be a function or a pipe, got {first!r}"
                )
            pred, then, else_ = prepare(first), second, third
            self.args = (first, second, third)
        self.pred = pred
        self.then = prepare(then)
        self.else_ = prepare(else_)

    def run(self, last: Any, ctx: Context) -> Any:
        test = last if self.pred is None else apply(self.pred, last, ctx)
        test = not_awaitable(test, self, "cond()")
        branch = self.then if test else self.else_
        return apply(branch, last, ctx) if callable(branch) else as_data(branch)


class Fork(Step[Any, tuple[Any, Any]]):
    """``fork(left, right)``: ``(left(value), right(value))``, one after the other — a tuple
    for the next step, and data (a JSON array) if it is the result, never a reply's
    ``(body, status)``."""

    name = "fork"

    def __init__(self, left: Any, right: Any) -> None:
        self.args = (left, right)
        self.left = prepare(left)
        self.right = prepare(right)

    def run(self, last: Any, ctx: Context) -> tuple[Any, Any]:
        left = not_awaitable(apply(self.left, last, ctx), self, "fork()")
        return Values((left, not_awaitable(apply(self.right, last, ctx), self, "fork()")))


def as_bytes(value: Any) -> bytes:
    """The bytes owt would send for ``value`` (the runner's own encoders do the work).

    bytes-likes as they are; str as UTF-8; None as ``b""``; numbers and bools as their
    text; dicts, lists, tuples and dataclasses as JSON; a file-like object's ``read()``;
    an object with ``tobytes()`` (``array.array``, a numpy array) its raw bytes; any other
    iterable (a generator of chunks) its chunks joined as a streamed body joins them (text
    and bytes as they are, other items as JSON lines).
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if value is None:
        return b""
    if isinstance(value, (bool, int, float)):
        return str(value).encode()
    if isinstance(value, (dict, list, tuple)) or _is_dataclass(value):
        return encode_json(value)
    if callable(getattr(value, "read", None)):
        return as_bytes(value.read())
    if callable(getattr(value, "tobytes", None)):
        return bytes(value.tobytes())
    if isinstance(value, Iterable):
        return b"".join(encode_chunk(chunk) for chunk in value)
    raise TypeError(f"bytes(): cannot turn {type(value).__name__} into bytes")


def jsonable(value: Any) -> Any:
    """``value`` with dataclasses, tuples, sets, bytes (as base64 text) and
    array-likes (``tolist()``) turned into JSON types."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, Response):
        raise not_json(value)
    if _is_dataclass(value):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if callable(getattr(value, "tolist", None)):
        return jsonable(value.tolist())
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    raise not_json(value)


def _is_dataclass(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)
