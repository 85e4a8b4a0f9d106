"""The Ray actor that runs one environment's calls on a cluster node.

It holds what a worker process holds — the one :class:`~owt.core.runner.Runner` (compiled
adaptors) and the process's ``keep()`` objects — and runs many calls at once: coroutines on
its event loop, sync user code on its threads. ``owt.executors.ray.executor`` makes it remote
(``ray.remote(RunnerActor)``); this module imports nothing from Ray at import time, so the
class can be read and tested without a cluster.

It is a *threaded* Ray actor with an event loop of its own on one more thread. A sync
adaptor runs on the Ray thread that received the call (it is no event loop's); async
adaptors, the later chunks of streams and the calls of an ``--env`` interpreter's worker run
on the actor's loop while the Ray thread waits. Ray answers a threaded actor's round trip
faster than an async actor's (1.7 vs 2.4 ms median on a 2-core machine), and owt's own loop
keeps coroutines, streams and cancellation in owt's hands: Ray cannot interrupt a threaded
actor's running call, so the server's ``drop`` cancels it here.

A call is two steps: ``run`` answers the reply's head and first chunk; the rest of a
streamed reply is pumped under the call's id (a bounded queue, so the adaptor runs at most a
little ahead) until ``stream`` — a Ray streaming generator — sends it, each chunk as soon as
the adaptor yields it, or those ready together as one batch. ``drop`` (the client went away)
ends the stream and closes the adaptor's generator, so its ``finally`` runs. ``stuck`` tells
the server whether user code of a cancelled call is still running in a thread (threads
cannot be stopped: the server then replaces the actor).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import pickle
import queue
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from owt.core.call import Call, Reply
from owt.core.errors import Internal, OwtError
from owt.core.keep import keep
from owt.core.runner import Runner
from owt.core.streams import SyncStream
from owt.core.threads import ThreadPool

__all__ = ["CONCURRENCY_GROUPS", "CONTROL", "Head", "Item", "Pump", "RunnerActor", "ThreadPump"]

T = TypeVar("T")

#: ``run``'s answer: status, headers, first chunk, streamed?, what is warm (None: unchanged).
Head = tuple[int, list[tuple[str, str]], bytes, bool, dict[str, Any] | None]
#: One item of a stream's batch: a chunk, an error payload (the end), or None (the end).
Item = bytes | dict[str, Any] | None

PUMP_SIZE = 64  # chunks made ahead of the server, at most, per stream
#: Ray threads for the calls that steer an actor (describe, drop, stuck, status), apart from
#: the calls it runs, so a cancellation is never queued behind busy calls; ``watch`` waits
#: forever on its own thread.
CONTROL = "control"
CONCURRENCY_GROUPS = {CONTROL: 4, "watch": 1}


class RunnerActor:
    """Runs calls of one environment; one per Ray worker process.

    With ``python`` (an ``--env`` interpreter other than the cluster's), calls run in a worker
    process of that interpreter beside the actor (:class:`~owt.executors.process.executor.
    ProcessExecutor`), so the interpreter needs nothing installed — not even Ray — only to
    exist at that path on the node.
    """

    def __init__(
        self,
        env: str,
        max_adaptors: int = 256,
        threads: int = 16,
        python: str | None = None,
        worker_options: dict[str, Any] | None = None,
    ) -> None:
        self.env = env
        self.runner = Runner(max_adaptors)
        self.pool = ThreadPool(threads, name="owt-ray-call")
        self.pumps: dict[str, Pump | ThreadPump] = {}
        self.in_user_code: dict[str, int] = {}  # call id → threads running its code now
        self.lock = threading.Lock()
        self.served = 0
        self.started = time.time()
        self.python = python
        self.worker_options = {"max_adaptors": max_adaptors, **(worker_options or {})}
        self.process: Any = None  # the ProcessExecutor of ``python``, once started
        self._said: Any = None
        self.running: dict[str, concurrent.futures.Future[Any]] = {}  # call id → its ``run``
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="owt-ray-loop", daemon=True).start()

    def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the actor's loop; this Ray thread waits for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def describe(self) -> dict[str, Any]:
        """Where this actor runs; the server awaits this to know the actor is up."""
        import ray

        if self.python is not None and self.process is None:
            self._on_loop(_start_process(self))
        context = ray.get_runtime_context()
        return {
            "pid": os.getpid(),
            "node_id": context.get_node_id(),
            "node_ip": ray.util.get_node_ip_address(),
            "actor_id": context.get_actor_id(),
            "python": sys.version.split()[0],
            "executable": sys.executable,
            "worker": self.process.status() if self.process is not None else None,
        }

    def info(self, force: bool = False) -> dict[str, Any] | None:
        """What is warm here, when it changed since the server last heard."""
        if self.process is None:
            mark: Any = (self.runner.compiles, len(keep.names()))
        else:  # a worker's ``warm`` is a new dict whenever it changes
            mark = tuple(id(w.warm) for w in self.process.pool.workers)
        if mark == self._said and not force:
            return None
        self._said = mark
        if self.process is None:
            return {"served": self.served, "kept": keep.names(), **self.runner.status()}
        status = self.process.status()
        return {"served": self.served, "kept": status["kept"], "adaptors": status["adaptors"]}

    @contextlib.contextmanager
    def _user_code(self, call_id: str) -> Iterator[None]:
        """Count this thread as running the call's code (see :meth:`stuck`)."""
        with self.lock:
            self.in_user_code[call_id] = self.in_user_code.get(call_id, 0) + 1
        try:
            yield
        finally:
            with self.lock:
                left = self.in_user_code.pop(call_id) - 1
                if left:
                    self.in_user_code[call_id] = left

    def _offload(self, call_id: str) -> Callable[[Callable[[], T]], Any]:
        async def offload(fn: Callable[[], T]) -> T:
            def job() -> T:
                with self._user_code(call_id):
                    return fn()

            return await self.pool.run(job)

        return offload

    def run(self, payload: bytes) -> Head:
        """Run a call — ``(call_id, call)`` pickled by the server — to its head; a streamed
        rest is pumped here until it is asked for.

        A sync adaptor runs right on this Ray thread (it is no event loop's): four thread
        hand-offs fewer than going through the actor's loop and its pool. Async adaptors,
        and every call of an ``--env`` interpreter's worker, run on the loop.
        """
        call_id, call = pickle.loads(payload)
        if self.process is None:
            with self._user_code(call_id):
                reply = self.runner.run_blocking(call, self._offload(call_id), self._on_loop)
            if reply is not None and isinstance(reply.stream, SyncStream):
                self.pumps[call_id] = ThreadPump(reply.stream, lambda: self._user_code(call_id))
                return _head_now(self, reply)
            if reply is not None and reply.stream is None:
                return _head_now(self, reply)
            if reply is not None:  # an async stream: pumped on the loop
                return self._on_loop(_head(self, call_id, reply))
        future = asyncio.run_coroutine_threadsafe(_run(self, call_id, call), self.loop)
        with self.lock:
            self.running[call_id] = future
        try:
            return future.result()
        finally:
            with self.lock:
                self.running.pop(call_id, None)

    def stream(self, call_id: str) -> Iterator[list[Item]]:
        """The rest of a streamed reply, in batches of the chunks ready at each moment."""
        pump = self.pumps.get(call_id)
        if pump is None:  # dropped before it was asked for
            yield [None]
            return
        try:
            while True:
                batch = self._batch(pump)
                yield batch
                if _is_end(batch):
                    return
        finally:  # also when Ray stops the generator: the server cancelled it
            self.pumps.pop(call_id, None)
            self._close(pump)

    def pull(self, call_id: str) -> list[Item]:
        """The next batch of a streamed reply, for Ray Client (it has no streaming
        generators); :meth:`drop` ends the stream."""
        pump = self.pumps.get(call_id)
        if pump is None:
            return [None]
        batch = self._batch(pump)
        if _is_end(batch):
            self.pumps.pop(call_id, None)
            self._close(pump)
        return batch

    def drop(self, call_id: str) -> None:
        """The server gave up on a call: cancel its ``run``, end and close its stream."""
        with self.lock:
            running = self.running.get(call_id)
        if running is not None:
            running.cancel()  # cancels the call's task on the loop, as a timeout would
        pump = self.pumps.pop(call_id, None)
        if pump is not None:
            self._close(pump)

    def _batch(self, pump: Pump | ThreadPump) -> list[Item]:
        return pump.batch() if isinstance(pump, ThreadPump) else self._on_loop(pump.batch())

    def _close(self, pump: Pump | ThreadPump) -> None:
        if isinstance(pump, ThreadPump):
            pump.close()
        else:
            self._on_loop(pump.close())

    def stuck(self, call_id: str) -> bool:
        """True while user code of this call still runs in a thread (after a cancel)."""
        with self.lock:
            return call_id in self.in_user_code

    def status(self) -> dict[str, Any]:
        info = self.info(force=True)
        assert info is not None
        return {**info, "streams": len(self.pumps), "busy_threads": self.pool.busy}

    def watch(self) -> None:
        """Never returns: the server learns of this actor's death when this call fails."""
        threading.Event().wait()


# The actor's coroutines live outside the class: Ray makes an actor with any ``async def``
# method an async actor, and this one must stay threaded.


async def _start_process(actor: RunnerActor) -> None:
    if actor.process is None:
        from owt.executors.process.executor import ProcessExecutor

        process = ProcessExecutor(actor.python, 1, env=actor.env, **actor.worker_options)
        await process.start()  # raises when the interpreter cannot run a worker
        actor.process = process


async def _run(actor: RunnerActor, call_id: str, call: Call) -> Head:
    if actor.process is not None:
        reply = await actor.process.submit(call)  # cancelled: it kills its worker
    else:
        reply = await actor.runner.run(call, actor._offload(call_id))
    return await _head(actor, call_id, reply)


async def _head(actor: RunnerActor, call_id: str, reply: Reply) -> Head:
    """The head of a reply; its stream, if any, starts pumping (on the loop)."""
    if reply.stream is not None:
        assert isinstance(reply.stream, AsyncIterator)
        actor.pumps[call_id] = Pump(reply.stream)
    return _head_now(actor, reply)


def _head_now(actor: RunnerActor, reply: Reply) -> Head:
    actor.served += 1
    streamed = reply.stream is not None
    return reply.status, reply.headers, reply.body, streamed, actor.info()


def _is_end(batch: list[Item]) -> bool:
    return isinstance(batch[-1], (dict, type(None)))


def _failed(exc: Exception) -> Item:
    """The end of a stream that a bug in owt broke off."""
    return Internal(f"the actor failed: {type(exc).__name__}: {exc}").payload()


class Pump:
    """Pulls a reply stream into a bounded queue, so the chunks ready at once cross together.

    A slow adaptor's chunks still go one by one, as each is made; a fast one's go in
    batches, one Ray object each instead of one per chunk. The end is ``None``, a failure an
    error payload. Closing it before the end closes the adaptor's generator.
    """

    def __init__(self, stream: AsyncIterator[bytes], size: int = PUMP_SIZE) -> None:
        self.queue: asyncio.Queue[Item] = asyncio.Queue(size)
        self.task = asyncio.get_running_loop().create_task(self._run(stream))

    async def _run(self, stream: AsyncIterator[bytes]) -> None:
        finished = False
        try:
            while True:
                try:
                    chunk = await stream.__anext__()
                except StopAsyncIteration:
                    finished = True
                    await self.queue.put(None)
                    return
                except OwtError as err:
                    finished = True
                    await self.queue.put(err.payload())
                    return
                except Exception as exc:  # a bug in owt: end the stream, say so
                    finished = True
                    await self.queue.put(_failed(exc))
                    return
                await self.queue.put(chunk)
        finally:
            if not finished:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()

    async def batch(self) -> list[Item]:
        """The chunks ready now; waits for the first."""
        items = [await self.queue.get()]
        while not self.queue.empty() and isinstance(items[-1], bytes):
            items.append(self.queue.get_nowait())
        return items

    async def close(self) -> None:
        """Stop pumping (closing the adaptor's generator); a waiting :meth:`batch` ends."""
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class ThreadPump:
    """A sync stream pulled by one thread of its own into a bounded queue.

    One thread runs the adaptor's generator from its first chunk to its last — no hand-off
    per chunk to a pool thread and back through the actor's loop — and the Ray thread that
    sends the stream takes the chunks ready at once, as :class:`Pump` does for async
    streams. Closing it stops the pulling after the ``next`` in flight and closes the
    generator on the pulling thread (its ``finally`` runs).
    """

    def __init__(
        self,
        stream: SyncStream,
        user_code: Callable[[], contextlib.AbstractContextManager[None]],
        size: int = PUMP_SIZE,
    ) -> None:
        self.stream = stream
        self.queue: queue.Queue[Item] = queue.Queue(size)
        self.stopped = threading.Event()
        self._user_code = user_code
        threading.Thread(target=self._run, name="owt-ray-stream", daemon=True).start()

    def _run(self) -> None:
        with self._user_code():
            try:
                while not self.stopped.is_set():
                    try:
                        chunk = next(self.stream)
                    except StopIteration:
                        self._put(None)
                        return
                    except OwtError as err:
                        self._put(err.payload())
                        return
                    except Exception as exc:  # a bug in owt: end the stream, say so
                        self._put(_failed(exc))
                        return
                    self._put(chunk)
            finally:
                self.stream.close()

    def _put(self, item: Item) -> None:
        while not self.stopped.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:  # the server is behind: wait, unless the stream is closed
                continue

    def batch(self) -> list[Item]:
        """The chunks ready now; waits for the first."""
        items = [self.queue.get()]
        while isinstance(items[-1], bytes):
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return items

    def close(self) -> None:
        """Stop pulling; a waiting :meth:`batch` ends the stream."""
        self.stopped.set()
        try:
            while True:
                self.queue.get_nowait()
        except queue.Empty:
            pass
        self.queue.put_nowait(None)
