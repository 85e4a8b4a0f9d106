"""Binding a call's arguments to the adaptor's function. Stdlib only.

A first parameter named ``request`` or ``_`` receives the request; a value that was not a dict
(``__last__``) goes to the first parameter when the function does not name ``__last__``;
everything is checked against the signature before the function runs, so a mismatch is the
caller's 400, not the adaptor's 500.
"""

from __future__ import annotations

import builtins
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from owt.core.call import CALL_FIELDS, Call
from owt.core.errors import BadRequest
from owt.core.failures import USER_ERRORS

__all__ = ["Target", "bind_arguments", "check_names", "evaluate_arguments", "target_of"]

_REQUEST_NAMES = ("request", "_")


@dataclass
class Target:
    """A callable found in compiled code, with what binding needs to know about it."""

    fn: Callable[..., Any]
    signature: inspect.Signature | None
    wants_request: bool
    accepts_any: bool
    names: frozenset[str]
    first: str | None
    is_async: bool = False  # a coroutine function (an async generator is settled on a loop too)
    #: Required keyword-passable names, when the signature is plain enough to check arguments
    #: with two set operations (no ``*args``, nothing positional-only after the request).
    required: frozenset[str] | None = None
    #: Positional-only parameters (after the request): arguments sent by name, passed in order.
    positional: tuple[str, ...] = ()


def target_of(fn: Any) -> Target:
    if not callable(fn):
        raise TypeError
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return Target(fn, None, False, True, frozenset(), None, inspect.iscoroutinefunction(fn))
    params = list(sig.parameters.values())
    wants_request = (
        bool(params)
        and params[0].name in _REQUEST_NAMES
        and params[0].kind
        in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        )
    )
    rest = params[1:] if wants_request else params
    positional = tuple(p.name for p in rest if p.kind is inspect.Parameter.POSITIONAL_ONLY)
    named = [
        p
        for p in rest
        if p.kind
        in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        )
    ]
    plain = not positional and all(p.kind is not inspect.Parameter.VAR_POSITIONAL for p in rest)
    required = frozenset(p.name for p in named if p.default is p.empty)
    return Target(
        fn=fn,
        signature=sig,
        wants_request=wants_request,
        accepts_any=any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params),
        names=frozenset(p.name for p in named),
        first=named[0].name if named else None,
        is_async=inspect.iscoroutinefunction(fn),
        required=required if plain else None,
        positional=positional,
    )


def _accepts(target: Target) -> str:
    return ", ".join(sorted(target.names)) or "nothing"


def _fields_among(names: set[str]) -> str:
    """A hint when an argument is a field of the call sent among the arguments."""
    fields = sorted(names & CALL_FIELDS)
    if not fields:
        return ""
    return (
        f"; {', '.join(map(repr, fields))} is a field of the call, not an argument: send it "
        "beside kwargs (a JSON body's top level, the query string, owt call's flags "
        "--timeout, --fn, --env, ...; from Python, client.adaptor(code, timeout=...)(**args); "
        "from JavaScript, the options after the arguments)"
    )


def check_names(target: Target, kwargs: dict[str, Any]) -> None:
    """What ``Signature.bind`` would say, for plain signatures, at a fraction of its cost."""
    assert target.required is not None
    if not target.accepts_any:
        unknown = kwargs.keys() - target.names
        if unknown:
            names = ", ".join(repr(n) for n in sorted(unknown))
            raise BadRequest(
                f"unexpected argument(s) {names} (it accepts: {_accepts(target)})"
                + _fields_among(unknown),
                field="kwargs",
            )
    missing = target.required - kwargs.keys()
    if missing:
        names = ", ".join(repr(n) for n in sorted(missing))
        raise BadRequest(
            f"missing required argument(s) {names} (it accepts: {_accepts(target)})",
            field="kwargs",
        )


def evaluate_arguments(text: str) -> dict[str, Any]:
    try:
        value = eval(text, {"__builtins__": builtins}, {})
    except USER_ERRORS as exc:
        raise BadRequest(f"the arguments did not evaluate: {exc}", field="kwargs_b64")
    if not isinstance(value, dict):
        return {"__last__": value}
    # Keys as text, as a literal's are (owt.server.protocol): ``{1: 'x'}`` names ``"1"``.
    return {k if isinstance(k, str) else str(k): v for k, v in value.items()}


@functools.cache
def _typed() -> Any:
    """:mod:`owt.core.typed`, imported by the first typed call (a worker that serves none
    starts without it); an ``import`` statement per call costs more than the conversion."""
    import owt.core.typed

    return owt.core.typed


def bind_arguments(target: Target, call: Call) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Positional and keyword arguments for the target; BadRequest when they do not fit."""
    kwargs = call.kwargs
    if call.kwargs_expr is not None:
        kwargs = evaluate_arguments(call.kwargs_expr)
    if call.file_args and not target.accepts_any and target.signature is not None:
        # An uploaded file the function does not name is the adaptor's, in request.files.
        kwargs = {k: v for k, v in kwargs.items() if k not in call.file_args or k in target.names}
    if call.typed and target.signature is not None:
        try:
            kwargs = _typed().convert_arguments(target.fn, kwargs)
        except BadRequest as err:
            _hint_not_an_object(err, call)
            raise
    args: tuple[Any, ...] = (call.request,) if target.wants_request else ()
    if target.signature is None:
        return args, kwargs
    if "__last__" in kwargs and not target.accepts_any and "__last__" not in target.names:
        kwargs = dict(kwargs)
        last = kwargs.pop("__last__")
        if target.first is None:
            raise BadRequest("the function takes no arguments", field="kwargs")
        kwargs[target.first] = last
    try:
        if target.required is not None:
            check_names(target, kwargs)
            return args, kwargs
        if target.positional:  # sent by name (JSON has no other way), passed in order
            kwargs = dict(kwargs)
            for name in target.positional:
                if name not in kwargs:
                    break
                args += (kwargs.pop(name),)
        try:
            target.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise BadRequest(f"{exc} (it accepts: {_accepts(target)})", field="kwargs")
    except BadRequest as err:
        if not call.typed:
            _hint_outside_kwargs(err, target, kwargs, call)
        _hint_not_an_object(err, call)
        raise
    return args, kwargs


_JSON_KINDS = {
    list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"
}  # fmt: skip


def _hint_not_an_object(err: BadRequest, call: Call) -> None:
    """Say so when arguments are missing and the JSON body is no object that could hold them
    (``[1, 2]`` posted to an endpoint that takes ``numbers``)."""
    if not err.message.startswith("missing required"):
        return
    body = call.request.json
    if body is not None and not isinstance(body, dict):
        kind = _JSON_KINDS.get(type(body), "no object")
        err.message += (
            f"; the JSON body is {kind}, which holds no arguments: send a JSON object of "
            'them by name ({"name": value, ...})'
        )
        err.args = (err.message,)


def _hint_outside_kwargs(
    err: BadRequest, target: Target, kwargs: dict[str, Any], call: Call
) -> None:
    """Say so when the arguments the function lacks were sent beside ``kwargs``, not in it
    (``{"code_b64": ..., "name": "owt"}`` instead of ``{"code_b64": ..., "kwargs": {...}}``)."""
    body = call.request.json
    outside = set(body) if isinstance(body, dict) else set()
    outside |= set(call.request.args)
    stray = sorted((target.names - kwargs.keys()) & (outside - CALL_FIELDS))
    if stray:
        names = ", ".join(repr(n) for n in stray)
        err.message += (
            f"; {names} arrived outside kwargs, as fields of the request: send the arguments"
            ' as "kwargs": {...} in a JSON body, or as kwargs_b64 (base64 of JSON) in a query'
        )
        err.args = (err.message,)
