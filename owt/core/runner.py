"""The one runner: compile (once) → bind → invoke → normalise. Stdlib only.

The same module runs in the server's threads, in worker processes of other virtualenvs and in
Ray actors; only the ``offload`` function handed to :meth:`Runner.run` differs (how sync user
code leaves the event loop). A warm call does no ``ast.parse``, ``compile`` or ``exec``: code
is keyed by its sha256 and its module is kept in a bounded LRU.
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import linecache
import sys
import threading
import types
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from owt.core.binding import Target, bind_arguments, target_of
from owt.core.call import Call, Reply
from owt.core.compiling import compile_code
from owt.core.context import using_call
from owt.core.errors import CompileError, NoFunction, OwtError
from owt.core.failures import (
    SYNC_USER_ERRORS,
    USER_ERRORS,
    adaptor_error,
    hint,
    raised_by_adaptor,
    user_traceback,
)
from owt.core.libs import Library, LibraryError, Stamp
from owt.core.results import PLAIN_RESULTS, is_stream, parts_of, reply_for_body, stream_reply
from owt.core.shapes import shape_of, terse_step
from owt.core.streams import AsyncStream, Offload, SyncStream

__all__ = ["Adaptor", "Offload", "Runner", "SyncStream", "Target", "shape_of"]
_prelude_cache: dict[str, Any] = {}


def _prelude() -> dict[str, Any]:
    """The names every adaptor sees without imports (``from owt import *``)."""
    if not _prelude_cache:
        import owt

        _prelude_cache.update({name: getattr(owt, name) for name in owt.__all__})
    return _prelude_cache


@dataclass
class Adaptor:
    """Compiled code: its module, its shape and, for expression shapes, the value."""

    sha256: str
    shape: str
    module: types.ModuleType
    value: Any = None
    targets: dict[str, Target] = field(default_factory=dict)
    libs: tuple[Stamp, ...] = ()  # the lib modules it names, as loaded


class Runner:
    """Compiles and runs adaptors; holds at most ``max_adaptors`` compiled codes.

    ``lib`` are the folders of wrapper modules in scope by name (:mod:`owt.core.libs`);
    None reads them from ``OWT_LIB_PATH``, as worker processes and Ray actors do.
    """

    def __init__(self, max_adaptors: int = 256, lib: Sequence[str] | None = None) -> None:
        self.max_adaptors = max_adaptors
        self.library = Library(lib)
        self._adaptors: OrderedDict[str, Adaptor] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._precompiled: dict[str, tuple[str, types.CodeType]] = {}
        self.compiles = 0

    # -- compiling -------------------------------------------------------------------------

    def cached(self, call: Call) -> Target | None:
        """The warm target for this call, or None. Never runs user code."""
        adaptor = self._adaptors.get(call.sha256)
        if adaptor is None or (adaptor.libs and self.library.stale(adaptor.libs)):
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
            if adaptor is None or (adaptor.libs and self.library.stale(adaptor.libs)):
                adaptor = self._compile(call)
                with self._guard:
                    self._adaptors[call.sha256] = adaptor
                    self._evict()
            target = adaptor.targets.get(call.fn_name)
            if target is None:
                target = self._find(adaptor, call.fn_name, endpoint=call.typed)
                adaptor.targets[call.fn_name] = target
            return target

    def _evict(self) -> None:
        while len(self._adaptors) > self.max_adaptors:
            sha, old = self._adaptors.popitem(last=False)
            self._locks.pop(sha, None)
            sys.modules.pop(old.module.__name__, None)
            linecache.cache.pop(old.module.__file__ or "", None)

    def knows(self, sha256: str) -> bool:
        """True when this code is compiled here already (for some function of it)."""
        return sha256 in self._adaptors

    @staticmethod
    def filename(call: Call) -> str:
        """The name an adaptor's code is compiled under (its tracebacks name it)."""
        return call.filename or f"<owt:{call.sha256[:12]}>"

    def adopt(self, sha256: str, compiled: tuple[str, types.CodeType]) -> None:
        """Use ``compiled`` (compiled elsewhere: owt.core.compiling) for this code's next
        compile instead of compiling it here."""
        with self._guard:
            self._precompiled[sha256] = compiled

    def _compile(self, call: Call) -> Adaptor:
        filename = self.filename(call)
        with self._guard:
            compiled = self._precompiled.pop(call.sha256, None)
        shape, code = compiled or compile_code(call.code, filename)
        name = f"owt_adaptor_{call.sha256[:16]}"
        module = types.ModuleType(name)
        module.__file__ = filename
        module.__dict__.update(_prelude())
        module.__dict__["__builtins__"] = builtins
        linecache.cache[filename] = (len(call.code), None, call.code.splitlines(True), filename)
        value = None
        self.compiles += 1
        try:
            libs = self.library.bind(code, module.__dict__) if self.library else ()
            if shape == "explicit":
                sys.modules[name] = module
                exec(code, module.__dict__)
            else:
                value = eval(code, module.__dict__)
        except LibraryError as exc:  # a --lib file's fault, named as such
            sys.modules.pop(name, None)
            cause = exc.__cause__
            raise CompileError(str(exc), traceback=user_traceback(cause or exc))
        except SYNC_USER_ERRORS as exc:  # on a thread: whatever it raises is the adaptor's
            sys.modules.pop(name, None)
            advice = hint(exc) or (_as_helper(call.code) if shape == "terse" else "")
            raise CompileError(
                f"the code's top level raised {type(exc).__name__}: {exc}{advice}",
                traceback=user_traceback(exc),
            )
        return Adaptor(call.sha256, shape, module, value, libs=libs)

    def _find(self, adaptor: Adaptor, fn_name: str, endpoint: bool = False) -> Target:
        if adaptor.shape == "explicit":
            fn = adaptor.module.__dict__.get(fn_name)
            if fn is None:
                message = _no_function(adaptor.module, fn_name, endpoint)
                raise NoFunction(message, fn_name=fn_name)
        else:
            fn = adaptor.value
        try:
            return target_of(fn)
        except TypeError:
            if adaptor.shape == "explicit":
                message = f"{fn_name!r} is {_a_kind(fn)}, not a function"
            else:
                shown = repr(fn)
                shown = shown if len(shown) <= 40 else shown[:37] + "..."
                message = (
                    f"the code is one expression whose value is {shown} ({_a_kind(fn)}), "
                    "not a function: make the expression a function (lambda: ...) or define "
                    f"def {fn_name}(...)"
                )
            raise NoFunction(message, fn_name=fn_name)

    # -- binding ---------------------------------------------------------------------------

    def arguments(self, target: Target, call: Call) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Positional and keyword arguments for the target; BadRequest when they do not fit."""
        return bind_arguments(target, call)

    # -- running ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "compiles": self.compiles,
            "adaptors": [
                {"sha256": a.sha256, "shape": a.shape, "functions": sorted(a.targets)}
                for a in list(self._adaptors.values())
            ],
        }

    def start(self, call: Call, target: Target | None = None) -> Any:
        """Compile if needed, bind and call: the raw result. Runs user code (off the loop)."""
        if target is None:
            target = self.target(call)
        args, kwargs = self.arguments(target, call)
        with using_call(call):
            try:
                return target.fn(*args, **kwargs)
            except OwtError:
                raise
            except SYNC_USER_ERRORS as exc:  # on a thread: even a CancelledError is its own
                raise adaptor_error(exc)

    def settle(self, call: Call, result: Any) -> Reply | None:
        """A Reply for a sync result (peeks a stream's first chunk), or None if it is async."""
        if type(result) in PLAIN_RESULTS:  # the common case, without the general checks
            return reply_for_body(result)
        body, status, headers = parts_of(result)
        if inspect.isawaitable(body) or hasattr(body, "__anext__"):
            return None
        if not is_stream(body):
            try:
                accept = call.request.headers.get("accept", "")
                return reply_for_body(body, status, headers, accept)
            except TypeError as exc:
                raise adaptor_error(exc)
        stream = SyncStream(call, body)
        try:
            first = stream.pull()
        except StopIteration:
            return reply_for_body(b"", status, headers)
        return stream_reply(stream, first, status, headers)

    async def run(
        self,
        call: Call,
        offload: Offload[Any],
        on_async: Callable[[Call, Any], Awaitable[Reply]] | None = None,
    ) -> Reply:
        """Run a call to its Reply; the stream (if any) is an async iterator of bytes.

        Sync user code (top-level code, sync functions, each ``next`` of a sync generator)
        runs through ``offload``; coroutines and async generators run on the caller's loop —
        or, given ``on_async``, what a sync function returns that is async (an awaitable, an
        async iterator) goes to ``on_async`` to be settled (by :meth:`settle_async`) on a
        loop that may run user code.
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
                result = target.fn(*args, **kwargs)  # a coroutine: its body runs when awaited
            else:
                result = await offload(lambda: self._start_and_settle(call, target))
                if isinstance(result, Reply):
                    return _async_reply(result, offload)
                if on_async is not None:
                    return await on_async(call, result)
            return await self.settle_async(call, result, offload)
        except OwtError as err:
            return err.reply()

    def run_blocking(
        self,
        call: Call,
        offload: Offload[Any],
        on_loop: Callable[[Coroutine[Any, Any, Reply]], Reply],
    ) -> Reply | None:
        """Run a sync adaptor's call on this thread, which is no event loop's (a Ray actor's
        call thread): its Reply, whose stream is still a :class:`SyncStream` to pull on
        threads (or, from async code, an async iterator). None for an async adaptor: run
        that with :meth:`run` on the loop. ``on_loop`` runs a coroutine on the loop and waits
        for it, for the rare sync function that returns an awaitable.
        """
        try:
            target = self.target(call)
            if target.is_async:
                return None
            result = self._start_and_settle(call, target)
            if isinstance(result, Reply):
                return result
            return on_loop(self.settle_async(call, result, offload))
        except OwtError as err:
            return err.reply()

    def _start_and_settle(self, call: Call, target: Target | None) -> Any:
        result = self.start(call, target)
        reply = self.settle(call, result)
        return result if reply is None else reply

    async def settle_async(self, call: Call, result: Any, offload: Offload[Any]) -> Reply:
        """The Reply for a result that is async (or holds an async body), on this loop."""
        with using_call(call):
            try:
                if inspect.isawaitable(result):
                    result = await result
                if type(result) in PLAIN_RESULTS:  # str, bytes, a number, None: no user code
                    return reply_for_body(result)
                body, status, headers = parts_of(result)
                if inspect.isawaitable(body):
                    body = await body
            except OwtError:
                raise
            except USER_ERRORS as exc:
                raise adaptor_error(exc)
            except (asyncio.CancelledError, GeneratorExit) as exc:
                if not raised_by_adaptor(exc):
                    raise  # the call is being cancelled
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


def _a_kind(value: Any) -> str:
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _as_helper(code: str) -> str:
    """For a terse pipe whose first step is also a helper in scope (``sse(items)``)."""
    step = terse_step(code)
    if step is None or step not in _prelude():
        return ""
    return (
        f" — the code was read as a pipe starting with its step {step}(); to call the "
        f"{step}() helper, make the adaptor a function: lambda: {code.strip()}"
    )


def _no_function(module: types.ModuleType, fn_name: str, endpoint: bool = False) -> str:
    """Say which functions the code does define, and how to call one of them (an endpoint's
    caller cannot choose the function: its owner can)."""
    prelude = _prelude()
    defined = sorted(
        name
        for name, value in module.__dict__.items()
        if not name.startswith("_")
        and prelude.get(name) is not value
        and (
            getattr(value, "__module__", None) == module.__name__
            if inspect.isfunction(value)
            else _callable_object(value)  # a pipe (``shout = pipe()...``), a partial
        )
    )
    if not defined:
        return f"the code defines no function {fn_name!r} (it defines no function at all)"
    listed = ", ".join(defined)
    if endpoint:
        return (
            f"the endpoint's code defines no function {fn_name!r}; it defines: {listed} (name "
            f"yours {fn_name!r} in the file, or register the code under PUT "
            f'/_owt/endpoints/NAME with "fn_name": {defined[0]!r})'
        )
    return (
        f"the code defines no function {fn_name!r}; it defines: {listed} "
        f"(name yours {fn_name!r}, or send fn_name={defined[0]!r})"
    )


def _callable_object(value: Any) -> bool:
    """A callable the code made, not a function, class, module or builtin it imported."""
    return callable(value) and not (
        isinstance(value, (type, types.ModuleType))
        or inspect.isroutine(value)
        or inspect.isbuiltin(value)
    )


def _async_reply(reply: Reply, offload: Offload[Any]) -> Reply:
    if reply.stream is not None and isinstance(reply.stream, SyncStream):
        reply.stream = reply.stream.asynchronous(offload)
    return reply
