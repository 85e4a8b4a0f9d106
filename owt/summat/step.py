"""What every step shares: the :class:`Step` contract, the per-call :class:`Context`, and the
one rule for calling a user's function (:func:`apply`).

A step turns the previous value (``__last__``) into the next one. It may read the call's
arguments, its request, and the names earlier steps made visible (``importing``, ``keep``).
Stdlib only: a pipe runs unchanged in a bare worker virtualenv.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping
from types import ModuleType
from typing import Any, Generic, TypeVar

from owt.core.call import Request
from owt.core.context import current_request
from owt.core.failures import name_step
from owt.core.scalars import short_repr

__all__ = [
    "MISSING",
    "Arguments",
    "Context",
    "Step",
    "Values",
    "aclosing_iter",
    "apply",
    "as_data",
    "closing_iter",
    "describe",
    "is_stream",
    "not_awaitable",
    "per_item",
    "prepare",
]

MISSING: Any = object()
"""The default of optional step arguments that may legitimately be None."""

A = TypeVar("A", contravariant=True)
B = TypeVar("B", covariant=True)
V = TypeVar("V")


class Values(tuple[Any, ...]):
    """A tuple that is data: owt sends it as a JSON array, never reads it as a reply's
    ``(body, status[, headers])``. Equal to, and shown as, the plain tuple it holds."""

    __slots__ = ()


def as_data(value: Any) -> Any:
    """``value``, a plain tuple among them marked as data (:class:`Values`)."""
    return Values(value) if type(value) is tuple else value


class Arguments(dict[str, Any]):
    """A dict of keyword arguments (what ``kwargs()`` gives): a following function whose
    parameters name any of them, or that takes ``**kwargs``, is called with them by name."""


class Context:
    """One run of a pipe: the request, the arguments, and names added by earlier steps.

    ``kwargs`` holds the call's arguments without ``__last__``; ``initial`` is ``__last__``
    (the argument when it was not a dict). ``names`` holds kept objects and imported modules
    (offered to functions by parameter name); ``modules`` holds the imported modules only
    (also offered to functions as globals).
    """

    __slots__ = ("_request", "initial", "kwargs", "modules", "names")

    def __init__(
        self,
        request: Request | None = None,
        kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        given = dict(kwargs or {})
        self._request = request
        self.initial: Any = as_data(given.pop("__last__", None))  # a caller's tuple is data
        self.kwargs: dict[str, Any] = given
        self.names: dict[str, Any] = {}
        self.modules: dict[str, ModuleType] = {}

    @property
    def request(self) -> Request:
        """The request the pipe was called with, else the current call's request."""
        if self._request is not None:
            return self._request
        try:
            return current_request()
        except RuntimeError:
            raise RuntimeError(
                "this step reads the request: call the pipe with a Request as its first "
                "argument, or run it inside an owt call"
            ) from None


class Step(Generic[A, B]):
    """One block of a pipe: ``run(last, ctx)`` turns the previous value into the next.

    Subclasses set ``name`` (the method that builds them) and ``args`` (for ``repr``).
    A :class:`~owt.summat.pipe.Pipe` is itself a step, so pipes nest anywhere a step or a
    function is accepted.
    """

    name: str = "step"
    args: tuple[Any, ...] = ()
    #: True for steps that give what a user's function returned (``f``, ``to(fn)``, a nested
    #: pipe), which owt reads by its usual rules: a plain ``(body, status)`` tuple is a reply.
    #: A tuple any other step gives is data (a JSON array): the pipe marks it as
    #: :class:`Values`.
    gives_replies: bool = False

    def run(self, last: A, ctx: Context) -> B:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(describe(a) for a in self.args)})"


def describe(value: Any) -> str:
    """A short ``repr`` for a step argument: functions by name, the rest as ``repr``."""
    if isinstance(value, Step):
        return repr(value)
    if isinstance(value, _Binding):
        value = value.fn
    if callable(value) and hasattr(value, "__qualname__"):
        return str(value.__qualname__)
    return repr(value)


class _Binding:
    """How to call one function: with the value or not, and which names to fill.

    Only plain Python functions (``def``/``lambda``, and methods of them) get names: their
    first positional parameter receives the value and every further *required* parameter
    is filled by name, from kept/imported names first, then from the call's arguments.
    Parameters with defaults are left alone, so library functions such as ``json.dumps``
    keep behaving as ``fn(value)``; builtins and classes are always called as ``fn(value)``.
    """

    __slots__ = ("any_keyword", "fn", "keywords", "named", "python", "takes_value")

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.python = inspect.isfunction(fn) or inspect.ismethod(fn)
        self.takes_value = True
        self.named: tuple[str, ...] = ()
        self.keywords: frozenset[str] = frozenset()
        self.any_keyword = False
        if not self.python:
            return
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            self.python = False
            return
        by_name = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        self.keywords = frozenset(p.name for p in params if p.kind in by_name)
        self.any_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        first = params[0] if params else None
        self.takes_value = first is not None and (
            first.kind in positional or first.kind is inspect.Parameter.VAR_POSITIONAL
        )
        rest = params[1:] if self.takes_value else params
        self.named = tuple(
            p.name
            for p in rest
            if p.default is inspect.Parameter.empty
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        )

    def __call__(self, last: Any, ctx: Context) -> Any:
        fn = self.fn
        if not self.python:
            return fn(last)
        if ctx.modules:
            # ``importing("numpy")`` makes ``numpy`` usable inside later lambdas; a name the
            # function's module already defines is never replaced.
            glob = getattr(fn, "__globals__", None)
            if glob is None:
                glob = getattr(getattr(fn, "__func__", None), "__globals__", {})
            for key, module in ctx.modules.items():
                glob.setdefault(key, module)
        if isinstance(last, Arguments) and (self.any_keyword or not self.keywords.isdisjoint(last)):
            return self._call_by_name(last, ctx)
        named = {}
        for key in self.named:
            if key in ctx.names:
                named[key] = ctx.names[key]
            elif key in ctx.kwargs:
                named[key] = ctx.kwargs[key]
            else:
                raise TypeError(
                    f"{describe(fn)}() needs {key!r}: the call has no argument and no step "
                    f"kept or imported a name {key!r}"
                )
        return fn(last, **named) if self.takes_value else fn(**named)

    def _call_by_name(self, arguments: Arguments, ctx: Context) -> Any:
        """``kwargs(x=1).f(lambda x, y=2: ...)``: the arguments it names (all of them with
        ``**kwargs``), and kept or imported names for required parameters they lack."""
        given = {k: v for k, v in arguments.items() if self.any_keyword or k in self.keywords}
        for key in self.named:
            if key not in given and key in ctx.names:
                given[key] = ctx.names[key]
        return self.fn(**given)


def apply(fn: Any, last: Any, ctx: Context) -> Any:
    """Run ``fn`` on ``last``: a step or pipe runs with ``ctx``, a function is called."""
    if isinstance(fn, Step):
        return fn.run(last, ctx)
    if isinstance(fn, _Binding):
        return fn(last, ctx)
    if callable(fn):
        return _Binding(fn)(last, ctx)
    raise TypeError(f"expected a function or a pipe, got {type(fn).__name__}: {fn!r}")


def prepare(fn: Any) -> Any:
    """Inspect ``fn`` once when the step is built, not on every call."""
    if isinstance(fn, Step) or not callable(fn):
        return fn
    return _Binding(fn)


def closing_iter(
    source: Any, items: Iterator[A], step: Step[Any, Any] | None = None
) -> Iterator[A]:
    """Yield from ``items``; when closed early, close ``source`` too (a client went away).
    A failure while ``items`` are made is ``step``'s (one of ``source`` has its own step)."""
    try:
        yield from items
    except Exception as exc:
        if step is not None:
            name_step(exc, step)
        raise
    finally:
        close = getattr(source, "close", None)
        if callable(close):
            close()


async def aclosing_iter(
    source: Any, items: AsyncIterator[A], step: Step[Any, Any] | None = None
) -> AsyncIterator[A]:
    """:func:`closing_iter` for an async stream: ``source`` is closed with ``aclose()``."""
    try:
        async for item in items:
            yield item
    except Exception as exc:
        if step is not None:
            name_step(exc, step)
        raise
    finally:
        close = getattr(source, "aclose", None)
        if callable(close):
            await close()


def is_stream(value: Any) -> bool:
    """An iterator (a generator) or an async iterable (an async generator): what the lazy
    steps work on item by item, rather than whole."""
    return isinstance(value, Iterator) or hasattr(value, "__aiter__")


def per_item(step: Step[Any, Any], stream: Any, fn: Callable[[Any], V]) -> Any:
    """``fn(item)`` for each item of ``stream`` as it is pulled: a generator for an iterator,
    an async generator for an async iterable (``async def`` generators mid-pipe)."""
    if hasattr(stream, "__aiter__"):
        return aclosing_iter(stream, _amap(fn, stream), step)
    return closing_iter(stream, map(fn, stream), step)


async def _amap(fn: Callable[[Any], V], stream: AsyncIterable[Any]) -> AsyncIterator[V]:
    async for item in stream:
        yield fn(item)


def not_awaitable(value: V, step: Step[Any, Any], after: str) -> V:
    """``value``, unless it is a coroutine (an ``async def``'s), which nothing here awaits:
    then a TypeError naming ``step``, the function, and ``after`` (what could not use it)."""
    if not inspect.iscoroutine(value):
        return value
    name = value.__qualname__
    value.close()  # never awaited: closed now, not warned about later
    raise TypeError(
        f"{short_repr(step)}: {name} is an async def, and {after} cannot use the coroutine it "
        f"returns: an async def runs only as a pipe's last step (owt awaits it there); "
        f"make {name} a def, or move it to the end of the pipe"
    )
