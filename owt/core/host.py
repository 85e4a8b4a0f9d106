"""The host: where calls run away from the server's event loop. Stdlib only.

One host runs in each worker process (:mod:`owt.core.worker`), in each Ray actor
(:mod:`owt.executors.ray.actor`) and, with ``--in-process``, inside the server itself. Only
the transport around it differs (framed pipes, Ray calls, a thread hop). A host:

- receives a call under an id and runs it with the one :class:`~owt.core.runner.Runner`:
  sync user code (functions, top-level code, each ``next`` of a sync generator) on its own
  thread pool, coroutines and async generators on its own event loop, on a thread of its own;
- answers the reply's *head* (status, headers, first chunk, streamed?, what is warm);
- pumps the rest of a streamed reply into a bounded queue (:mod:`owt.core.pumps`), from
  which the transport takes the chunks ready at each moment as one batch (in a worker, a
  ``def`` generator's stream is pumped from a loop of its own, so an ``async def`` that
  blocks the host's loop holds up no ``def`` stream);
- drops a call when its caller goes: a call still running is cancelled (async code stops at
  its next ``await``), a stream's generator is closed (its ``finally`` runs);
- reports what is warm (compiled adaptors, ``keep()`` names) when it changed.

Module state and ``keep()`` objects belong to the process, so every call of a host shares
them: one model copy serves concurrent calls. Sync user code cannot be stopped from outside,
nor can an ``async def`` that blocks the loop; :meth:`Host.stuck` tells whether a dropped
call's code still runs, so the server can retire the whole process instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from owt.core.call import Call, Reply
from owt.core.context import current_call
from owt.core.crossing import Crossing
from owt.core.errors import Internal, OwtError
from owt.core.keep import keep
from owt.core.pumps import Item, Pump, SyncPump, is_end
from owt.core.runner import Runner
from owt.core.streams import SyncStream
from owt.core.threads import ThreadPool

__all__ = ["Head", "Host"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: A call's answer: status, headers, first chunk, streamed?, what is warm (None: unchanged).
Head = tuple[int, list[tuple[str, str]], bytes, bool, "dict[str, Any] | None"]


class Host:
    """Runs calls: ``threads`` threads for sync user code, one event loop thread for async.

    ``run`` replaces the runner for a host that passes its calls on (a Ray actor of
    another interpreter hands them to a worker process); ``on_error`` sees the payload of
    every error reply and stream end (a worker dies on MemoryError).

    >>> host = Host(Runner(), threads=2)
    >>> call = Call(code="def run(): return 'hi'", sha256="0" * 64)
    >>> host.wait(host.begin("c1", call))[:4]
    (200, [('content-type', 'text/plain; charset=utf-8')], b'hi', False)
    >>> host.close()
    """

    def __init__(
        self,
        runner: Runner,
        threads: int = 16,
        *,
        run: Callable[[Call], Awaitable[Reply]] | None = None,
        on_error: Callable[[dict[str, Any]], None] | None = None,
        name: str = "owt-host",
    ) -> None:
        self.runner = runner
        self.threads = threads
        self.pool = ThreadPool(threads, name=f"{name}-call")
        self.pass_on = run
        self.on_error = on_error
        self.running: dict[str, asyncio.Task[Any]] = {}  # call id → its run to the head
        self.pumps: dict[str, Pump] = {}  # call id → its streamed rest
        #: True: a stream's pump waits for :meth:`start_pump` (its transport's first move)
        self.hold_pumps = False
        #: call id → a sync stream's direct lane to its caller (see :class:`SyncPump`)
        self.direct_lane: Callable[[str], Callable[[bytes, bool], bool]] | None = None
        #: True: sync streams pump on a loop of their own, so that they flow while an
        #: ``async def`` blocks the host's loop; their transport takes their chunks there
        #: (:meth:`loop_of`)
        self.own_stream_loop = False
        self._stream_loop: asyncio.AbstractEventLoop | None = None
        self.in_user_code: dict[str, int] = {}  # call id → threads running its code now
        self._in_threads: dict[str, Call] = {}  # call id → its call, while its code runs
        self._here = threading.local()  # .call_id: the call whose code this thread runs
        self.lock = threading.Lock()
        self.served = 0
        #: What is warm: a cheap mark that changes with it, and the full description.
        self.warm_mark: Callable[[], Any] = lambda: (runner.compiles, len(keep.names()))
        self.warm: Callable[[], dict[str, Any]] = lambda: {
            "kept": keep.names(),
            **runner.status(),
        }
        self._said: Any = None
        self.loop = asyncio.new_event_loop()
        self.crossing = Crossing(self.loop)  # coroutines here, awaited from another loop
        self.name = name
        self._thread = threading.Thread(
            target=_run_loop, args=(self.loop,), name=f"{name}-loop", daemon=True
        )
        self._thread.start()

    # -- from other threads ----------------------------------------------------------------

    def soon(
        self, coro: Coroutine[Any, Any, T], call_id: str | None = None
    ) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the host's loop, or on the loop where the stream of ``call_id``
        is taken (:meth:`loop_of`); thread-safe."""
        loop = self.loop if call_id is None else self.loop_of(call_id)
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def wait(
        self, coro: Coroutine[Any, Any, T], call_id: str | None = None, timeout: float | None = None
    ) -> T:
        """:meth:`soon`, and wait for it (from a thread that is no loop's); past ``timeout``
        seconds it is cancelled and :class:`TimeoutError` raised (its loop is blocked)."""
        future = self.soon(coro, call_id)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:  # not yet the builtin one on Python 3.10
            future.cancel()
            raise TimeoutError(f"the host's loop did not run it within {timeout}s") from None

    def loop_of(self, call_id: str) -> asyncio.AbstractEventLoop:
        """The loop where the call's stream is taken (:meth:`batch`, :meth:`ready`,
        :meth:`drop`)."""
        pump = self.pumps.get(call_id)
        return self.loop if pump is None else pump.loop

    def stream_loop(self) -> asyncio.AbstractEventLoop:
        """The loop of sync streams (see ``own_stream_loop``), started on first use."""
        with self.lock:
            if self._stream_loop is None:
                loop = asyncio.new_event_loop()
                name = f"{self.name}-streams"
                try:  # no room for it: this stream fails, the next tries again
                    threading.Thread(target=_run_loop, args=(loop,), name=name, daemon=True).start()
                except RuntimeError:
                    loop.close()
                    raise
                self._stream_loop = loop
            return self._stream_loop

    # -- on the host's loop ----------------------------------------------------------------

    async def begin(self, call_id: str, call: Call) -> Head:
        """Run a call to its head; a streamed rest starts pumping under ``call_id``."""
        if self.pass_on is not None:
            return await self._to_head(call_id, self.pass_on(call))
        return await self._to_head(call_id, self.runner.run(call, self._offload(call_id, call)))

    async def finish(self, call_id: str, call: Call, result: Any) -> Head:
        """Settle on this loop what a sync adaptor returned that is async (an async generator,
        an awaitable), as :meth:`begin` would have; a streamed rest pumps under ``call_id``."""
        return await self._to_head(call_id, self._settle(call_id, call, result))

    async def _settle(self, call_id: str, call: Call, result: Any) -> Reply:
        try:
            return await self.runner.settle_async(call, result, self._offload(call_id, call))
        except OwtError as err:
            return err.reply()

    async def _to_head(self, call_id: str, running: Awaitable[Reply]) -> Head:
        """Await a call's Reply as ``call_id``'s run (a drop cancels it), then its head."""
        task = asyncio.current_task()
        assert task is not None
        self.running[call_id] = task
        try:
            reply = await running
        except Exception as exc:  # a bug in owt: answer, keep serving
            reply = _host_failed(exc)
        finally:
            self.running.pop(call_id, None)
        return await self._answer(call_id, reply)

    def begin_blocking(self, call_id: str, call: Call) -> Head | None:
        """Run a sync adaptor's call to its head right on this thread, which must be no
        event loop's (a pool thread, a Ray thread): no hop to the loop and back. None for
        an async adaptor: run that with :meth:`begin` on the loop."""
        if self.pass_on is not None:
            return None
        try:
            with self._user_code(call_id, call):
                reply = self.runner.run_blocking(call, self._offload(call_id, call), self.wait)
        except Exception as exc:  # a bug in owt: answer, keep serving
            reply = _host_failed(exc)
        if reply is None:
            return None
        if reply.stream is not None and not self._pumps_apart(reply.stream):
            return self.wait(self._answer(call_id, reply))
        self._pump(call_id, reply.stream)
        return self._head(reply)

    async def _answer(self, call_id: str, reply: Reply) -> Head:
        """On the loop: a streamed reply starts pumping under ``call_id``."""
        self._pump(call_id, reply.stream)
        return self._head(reply)

    def _pumps_apart(self, stream: Any) -> bool:
        """Whether this stream pumps on the loop of streams, not the host's."""
        sync = getattr(stream, "stream", stream)  # a sync stream made async by the runner
        return self.own_stream_loop and isinstance(sync, SyncStream)

    def _pump(self, call_id: str, stream: Any) -> None:
        """A reply's stream starts pumping under ``call_id``: on the host's loop (where this
        runs), or from any thread on the loop of streams (:meth:`_pumps_apart`)."""
        sync = getattr(stream, "stream", stream)
        if isinstance(sync, SyncStream):
            direct = self.direct_lane(call_id) if self.direct_lane is not None else None
            self.pumps[call_id] = SyncPump(
                sync,
                self.pool,
                lambda: self._user_code(call_id),
                direct=direct,
                start=not self.hold_pumps,
                loop=self.stream_loop() if self.own_stream_loop else None,
            )
        elif stream is not None:
            assert isinstance(stream, AsyncIterator)
            self.pumps[call_id] = Pump(stream, start=not self.hold_pumps)

    def _head(self, reply: Reply) -> Head:
        self.served += 1
        if reply.status >= 400 and self.on_error is not None:
            self.on_error(_payload(reply.body))
        streamed = reply.stream is not None
        return reply.status, reply.headers, reply.body, streamed, self.info()

    async def batch(self, call_id: str) -> list[Item]:
        """The next chunks of a streamed reply, ready together; ends with None or an error."""
        pump = self.pumps.get(call_id)
        if pump is None:  # dropped, or never streamed
            return [None]
        return self._ended(call_id, await pump.batch())

    def ready(self, call_id: str) -> list[Item]:
        """More chunks of a streamed reply that are ready now, maybe none."""
        pump = self.pumps.get(call_id)
        return [] if pump is None else self._ended(call_id, pump.ready())

    def start_pump(self, call_id: str, *, only_sync: bool = False) -> None:
        """From any thread: a held stream starts making its chunks (see ``hold_pumps``);
        with ``only_sync``, only if a thread makes them (an async one waits for its reader)."""
        pump = self.pumps.get(call_id)
        if pump is not None and (isinstance(pump, SyncPump) or not only_sync):
            pump.start()

    def _ended(self, call_id: str, items: list[Item]) -> list[Item]:
        if items and is_end(items):
            self.pumps.pop(call_id, None)
            end = items[-1]
            if isinstance(end, dict) and self.on_error is not None:
                self.on_error(end)
        return items

    async def drop(self, call_id: str) -> None:
        """The caller went away: cancel the call's run, close its stream (on any of the
        host's loops: ``soon(drop, call_id)`` picks the stream's)."""
        task = self.running.get(call_id)
        if task is not None:
            _cancel(task)
        with self.lock:
            call = self._in_threads.get(call_id)
        if call is not None:  # its code in a thread cannot be stopped, but may look (@batch)
            call.given_up = True
        pump = self.pumps.pop(call_id, None)
        if pump is None:
            return
        if pump.loop is asyncio.get_running_loop():
            await pump.close()
        else:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(pump.close(), pump.loop))

    async def idle(self) -> None:
        """Wait until no call runs or streams here."""
        while self.running or self.pumps or self.in_user_code:
            await asyncio.sleep(0.05)

    # -- anywhere --------------------------------------------------------------------------

    def info(self, force: bool = False) -> dict[str, Any] | None:
        """What is warm here, when it changed since the caller last heard (or ``force``)."""
        mark = self.warm_mark()
        if mark == self._said and not force:
            return None
        self._said = mark
        return {"served": self.served, **self.warm()}

    def stuck(self, call_id: str) -> bool:
        """True while user code of this call still runs (after a drop): in a thread, or on the
        loop, where a cancel takes effect only if the loop runs (an ``async def`` that
        blocks it keeps its own call, and any other there, from ending)."""
        with self.lock:
            return call_id in self.in_user_code or call_id in self.running

    def status(self) -> dict[str, Any]:
        info = self.info(force=True)
        assert info is not None
        busy = len(self.running.keys() | self.pumps.keys() | self.in_user_code.keys())
        return {**info, "calls": busy, "streams": len(self.pumps), "busy_threads": self.pool.busy}

    def close(self, wait: float = 1.0) -> None:
        """Stop the loop and the idle threads (threads still in user code are daemons)."""
        self.pool.close()
        if self._stream_loop is not None and not self._stream_loop.is_closed():
            self._stream_loop.call_soon_threadsafe(self._stream_loop.stop)
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(wait)

    def call_here(self) -> tuple[str, str] | None:
        """The id and code file of the call whose code runs on this thread now, if owt can
        tell (code that ends its process names its call: see ``owt/core/worker.py``)."""
        call_id: str | None = getattr(self._here, "call_id", None)
        if call_id is None and threading.current_thread() is self._thread:
            task = asyncio.current_task(self.loop)
            call_id = next((key for key, run in list(self.running.items()) if run is task), None)
        call = current_call()
        if call_id is None or call is None:
            return None
        return call_id, self.runner.filename(call)

    @contextlib.contextmanager
    def _user_code(self, call_id: str, call: Call | None = None) -> Iterator[None]:
        with self.lock:
            self.in_user_code[call_id] = self.in_user_code.get(call_id, 0) + 1
            if call is not None:
                self._in_threads[call_id] = call
        here = self._here
        outer, here.call_id = getattr(here, "call_id", None), call_id
        try:
            yield
        finally:
            here.call_id = outer
            with self.lock:
                left = self.in_user_code.pop(call_id) - 1
                if left:
                    self.in_user_code[call_id] = left
                else:
                    self._in_threads.pop(call_id, None)

    def _offload(self, call_id: str, call: Call) -> Callable[[Callable[[], T]], Awaitable[T]]:
        async def offload(fn: Callable[[], T]) -> T:
            def job() -> T:
                with self._user_code(call_id, call):
                    return fn()

            return await self.pool.run(job)

        return offload


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_forever()
    tasks = asyncio.all_tasks(loop)  # stopped: what still runs is cancelled
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.close()


def _cancel(task: asyncio.Task[Any]) -> None:
    """Cancel a task of any loop, from any thread."""
    loop = task.get_loop()
    try:
        here = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    if loop is here:
        task.cancel()
    else:
        loop.call_soon_threadsafe(task.cancel)


def _host_failed(exc: Exception) -> Reply:
    log.exception("internal error in the host")
    return Internal(f"the host failed: {type(exc).__name__}: {exc}").reply()


def _payload(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
