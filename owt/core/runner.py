"""The one runner: compile (once) → bind → invoke → normalise. Stdlib only.

The same module runs in the server's threads, in worker processes of other virtualenvs and in
Ray actors; only the ``offload`` function handed to :meth:`Runner.run` differs (how sync user
code leaves the event loop). A warm call does no ``ast.parse``, ``compile`` or ``exec``: code
is keyed by its sha256 and its module is kept in a bounded LRU.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import linecache
import sys
import threading
import traceback
import types
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from owt.core.call import Call, Reply
from owt.core.context import using_call
from owt.core.results import encode_chunk, is_stream, parts_of, reply_for_body, stream_reply
from owt.exceptions import AdaptorError, BadRequest, CompileError, NoFunction, OwtError

__all__ = ["Adaptor", "Offload", "Runner", "Target", "error_reply", "shape_of"]

T = TypeVar("T")
Offload = Callable[[Callable[[], T]], Awaitable[T]]

_CORE_DIR = str(Path(__file__).parent)
_REQUEST_NAMES = ("request", "_")
_prelude_cache: dict[str, Any] = {}


def _prelude() -> dict[str, Any]:
    """The names every adaptor sees without imports (``from owt import *``)."""
    if not _prelude_cache:
        import owt

        _prelude_cache.update({name: getattr(owt, name) for name in owt.__all__})
    return _prelude_cache


def _terse_steps() -> frozenset[str]:
    from owt.summat import STEPS

    return STEPS - {"pipe"}


@dataclass
class Target:
    """A callable found in compiled code, with what binding needs to know about it."""

    fn: Callable[..., Any]
    signature: inspect.Signature | None
    wants_request: bool
    accepts_any: bool
    names: frozenset[str]
    first: str | None
    is_async: bool = False
    #: Required keyword-passable names, when the signature is plain enough to check arguments
    #: with two set operations (no ``*args``, nothing positional-only after the request).
    required: frozenset[str] | None = None


@dataclass
class Adaptor:
    """Compiled code: its module, its shape and, for expression shapes, the value."""

    sha256: str
    shape: str
    module: types.ModuleType
    value: Any = None
    targets: dict[str, Target] = field(default_factory=dict)


def shape_of(tree: ast.Module) -> str:
    """``explicit`` (a module), ``implicit`` (one expression) or ``terse`` (a pipe's tail)."""
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return "explicit"
    root = _chain_root(tree.body[0].value)
    if (
        isinstance(root, ast.Call)
        and isinstance(root.func, ast.Name)
        and root.func.id in _terse_steps()
    ):
        return "terse"
    return "implicit"


def _chain_root(node: ast.expr) -> ast.expr:
    """The innermost call of ``a(...).b(...).c`` — the ``a(...)``."""
    while True:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            node = node.func.value
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        else:
            return node


def _make_terse_explicit(expr: ast.expr) -> None:
    root = _chain_root(expr)
    assert isinstance(root, ast.Call) and isinstance(root.func, ast.Name)
    start = ast.Call(func=ast.Name(id="pipe", ctx=ast.Load()), args=[], keywords=[])
    root.func = ast.Attribute(value=start, attr=root.func.id, ctx=ast.Load())
    ast.fix_missing_locations(expr)


def _target(fn: Any) -> Target:
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
    named = [
        p
        for p in rest
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    plain = all(
        p.kind is not inspect.Parameter.VAR_POSITIONAL
        and (p.kind is not inspect.Parameter.POSITIONAL_ONLY or p.default is not p.empty)
        for p in rest
    )
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
    )


def _accepts(target: Target) -> str:
    return ", ".join(sorted(target.names)) or "nothing"


def _check_names(target: Target, kwargs: dict[str, Any]) -> None:
    """What ``Signature.bind`` would say, for plain signatures, at a fraction of its cost."""
    assert target.required is not None
    if not target.accepts_any:
        unknown = kwargs.keys() - target.names
        if unknown:
            names = ", ".join(repr(n) for n in sorted(unknown))
            raise BadRequest(
                f"unexpected argument(s) {names} (it accepts: {_accepts(target)})",
                field="kwargs",
            )
    missing = target.required - kwargs.keys()
    if missing:
        names = ", ".join(repr(n) for n in sorted(missing))
        raise BadRequest(
            f"missing required argument(s) {names} (it accepts: {_accepts(target)})",
            field="kwargs",
        )


def _user_traceback(exc: BaseException) -> str:
    """The traceback without the runner's own frames."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_CORE_DIR)
    ]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(lines)


def adaptor_error(exc: BaseException) -> AdaptorError:
    return AdaptorError(
        f"{type(exc).__name__}: {exc}", type=type(exc).__name__, traceback=_user_traceback(exc)
    )


def error_reply(err: OwtError) -> Reply:
    return Reply(err.status, err.headers(), err.body())


#: What user code may raise that must cost one call, not the process. Cancellation
#: (``asyncio.CancelledError``) and ``GeneratorExit`` are deliberately not here.
USER_ERRORS = (Exception, SystemExit, KeyboardInterrupt)


class Runner:
    """Compiles and runs adaptors; holds at most ``max_adaptors`` compiled codes."""

    def __init__(self, max_adaptors: int = 256) -> None:
        self.max_adaptors = max_adaptors
        self._adaptors: OrderedDict[str, Adaptor] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.compiles = 0

    # -- compiling -------------------------------------------------------------------------

    def cached(self, call: Call) -> Target | None:
        """The warm target for this call, or None. Never runs user code."""
        adaptor = self._adaptors.get(call.sha256)
        if adaptor is None:
            return None
        target = adaptor.targets.get(call.fn_name)
        if target is not None:
            try:
                self._adaptors.move_to_end(call.sha256)
            except KeyError:  # evicted by another thread just now
                pass
        return target

    def target(self, call: Call) -> Target:
        """The target for this call, compiling the code first if needed (runs top-level code)."""
        warm = self.cached(call)
        if warm is not None:
            return warm
        with self._guard:
            lock = self._locks.setdefault(call.sha256, threading.Lock())
        with lock:
            adaptor = self._adaptors.get(call.sha256)
            if adaptor is None:
                adaptor = self._compile(call)
                with self._guard:
                    self._adaptors[call.sha256] = adaptor
                    self._evict()
            target = adaptor.targets.get(call.fn_name)
            if target is None:
                target = self._find(adaptor, call.fn_name)
                adaptor.targets[call.fn_name] = target
            return target

    def _evict(self) -> None:
        while len(self._adaptors) > self.max_adaptors:
            sha, old = self._adaptors.popitem(last=False)
            self._locks.pop(sha, None)
            sys.modules.pop(old.module.__name__, None)
            linecache.cache.pop(old.module.__file__ or "", None)

    def _compile(self, call: Call) -> Adaptor:
        filename = call.filename or f"<owt:{call.sha256[:12]}>"
        try:
            tree = ast.parse(call.code, filename)
        except SyntaxError as exc:
            raise CompileError(
                f"SyntaxError: {exc.msg}",
                line=exc.lineno,
                column=exc.offset,
                traceback="".join(traceback.format_exception_only(type(exc), exc)),
            )
        shape = shape_of(tree)
        name = f"owt_adaptor_{call.sha256[:16]}"
        module = types.ModuleType(name)
        module.__file__ = filename
        module.__dict__.update(_prelude())
        module.__dict__["__builtins__"] = builtins
        linecache.cache[filename] = (len(call.code), None, call.code.splitlines(True), filename)
        value = None
        self.compiles += 1
        try:
            if shape == "explicit":
                sys.modules[name] = module
                exec(compile(tree, filename, "exec"), module.__dict__)
            else:
                expr = tree.body[0]
                assert isinstance(expr, ast.Expr)
                if shape == "terse":
                    _make_terse_explicit(expr.value)
                code = compile(ast.Expression(expr.value), filename, "eval")
                value = eval(code, module.__dict__)
        except USER_ERRORS as exc:
            sys.modules.pop(name, None)
            raise CompileError(
                f"the code's top level raised {type(exc).__name__}: {exc}",
                traceback=_user_traceback(exc),
            )
        return Adaptor(call.sha256, shape, module, value)

    def _find(self, adaptor: Adaptor, fn_name: str) -> Target:
        if adaptor.shape == "explicit":
            fn = adaptor.module.__dict__.get(fn_name)
            if fn is None:
                raise NoFunction(f"the code defines no function {fn_name!r}", fn_name=fn_name)
        else:
            fn = adaptor.value
        try:
            return _target(fn)
        except TypeError:
            raise NoFunction(
                f"{fn_name!r} is a {type(fn).__name__}, not a function", fn_name=fn_name
            )

    # -- binding ---------------------------------------------------------------------------

    def arguments(self, target: Target, call: Call) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Positional and keyword arguments for the target; BadRequest when they do not fit."""
        kwargs = call.kwargs
        if call.kwargs_expr is not None:
            kwargs = _evaluate(call.kwargs_expr)
        if call.typed and target.signature is not None:
            from owt.core.typed import convert_arguments

            kwargs = convert_arguments(target.fn, kwargs)
        args: tuple[Any, ...] = (call.request,) if target.wants_request else ()
        if target.signature is None:
            return args, kwargs
        if "__last__" in kwargs and not target.accepts_any and "__last__" not in target.names:
            kwargs = dict(kwargs)
            last = kwargs.pop("__last__")
            if target.first is None:
                raise BadRequest("the function takes no arguments", field="kwargs")
            kwargs[target.first] = last
        if target.required is not None:
            _check_names(target, kwargs)
            return args, kwargs
        try:
            target.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise BadRequest(f"{exc} (it accepts: {_accepts(target)})", field="kwargs")
        return args, kwargs

    # -- running ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "compiles": self.compiles,
            "adaptors": [
                {"sha256": a.sha256, "shape": a.shape, "functions": sorted(a.targets)}
                for a in list(self._adaptors.values())
            ],
        }

    def start(self, call: Call) -> Any:
        """Compile if needed, bind and call: the raw result. Runs user code (off the loop)."""
        target = self.target(call)
        args, kwargs = self.arguments(target, call)
        with using_call(call):
            try:
                return target.fn(*args, **kwargs)
            except OwtError:
                raise
            except USER_ERRORS as exc:
                raise adaptor_error(exc)

    def settle(self, call: Call, result: Any) -> Reply | None:
        """A Reply for a sync result (peeks a stream's first chunk), or None if it is async."""
        body, status, headers = parts_of(result)
        if inspect.isawaitable(body) or hasattr(body, "__anext__"):
            return None
        if not is_stream(body):
            try:
                return reply_for_body(body, status, headers)
            except TypeError as exc:
                raise adaptor_error(exc)
        stream = SyncStream(call, body)
        try:
            first = stream.pull()
        except StopIteration:
            return reply_for_body(b"", status, headers)
        return stream_reply(stream, first, status, headers)

    async def run(self, call: Call, offload: Offload[Any]) -> Reply:
        """Run a call to its Reply; the stream (if any) is an async iterator of bytes.

        Sync user code (top-level code, sync functions, each ``next`` of a sync generator)
        runs through ``offload``; coroutines and async generators run on the caller's loop.
        """
        try:
            target = self.cached(call)
            if (
                target is not None
                and target.is_async
                and call.kwargs_expr is None
                and not call.typed
            ):
                args, kwargs = self.arguments(target, call)
                with using_call(call):
                    result = target.fn(*args, **kwargs)
            else:
                result = await offload(lambda: self._start_and_settle(call))
                if isinstance(result, Reply):
                    return _async_reply(result, offload)
            return await self._settle_async(call, result, offload)
        except OwtError as err:
            return error_reply(err)

    def _start_and_settle(self, call: Call) -> Any:
        result = self.start(call)
        reply = self.settle(call, result)
        return result if reply is None else reply

    async def _settle_async(self, call: Call, result: Any, offload: Offload[Any]) -> Reply:
        with using_call(call):
            try:
                if inspect.isawaitable(result):
                    result = await result
                body, status, headers = parts_of(result)
                if inspect.isawaitable(body):
                    body = await body
            except OwtError:
                raise
            except USER_ERRORS as exc:
                raise adaptor_error(exc)
        if not hasattr(body, "__anext__"):
            # A plain value or a sync iterator from async code: settle it off the loop.
            reply = await offload(lambda: self.settle(call, (body, status, headers)))
            return _async_reply(reply, offload)
        stream = AsyncStream(call, body)
        try:
            first = await stream.pull()
        except StopAsyncIteration:
            return reply_for_body(b"", status, headers)
        return stream_reply(stream, first, status, headers)


def _async_reply(reply: Reply, offload: Offload[Any]) -> Reply:
    if isinstance(reply.stream, SyncStream):
        reply.stream = reply.stream.asynchronous(offload)
    return reply


def _evaluate(text: str) -> dict[str, Any]:
    try:
        value = eval(text, {"__builtins__": builtins}, {})
    except USER_ERRORS as exc:
        raise BadRequest(f"the arguments did not evaluate: {exc}", field="kwargs_b64")
    return value if isinstance(value, dict) else {"__last__": value}


class SyncStream(Iterator[Any]):
    """A sync iterator run with the call's context; closed at most once, never mid-``next``."""

    def __init__(self, call: Call, iterator: Any) -> None:
        self.call = call
        self.iterator = iter(iterator)
        self._lock = threading.Lock()
        self._closed = False

    def pull(self) -> Any:
        with self._lock, using_call(self.call):
            if self._closed:
                raise StopIteration
            try:
                return next(self.iterator)
            except StopIteration:
                raise
            except OwtError:
                raise
            except USER_ERRORS as exc:
                raise adaptor_error(exc)

    def __next__(self) -> bytes:
        return encode_chunk(self.pull())

    def close(self) -> None:
        """Close the iterator (its ``finally`` runs) once any ``next`` in flight returns."""
        with self._lock, using_call(self.call):
            if self._closed:
                return
            self._closed = True
            close = getattr(self.iterator, "close", None)
            if close is not None:
                try:
                    close()
                except USER_ERRORS:
                    pass

    def asynchronous(self, offload: Offload[Any]) -> AsyncIterator[bytes]:
        return _AsyncOfSync(self, offload)


class _AsyncOfSync(AsyncIterator[bytes]):
    """Iterates a SyncStream off the loop; ``aclose`` closes it in a background thread."""

    def __init__(self, stream: SyncStream, offload: Offload[Any]) -> None:
        self.stream = stream
        self.offload = offload
        self.finished = False

    async def __anext__(self) -> bytes:
        chunk = await self.offload(self._next)
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    def _next(self) -> bytes | None:
        try:
            return next(self.stream)
        except StopIteration:
            self.finished = True
            return None

    async def aclose(self) -> None:
        # No await here: a cancelled consumer must still get the generator closed, and the
        # close waits for a ``next`` that may still be running in another thread.
        if not self.finished:
            threading.Thread(target=self.stream.close, daemon=True).start()


class AsyncStream(AsyncIterator[bytes]):
    """An async iterator of user chunks, encoded, with the call's context."""

    def __init__(self, call: Call, iterator: Any) -> None:
        self.call = call
        self.iterator = iterator

    async def pull(self) -> Any:
        with using_call(self.call):
            try:
                return await self.iterator.__anext__()
            except (StopAsyncIteration, OwtError):
                raise
            except USER_ERRORS as exc:
                raise adaptor_error(exc)

    async def __anext__(self) -> bytes:
        return encode_chunk(await self.pull())

    async def aclose(self) -> None:
        close = getattr(self.iterator, "aclose", None)
        if close is not None:
            with using_call(self.call):
                try:
                    await close()
                except USER_ERRORS:
                    pass
