"""Sources: steps that ignore the previous value and read the call instead.

``kwarg``, ``kwargs`` and ``const`` read the call's arguments or the code; ``input``,
``path``, ``query`` and ``json`` read its request. (``last`` lives here too, though it is a
transform: the last item of the value.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Generic, TypeVar

from owt.core.call import CALL_FIELDS
from owt.core.context import current_call
from owt.core.errors import BadRequest
from owt.summat.step import MISSING, Arguments, Context, Step

__all__ = ["Const", "Input", "Json", "Kwarg", "Kwargs", "Last", "Path", "Query", "by_default"]

T = TypeVar("T")


class Kwarg(Step[Any, Any]):
    """``kwarg("name")``: the call's argument ``name`` (a 400 ``bad_request`` if absent,
    unless a ``default`` is given)."""

    name = "kwarg"

    def __init__(self, key: str, default: Any = MISSING) -> None:
        self.key = key
        self.default = default
        self.args = (key,) if default is MISSING else (key, default)

    def run(self, last: Any, ctx: Context) -> Any:
        if self.key in ctx.kwargs:
            value = ctx.kwargs[self.key]
            if self.default is MISSING:
                return value
            return by_default(f"kwarg({self.key!r})", self.key, value, self.default)
        if self.default is not MISSING:
            return self.default
        given = ", ".join(sorted(ctx.kwargs)) or "none"
        raise BadRequest(
            f"kwarg({self.key!r}): the call has no argument {self.key!r} (it has: {given})",
            field=self.key,
        )


def by_default(step: str, key: str, value: Any, default: Any) -> Any:
    """``value`` converted by the type of ``default`` on an endpoint's call, whose arguments
    arrive as query or form text (``"3"`` for ``n=1`` is ``3``), just as a function endpoint's
    parameter without a hint is (:mod:`owt.core.typed`); any other call's value as it is.

    A value that does not fit is a 400 ``bad_request`` naming the argument.
    """
    call = current_call()
    if call is None or not call.typed:
        return value
    from owt.core import hints, typed  # only typed calls need them

    hint = hints.hint_from_default(default)
    try:
        return typed.convert(value, hint)
    except typed.Mismatch as exc:
        reason = f" ({exc})" if str(exc) else ""
        raise BadRequest(
            f"{step}: the argument {key!r} expects {hints.describe(hint)} (its default is "
            f"{default!r}), got {value!r}{reason}",
            field=key,
            expected=hints.describe(hint),
        ) from None


class Kwargs(Step[Any, dict[str, Any]]):
    """``kwargs(lang="en")``: the defaults updated with the call's arguments, as a dict —
    which a following function whose parameters name them receives as keyword arguments
    (``kwargs(x=1, y=2).f(lambda x=None, y=None, z=1: x + y + z)`` called with
    ``{"x": 0, "z": 4}`` gives ``6``: the call's arguments override the defaults)."""

    name = "kwargs"

    def __init__(self, defaults: dict[str, Any]) -> None:
        self.defaults = defaults

    def run(self, last: Any, ctx: Context) -> dict[str, Any]:
        given = {
            key: by_default("kwargs()", key, value, self.defaults[key])
            if key in self.defaults
            else value
            for key, value in ctx.kwargs.items()
        }
        return Arguments({**self.defaults, **given})

    def __repr__(self) -> str:
        return f"kwargs({', '.join(f'{k}={v!r}' for k, v in self.defaults.items())})"


class Last(Step[Any, Any]):
    """``last()``: the last item of the value — a sequence's ``[-1]`` (``path().last()`` on
    ``/one/two/three`` is ``"three"``), the final item of an iterator."""

    name = "last"

    def run(self, last: Any, ctx: Context) -> Any:
        if isinstance(last, Sequence):
            if not last:
                raise IndexError("last(): the sequence is empty")
            return last[-1]
        if isinstance(last, Iterator):
            final = found = MISSING
            for final in last:
                found = final
            if found is MISSING:
                raise IndexError("last(): the iterator gave no items")
            return found
        raise TypeError(
            f"last() takes the last item of a sequence or an iterator, not of a "
            f"{type(last).__name__}"
        )


class Const(Step[Any, T], Generic[T]):
    """``const(value)``: always ``value``."""

    name = "const"

    def __init__(self, value: T) -> None:
        self.value = value
        self.args = (value,)

    def run(self, last: Any, ctx: Context) -> T:
        return self.value


class Input(Step[Any, Any]):
    """``input()``: the request body as bytes; ``input("utf-8")`` decodes it to str.

    Bytes by default so that audio, images and text all arrive intact and the value's type
    does not depend on what a client happened to send; text steps (``sentences``) accept
    bytes and decode them as UTF-8 themselves.
    """

    name = "input"

    def __init__(self, encoding: str | None = None) -> None:
        self.encoding = encoding
        self.args = () if encoding is None else (encoding,)

    def run(self, last: Any, ctx: Context) -> bytes | str:
        data = bytes(ctx.request.data)
        if self.encoding is None:
            return data
        try:
            return data.decode(self.encoding)
        except UnicodeDecodeError as exc:  # the caller's body, not the adaptor's fault
            raise BadRequest(
                f"input({self.encoding!r}): the request body is not {self.encoding} text "
                f"(byte {exc.start}: {exc.reason}); send the text encoded as {self.encoding}",
                field="body",
            ) from None


class Path(Step[Any, list[str]]):
    """``path()``: the request path's non-empty segments: ``/hello/owt/`` → ``["hello", "owt"]``."""

    name = "path"

    def run(self, last: Any, ctx: Context) -> list[str]:
        return [part for part in ctx.request.path.split("/") if part]


class Query(Step[Any, dict[str, str]]):
    """``query()``: the query string as a dict of first values, without owt's call fields
    (``code_b64``, ``kwargs_b64``, ``fn_name``, ...)."""

    name = "query"

    def run(self, last: Any, ctx: Context) -> dict[str, str]:
        return {k: v for k, v in ctx.request.args.items() if k not in CALL_FIELDS}


class Json(Step[Any, Any]):
    """``json()``: the request body parsed as JSON (None when it is not JSON); a JSON
    object loses owt's call fields, so a POSTed call's extra fields are what remain."""

    name = "json"

    def run(self, last: Any, ctx: Context) -> Any:
        body = ctx.request.json
        if isinstance(body, dict):
            return {k: v for k, v in body.items() if k not in CALL_FIELDS}
        return body
