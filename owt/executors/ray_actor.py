"""The Ray actor that runs one environment's calls on a cluster node.

It holds what a worker process holds — the one :class:`~owt.core.runner.Runner` (compiled
adaptors) and the process's ``keep()`` objects — and runs many calls at once: coroutines on
its event loop, sync user code on its threads. ``owt.executors.ray`` makes it remote
(``ray.remote(RunnerActor)``); this module imports nothing from Ray at import time, so the
class can be read and tested without a cluster.

A call is two steps: ``run`` answers the reply's head and first chunk; the rest of a
streamed reply is pumped under the call's id (a bounded queue, so the adaptor runs at most a
little ahead) until ``stream`` — a Ray streaming generator — sends it, each chunk as soon as
the adaptor yields it, or those ready together as one batch. Cancelling ``stream`` (the
client went away) closes the adaptor's generator, so its ``finally`` runs. ``stuck`` tells
the server whether user code of a cancelled call is still running in a thread (threads
cannot be stopped: the server then replaces the actor).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from owt.core.call import Call
from owt.core.keep import keep
from owt.core.runner import Runner
from owt.exceptions import OwtError
from owt.executors.threads import ThreadPool

__all__ = ["Head", "Item", "Pump", "RunnerActor"]

T = TypeVar("T")

#: ``run``'s answer: status, headers, first chunk, streamed?, what is warm (None: unchanged).
Head = tuple[int, list[tuple[str, str]], bytes, bool, dict[str, Any] | None]
#: One item of a stream's batch: a chunk, an error payload (the end), or None (the end).
Item = bytes | dict[str, Any] | None

PUMP_SIZE = 64  # chunks made ahead of the server, at most, per stream


class RunnerActor:
    """Runs calls of one environment; one per Ray worker process.

    With ``python`` (an ``--env`` interpreter other than the cluster's), calls run in a worker
    process of that interpreter beside the actor (:class:`~owt.executors.process.
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
        self.pumps: dict[str, Pump] = {}
        self.in_user_code: dict[str, int] = {}  # call id → threads running its code now
        self.lock = threading.Lock()
        self.served = 0
        self.started = time.time()
        self.python = python
        self.worker_options = {"max_adaptors": max_adaptors, **(worker_options or {})}
        self.process: Any = None  # the ProcessExecutor of ``python``, once started
        self._said: Any = None

    async def describe(self) -> dict[str, Any]:
        """Where this actor runs; the server awaits this to know the actor is up."""
        import ray

        if self.python is not None and self.process is None:
            from owt.executors.process import ProcessExecutor

            process = ProcessExecutor(self.python, 1, env=self.env, **self.worker_options)
            await process.start()  # raises when the interpreter cannot run a worker
            self.process = process
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

    def _offload(self, call_id: str) -> Callable[[Callable[[], T]], Any]:
        async def offload(fn: Callable[[], T]) -> T:
            def job() -> T:
                with self.lock:
                    self.in_user_code[call_id] = self.in_user_code.get(call_id, 0) + 1
                try:
                    return fn()
                finally:
                    with self.lock:
                        left = self.in_user_code.pop(call_id) - 1
                        if left:
                            self.in_user_code[call_id] = left

            return await self.pool.run(job)

        return offload

    async def run(self, call_id: str, call: Call) -> Head:
        """Run a call to its head; a streamed rest is pumped here until it is asked for."""
        if self.process is not None:
            reply = await self.process.submit(call)  # cancelled: it kills its worker
        else:
            reply = await self.runner.run(call, self._offload(call_id))
        self.served += 1
        streamed = reply.stream is not None
        if streamed:
            assert isinstance(reply.stream, AsyncIterator)
            self.pumps[call_id] = Pump(reply.stream)
        return reply.status, reply.headers, reply.body, streamed, self.info()

    async def stream(self, call_id: str) -> AsyncIterator[list[Item]]:
        """The rest of a streamed reply, in batches of the chunks ready at each moment."""
        pump = self.pumps.pop(call_id)
        try:
            while True:
                batch = await pump.batch()
                yield batch
                if isinstance(batch[-1], (dict, type(None))):
                    return
        finally:  # also when cancelled: the client went away or a chunk timed out
            await pump.close()

    async def pull(self, call_id: str) -> list[Item]:
        """The next batch of a streamed reply, for Ray Client (it has no streaming
        generators). A cancelled pull loses nothing; :meth:`drop` ends the stream."""
        pump = self.pumps.get(call_id)
        if pump is None:
            return [None]
        batch = await pump.batch()
        if isinstance(batch[-1], (dict, type(None))):
            self.pumps.pop(call_id, None)
            await pump.close()
        return batch

    async def drop(self, call_id: str) -> None:
        """Close a streamed reply that is no longer wanted."""
        pump = self.pumps.pop(call_id, None)
        if pump is not None:
            await pump.close()

    def stuck(self, call_id: str) -> bool:
        """True while user code of this call still runs in a thread (after a cancel)."""
        with self.lock:
            return call_id in self.in_user_code

    def status(self) -> dict[str, Any]:
        info = self.info(force=True)
        assert info is not None
        return {**info, "streams": len(self.pumps), "busy_threads": self.pool.busy}

    async def watch(self) -> None:
        """Never returns: the server learns of this actor's death when this call fails."""
        await asyncio.Event().wait()


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
                    message = f"the actor failed: {type(exc).__name__}: {exc}"
                    await self.queue.put({"error": "internal", "message": message})
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
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
