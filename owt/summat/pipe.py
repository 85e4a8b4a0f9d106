"""``Pipe``: an adaptor built in one expression, one step per method.

    >>> shout = pipe().kwarg("name").f(str.upper).f(lambda s: f"HELLO, {s}!")
    >>> shout(name="owt")
    'HELLO, OWT!'

Every method returns a new pipe and leaves its receiver alone, so a prefix can be shared:
``base = pipe().json()`` then ``base.get("a")`` and ``base.get("b")``. A pipe is called like
an adaptor — ``p(request, **kwargs)`` — and is itself a step, so pipes nest wherever a step
or a function is taken (``f``, ``cond``, ``fork``, ``each``, ``map``, ``to``).
"""

from __future__ import annotations

import builtins
import inspect
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, overload

from owt.core.call import Request, Response
from owt.core.failures import name_step
from owt.core.scalars import short_repr
from owt.summat import effects, ml, sources, transforms
from owt.summat.step import (
    MISSING,
    Context,
    Step,
    aclosing_iter,
    as_data,
    closing_iter,
    not_awaitable,
)

__all__ = ["STEPS", "Pipe", "pipe"]

T = TypeVar("T", covariant=True)
U = TypeVar("U")
V = TypeVar("V")


class Pipe(Step[Any, T]):
    """A sequence of steps, run in order on a value (see the module docstring)."""

    name = "pipe"
    gives_replies = True  # its own steps have marked their data already

    def __init__(self, steps: tuple[Step[Any, Any], ...] = ()) -> None:
        self.steps = steps

    # -- running ---------------------------------------------------------------------------

    def __call__(self, request: Request | None = None, /, **kwargs: Any) -> T:
        """Run the pipe: ``request`` feeds ``input``/``path``/``query``/``json`` (else the
        current call's request is used) and ``kwargs`` are the call's arguments; the first
        value is ``kwargs["__last__"]`` (a call's argument that was not a dict) or None."""
        if request is not None and not _is_request(request):
            raise TypeError(
                f"a pipe takes a Request (or None) first, got {type(request).__name__}; "
                "pass a plain starting value as __last__=value"
            )
        ctx = Context(request, kwargs)
        return self.run(ctx.initial, ctx)

    def run(self, last: Any, ctx: Context) -> T:
        steps = self.steps
        for index, step in enumerate(steps, 1):
            try:
                value = step.run(last, ctx)
                if step.gives_replies and index < len(steps):
                    after = f"the next step, {short_repr(steps[index])},"
                    value = not_awaitable(value, step, after)
            except Exception as exc:
                name_step(exc, step)  # "map(str.upper): TypeError: ..."
                raise
            if step.gives_replies:
                last = _naming_failures(value, step)
            else:
                # A tuple a step made (``fork``, ``const``, ``ix``...) is data, sent as a JSON
                # array; only a user's function may return a reply's ``(body, status)``. A
                # value passed through unchanged keeps what it was.
                last = value if value is last else as_data(value)
        return last

    def done(self) -> Callable[..., T]:
        """A plain function ``run(request=None, /, **kwargs)`` running this pipe."""
        whole = self

        def run(request: Request | None = None, /, **kwargs: Any) -> T:
            return whole(request, **kwargs)

        run.__doc__ = f"Runs {whole!r}."
        return run

    # -- composing -------------------------------------------------------------------------

    @overload
    def to(self, step: Step[Any, U]) -> Pipe[U]: ...
    @overload
    def to(self, step: Callable[[T], U]) -> Pipe[U]: ...
    def to(self, step: Any) -> Pipe[Any]:
        """Append a step, a pipe (run as one step) or a function (as ``f(fn)``)."""
        if not isinstance(step, Step):
            if not callable(step):
                raise TypeError(f"to(): expected a step, a pipe or a function, got {step!r}")
            step = transforms.F(step)
        return Pipe((*self.steps, step))

    def __repr__(self) -> str:
        return "pipe()" + "".join(f".{step!r}" for step in self.steps)

    # -- sources ---------------------------------------------------------------------------

    def kwarg(self, name: str, default: Any = MISSING) -> Pipe[Any]:
        """The argument ``name``: ``kwarg("name")`` with ``name="owt"`` → ``"owt"``."""
        return self.to(sources.Kwarg(name, default))

    def kwargs(self, **defaults: Any) -> Pipe[dict[str, Any]]:
        """All arguments over defaults: ``kwargs(lang="en")`` → ``{"lang": "en", ...}``."""
        return self.to(sources.Kwargs(defaults))

    def last(self) -> Pipe[Any]:
        """The last item of the value: ``last()`` on ``["a", "b"]`` → ``"b"`` (an iterator's
        final item; ``path().last()`` on ``/one/two/three`` → ``"three"``)."""
        return self.to(sources.Last())

    def const(self, value: U) -> Pipe[U]:
        """Always ``value``: ``const(42)`` → ``42``."""
        return self.to(sources.Const(value))

    @overload
    def input(self) -> Pipe[builtins.bytes]: ...
    @overload
    def input(self, encoding: str) -> Pipe[str]: ...
    def input(self, encoding: str | None = None) -> Pipe[Any]:
        """The request body: bytes, or str decoded with ``encoding``."""
        return self.to(sources.Input(encoding))

    def path(self) -> Pipe[list[str]]:
        """The request path's segments: ``/hello/owt`` → ``["hello", "owt"]``."""
        return self.to(sources.Path())

    def query(self) -> Pipe[dict[str, str]]:
        """The query string (first values, owt's call fields left out) as a dict."""
        return self.to(sources.Query())

    def json(self) -> Pipe[Any]:
        """The request body as JSON (owt's call fields left out), or None."""
        return self.to(sources.Json())

    # -- transforms ------------------------------------------------------------------------

    @overload
    def f(self, fn: Pipe[U]) -> Pipe[U]: ...
    @overload
    def f(self, fn: Callable[[T], U]) -> Pipe[U]: ...
    @overload
    def f(self, fn: Callable[..., U]) -> Pipe[U]: ...
    def f(self, fn: Any) -> Pipe[Any]:
        """``fn(value)``; a ``def``/``lambda`` also gets its further required parameters by
        name (kept/imported names, then the call's arguments); a pipe runs on the value."""
        return self.to(transforms.F(fn))

    def cast(self, to: Callable[[Any], U]) -> Pipe[U]:
        """Convert: ``cast(int)`` on ``"42"`` → ``42`` (an instance passes unchanged)."""
        return self.to(transforms.Cast(to))

    def exec(self, fn: Callable[..., Any] | Step[Any, Any]) -> Pipe[T]:
        """Call ``fn`` for its side effect; the value passes through."""
        return self.to(transforms.Exec(fn))

    def identity(self) -> Pipe[T]:
        """The value, unchanged."""
        return self.to(transforms.Identity())

    def clear(self) -> Pipe[None]:
        """None."""
        return self.to(transforms.Clear())

    def ix(self, index: Any) -> Pipe[Any]:
        """``value[index]``: ``ix(0)`` on ``["a", "b"]`` → ``"a"``."""
        return self.to(transforms.Ix(index))

    def get(self, key: str, default: Any = MISSING) -> Pipe[Any]:
        """An item of a mapping or an attribute: ``get("a")`` on ``{"a": 1}`` → ``1``."""
        return self.to(transforms.Get(key, default))

    def map(self, fn: Callable[[Any], U] | Pipe[U]) -> Pipe[list[U]]:
        """``[fn(x) for x in value]``, eagerly."""
        return self.to(transforms.Map(fn))

    def foldl(self, fn: Callable[[U, Any], U], acc: U) -> Pipe[U]:
        """Left fold: ``foldl(operator.add, 0)`` on ``[1, 2, 3]`` → ``6``."""
        return self.to(transforms.Foldl(fn, acc))

    def foldl1(self, fn: Callable[[Any, Any], Any]) -> Pipe[Any]:
        """Left fold seeded by the first item: ``foldl1(max)`` on ``[3, 9, 4]`` → ``9``."""
        return self.to(transforms.Foldl1(fn))

    def bytes(self) -> Pipe[builtins.bytes]:
        """The bytes owt would send for the value: ``"hé"`` → ``b"h\\xc3\\xa9"``."""
        return self.to(transforms.Bytes())

    def cond(self, first: Any, second: Any, third: Any = MISSING) -> Pipe[Any]:
        """``cond(then, else_)``: ``then`` if the value is true, else ``else_``;
        ``cond(pred, then, else_)``: by ``pred(value)``. Branches are functions or pipes
        run on the value, or plain values."""
        return self.to(transforms.Cond(first, second, third))

    def fork(
        self, left: Callable[..., U] | Pipe[U], right: Callable[..., V] | Pipe[V]
    ) -> Pipe[tuple[U, V]]:
        """Both on the same value: ``fork(len, str.upper)`` on ``"ab"`` → ``(2, "AB")``."""
        return self.to(transforms.Fork(left, right))

    # -- effects ---------------------------------------------------------------------------

    @overload
    def open(self, root_dir: str | os.PathLike[str] = ...) -> Pipe[builtins.bytes]: ...
    @overload
    def open(self, root_dir: str | os.PathLike[str] = ..., *, encoding: str) -> Pipe[str]: ...
    def open(
        self, root_dir: str | os.PathLike[str] = ".", *, encoding: str | None = None
    ) -> Pipe[Any]:
        """The bytes (or text, with ``encoding``) of the file the value names, refusing any
        path that leaves ``root_dir``."""
        return self.to(effects.Open(root_dir, encoding))

    def importing(self, *modules: str) -> Pipe[T]:
        """Import modules for later functions: ``importing("numpy as np")``."""
        return self.to(effects.Importing(*modules))

    def installing(self, *packages: str) -> Pipe[T]:
        """pip-install packages (only on a server started with ``--allow-install``)."""
        return self.to(effects.Installing(*packages))

    def shell(
        self, *, cwd: str | None = None, timeout: float | None = None
    ) -> Pipe[builtins.bytes]:
        """Run the value as a command: ``"echo hi"`` → ``b"hi\\n"``; non-zero exit raises."""
        return self.to(effects.Shell(cwd=cwd, timeout=timeout))

    # -- ML helpers ------------------------------------------------------------------------

    @overload
    def sentences(self: Pipe[str | builtins.bytes]) -> Pipe[list[str]]: ...
    @overload
    def sentences(self: Pipe[Iterator[str]]) -> Pipe[Iterator[str]]: ...
    def sentences(self) -> Pipe[Any]:
        """Split text into sentences (lazily for a stream of chunks)."""
        return self.to(ml.Sentences())

    @overload
    def batch(self: Pipe[Iterator[U]], size: int) -> Pipe[Iterator[list[U]]]: ...  # type: ignore[overload-overlap]
    @overload
    def batch(self: Pipe[Iterable[U]], size: int) -> Pipe[list[list[U]]]: ...
    def batch(self, size: int) -> Pipe[Any]:
        """Lists of ``size`` items: ``batch(2)`` on ``[1, 2, 3]`` → ``[[1, 2], [3]]``."""
        return self.to(ml.Batch(size))

    @overload
    def each(self, fn: Pipe[V]) -> Pipe[Iterator[V]]: ...
    @overload
    def each(self: Pipe[Iterable[U]], fn: Callable[[U], V]) -> Pipe[Iterator[V]]: ...
    @overload
    def each(self, fn: Callable[..., V]) -> Pipe[Iterator[V]]: ...
    def each(self, fn: Any) -> Pipe[Iterator[Any]]:
        """A lazy generator of ``fn(item)``, computed as the response streams."""
        return self.to(ml.Each(fn))

    def sse(self) -> Pipe[Response]:
        """Stream the items as server-sent events, ending with the event ``id: [DONE]``."""
        return self.to(ml.Sse())

    def json_out(self) -> Pipe[Response]:
        """An ``application/json`` response (JSON lines for an iterator)."""
        return self.to(ml.JsonOut())

    @overload
    def b64(self: Pipe[Iterator[Any]]) -> Pipe[Iterator[str]]: ...  # type: ignore[overload-overlap]
    @overload
    def b64(self) -> Pipe[str]: ...
    def b64(self) -> Pipe[Any]:
        """Base64 text of the value's bytes: ``b"hi"`` → ``"aGk="`` (per item if streamed)."""
        return self.to(ml.B64())

    @overload
    def wav(  # type: ignore[overload-overlap]
        self: Pipe[Iterator[Any]], rate: int, channels: int = ...
    ) -> Pipe[Iterator[builtins.bytes]]: ...
    @overload
    def wav(self, rate: int, channels: int = ...) -> Pipe[builtins.bytes]: ...
    def wav(self, rate: int, channels: int = 1) -> Pipe[Any]:
        """Samples → a 16-bit PCM WAV file (per clip if streamed)."""
        return self.to(ml.Wav(rate, channels))

    def keep(self, name: str, factory: Callable[[], Any]) -> Pipe[T]:
        """Build ``factory()`` once per process; later functions get it as parameter ``name``."""
        return self.to(ml.Keep(name, factory))


def _naming_failures(value: Any, step: Step[Any, Any]) -> Any:
    """A user's generator, whose failures while it is pulled are ``step``'s."""
    if inspect.isgenerator(value):
        return closing_iter(value, value, step)
    if inspect.isasyncgen(value):
        return aclosing_iter(value, value, step)
    return value


def _is_request(value: object) -> bool:
    # Duck-typed as well, so a request snapshot from another copy of owt still counts.
    return isinstance(value, Request) or (hasattr(value, "path") and hasattr(value, "headers"))


def pipe(*steps: Step[Any, Any] | Callable[[Any], Any]) -> Pipe[Any]:
    """A new pipe, empty or made of ``steps`` (steps, pipes or functions, in order).

    Its first value is the call's ``__last__`` (None when the arguments were a dict).
    """
    built: Pipe[Any] = Pipe()
    for step in steps:
        built = built.to(step)
    return built


STEPS: frozenset[str] = frozenset(
    name
    for name, member in vars(Pipe).items()
    if callable(member) and not name.startswith("_") and name not in {"run", "done", "to"}
)
"""Every method that adds a step — the names a terse adaptor (``path().f(...)``) may start
with."""
