"""The Executor contract: run this call, give me its reply (and its stream)."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import weakref
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from owt.core.call import Call, Reply
from owt.core.errors import CallerGone, error_from_payload
from owt.core.pumps import Item

__all__ = [
    "BatchStream",
    "EnvironmentFailed",
    "Executor",
    "ExecutorOptions",
    "caller_gone",
    "unless_caller_goes",
    "while_caller_stays",
]

T = TypeVar("T")


class EnvironmentFailed(RuntimeError):
    """An environment could not start at all (its interpreter is not Python, say): the
    server does not start either, and says why in one line, already logged."""


#: Set by the server for each call: awaiting it returns once the caller has gone (its
#: client disconnected). An executor whose call must wait for room uses it, so a call
#: whose caller left is dropped from the queue instead of run for nobody.
caller_gone: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar(
    "owt_caller_gone", default=None
)


async def unless_caller_goes(waiting: asyncio.Future[T]) -> T:
    """Await ``waiting``; raise CallerGone (an answer nobody reads) if the caller goes first."""
    gone = caller_gone.get()
    if gone is None:
        return await waiting
    watch: asyncio.Future[Any] = asyncio.ensure_future(gone())
    both: set[asyncio.Future[Any]] = {waiting, watch}
    try:
        await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
    if not waiting.done():
        waiting.cancel()
        raise CallerGone("the caller went away before the call started; it was dropped")
    return waiting.result()


async def while_caller_stays(
    running: Awaitable[T], drop: Callable[[], Awaitable[None]], after: float = 0.2
) -> T:
    """Await ``running`` (a call on its way to its head); if it takes more than ``after``
    seconds, watch its caller meanwhile and ``drop()`` the call should the caller leave.

    Nearly every call has its head well within ``after``: it costs an entry in the loop's
    :class:`_Watch`, whose one timer starts a watcher only for the calls that outlast it.
    """
    gone = caller_gone.get()
    if gone is None:
        return await running
    watch = _Watch.of(asyncio.get_running_loop(), after)
    key = watch.enter(gone, drop)
    try:
        return await running
    finally:
        watch.leave(key)


class _Watch:
    """The calls of one event loop waiting for their head, and the watchers of those that
    have waited more than ``after`` seconds (each returns once its caller has gone)."""

    _loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watch] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, after: float) -> None:
        self.loop = loop
        self.after = after
        self.waiting: dict[int, tuple[float, Any, Any, contextvars.Context]] = {}
        self.watchers: dict[int, asyncio.Task[None]] = {}
        self.timer: asyncio.TimerHandle | None = None
        self._keys = itertools.count()

    _last: _Watch | None = None  # the server's loop's, looked up on every call

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop, after: float) -> _Watch:
        watch = cls._last
        if watch is not None and watch.loop is loop and watch.after == after:
            return watch
        watch = cls._loops.get(loop)
        if watch is None or watch.after != after:
            watch = cls._loops[loop] = cls(loop, after)
        cls._last = watch
        return watch

    def enter(self, gone: Callable[[], Awaitable[None]], drop: Any) -> int:
        key = next(self._keys)
        # The watcher runs in the call's context (its request id names its log lines).
        self.waiting[key] = (self.loop.time(), gone, drop, contextvars.copy_context())
        if self.timer is None:
            self.timer = self.loop.call_later(self.after / 2, self._tick)
        return key

    def leave(self, key: int) -> None:
        del self.waiting[key]
        watcher = self.watchers.pop(key, None)
        if watcher is not None:
            watcher.cancel()

    def _tick(self) -> None:
        self.timer = None
        due = self.loop.time() - self.after
        for key, (since, gone, drop, context) in self.waiting.items():
            if since <= due and key not in self.watchers:
                self.watchers[key] = self.loop.create_task(_watch(gone, drop), context=context)
        if self.waiting:
            self.timer = self.loop.call_later(self.after / 2, self._tick)


async def _watch(gone: Callable[[], Awaitable[None]], drop: Callable[[], Awaitable[None]]) -> None:
    await gone()
    await drop()


@dataclass(frozen=True)
class ExecutorOptions:
    """What every executor is built from (the server derives it from its settings)."""

    max_queue: int = 64  # calls waiting for room before 503
    max_memory: int | None = None  # bytes of address space per worker process
    max_calls: int | None = None  # a worker process is recycled after this many calls
    max_adaptors: int = 256  # compiled adaptors kept warm per host
    threads: int = 16  # threads per host for sync user code (its calls at once)
    drain_grace: float = 10.0  # seconds a drained worker may finish its other calls
    idle_timeout: float | None = None  # seconds before an idle worker retires
    ray_address: str | None = None  # the Ray cluster, for the ray executor
    lib: tuple[str, ...] = ()  # --lib folders: their modules are in scope in adaptors
    log_format: str = "text"  # how a worker process writes its own log lines (text, json)
    #: What to do when the environment's interpreter will not start (said with the error).
    start_advice: str = "--env NAME=PATH takes one, such as a virtualenv's bin/python"


class Executor(ABC):
    """Where calls of one environment run: threads, worker processes or Ray actors.

    ``submit`` returns the call's Reply; a streamed Reply's ``stream`` is an async iterator of
    bytes whose ``aclose()`` stops the producer. Timeouts are applied by the caller by
    cancelling ``submit`` (or the stream's ``__anext__``); an executor that can stop the work
    (kill a worker, cancel a task) does so when cancelled. Errors come back as error Replies,
    never as exceptions.
    """

    name: str = "executor"
    #: Takes a :class:`~owt.core.body.StreamedRequest` as it is (its body read as the call
    #: asks); else the server reads the body whole first.
    streams_bodies: bool = False

    def __init__(
        self,
        python: str | None = None,
        workers: int = 1,
        *,
        env: str = "main",
        options: ExecutorOptions | None = None,
    ) -> None:
        """Every executor is built so: the interpreter of the environment (None: the
        server's), how many processes or actors, the environment's name, and the options.
        A subclass sets itself up in :meth:`setup`."""
        self.python = python
        self.workers = max(1, workers)
        self.env = env
        self.options = options or ExecutorOptions()
        self.setup()

    def setup(self) -> None:
        """Build what the executor holds from ``python``, ``workers``, ``env``, ``options``;
        start nothing yet (that is :meth:`start`)."""

    async def start(self) -> None:
        """Acquire resources (worker processes, cluster connections)."""

    async def prepare(self, call: Call) -> None:
        """Make ready what the call needs before it runs (a virtualenv to build, a worker to
        start); raises the OwtError that stops it. Its time is not the call's timeout."""

    def progress(self, call: Call) -> dict[str, Any] | None:
        """What :meth:`prepare` is doing for this call (``phase``, ``detail``, ``elapsed``),
        or None when there is nothing to wait for."""
        return None

    @abstractmethod
    async def submit(self, call: Call) -> Reply: ...

    def refuse_new(self) -> None:
        """The server is shutting down: calls waiting for room, and new ones, are refused
        (503); running calls go on."""

    async def aclose(self) -> None:
        """Release every resource; no process may outlive this."""

    async def retire(self, reason: str, grace: float | None = None) -> None:
        """Take no new calls; let those running end within ``grace`` seconds (None: the
        drain grace); end the ones still running then, telling them ``reason``; release
        every resource. An executor that cannot wait for its calls just closes."""
        await self.aclose()

    def status(self) -> dict[str, Any]:
        return {"executor": self.name}


class BatchStream(AsyncIterator[bytes]):
    """The rest of a streamed reply, arriving from a host in batches of
    :data:`~owt.core.pumps.Item`: chunks, then None (the end) or an error payload.

    A transport implements :meth:`fetch` (the next batch) and :meth:`finish` (the call is
    over: release what it holds); ``aclose`` before the end is the transport's to define.
    """

    def __init__(self) -> None:
        self.items: deque[Item] = deque()
        self.done = False

    async def fetch(self) -> list[Item]:
        raise NotImplementedError

    def finish(self) -> None:
        """Called once, when the stream ends or is closed."""

    def _end(self) -> None:
        if not self.done:
            self.done = True
            self.finish()

    async def __anext__(self) -> bytes:
        if not self.items:
            if self.done:
                raise StopAsyncIteration
            self.items.extend(await self.fetch())
        item = self.items.popleft()
        if isinstance(item, bytes):
            return item
        self._end()
        if item is None:
            raise StopAsyncIteration
        raise error_from_payload(item)
