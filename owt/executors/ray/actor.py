"""The Ray actor that runs one environment's calls on a cluster node: a host behind Ray calls.

It is :class:`~owt.core.host.Host` — the one runner, threads for sync user code, an event
loop thread for coroutines, the process's ``keep()`` objects — with Ray as the transport,
as a worker process is the same host behind framed pipes. ``owt.executors.ray.executor``
makes it remote (``ray.remote(RunnerActor)``); this module imports nothing from Ray at
import time, so the class can be read and tested without a cluster.

It is a *threaded* Ray actor (Ray answers a threaded actor's round trip faster than an async
actor's); each Ray thread hands its call to the host's loop and waits (a ``def``
generator's stream is pumped and taken on a loop of its own, which an ``async def`` that
blocks the host's loop does not hold up). A call is two steps:
``run`` answers the reply's head; the rest of a streamed reply is pumped by the host under
the call's id until ``stream`` — a Ray streaming generator — sends it in batches of the
chunks ready at each moment (``pull``, one batch a call, for Ray Client). ``drop`` (the
client went away) cancels the call's run and closes its stream, so its ``finally`` runs.
``stuck`` tells the server whether user code of a dropped call still runs: in a thread
(threads cannot be stopped), or on a loop an ``async def`` blocks (a cancel waits for the
loop); the server then replaces the actor. Every steering call answers within a bound,
whatever the calls do, so the server can tell a blocked loop from a slow answer.
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from owt.core.host import Head, Host
from owt.core.pumps import Item, is_end
from owt.core.runner import Runner
from owt.executors.ray.ends import note_exits

__all__ = ["CONCURRENCY_GROUPS", "CONTROL", "LOOP_GRACE", "Head", "Item", "RunnerActor"]

#: Ray threads for the calls that steer an actor (describe, drop, stuck, status), apart from
#: the calls it runs, so a cancellation is never queued behind busy calls; ``watch`` waits
#: forever on its own thread.
CONTROL = "control"
CONCURRENCY_GROUPS = {CONTROL: 4, "watch": 1}

#: Seconds :meth:`RunnerActor.drop` waits for the loop that runs the call to cancel it; a
#: loop that does not get to it is blocked, and the server replaces the actor.
LOOP_GRACE = 5.0


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
        self.host = Host(Runner(max_adaptors), threads, name="owt-ray")
        self.host.own_stream_loop = True  # a def generator flows while an async def blocks
        self.started = time.time()
        self.python = python
        self.worker_options = worker_options or {}
        self.process: Any = None  # the ProcessExecutor of ``python``, once started
        self.noting = False  # an adaptor's os._exit notes its call (see .ends)

    def describe(self) -> dict[str, Any]:
        """Where this actor runs; the server awaits this to know the actor is up."""
        import ray

        if self.python is not None and self.process is None:
            self.host.wait(self._start_process())
        context = ray.get_runtime_context()
        if not self.noting:  # before any call: the server sends none until this answers
            note_exits(self.host, str(context.get_actor_id()))
            self.noting = True
        return {
            "pid": os.getpid(),
            "node_id": context.get_node_id(),
            "node_ip": ray.util.get_node_ip_address(),
            "actor_id": context.get_actor_id(),
            "python": sys.version.split()[0],
            "executable": sys.executable,
            "worker": self.process.status() if self.process is not None else None,
        }

    def _start_process(self) -> Any:
        """A coroutine starting the worker process of ``python``; calls then go to it."""
        from owt.executors.base import ExecutorOptions
        from owt.executors.process.executor import ProcessExecutor

        options = ExecutorOptions(threads=self.host.threads, **self.worker_options)
        process = ProcessExecutor(self.python, 1, env=self.env, options=options)

        async def start() -> None:
            await process.start()  # raises when the interpreter cannot run a worker
            self.process = process
            self.host.pass_on = process.submit
            # a worker's ``warm`` is a new dict whenever it changes
            self.host.warm_mark = lambda: tuple(id(w.warm) for w in process.pool.workers)
            self.host.warm = self._process_warm

        return start()

    def _process_warm(self) -> dict[str, Any]:
        status = self.process.status()
        return {"kept": status["kept"], "adaptors": status["adaptors"]}

    def run(self, payload: bytes) -> Head:
        """Run a call — ``(call_id, call)`` pickled by the server — to its head; a streamed
        rest is pumped here until it is asked for."""
        call_id, call = pickle.loads(payload)
        head = self.host.begin_blocking(call_id, call)  # a sync adaptor: right here
        if head is None:
            head = self.host.wait(self.host.begin(call_id, call))
        return head

    def stream(self, call_id: str) -> Iterator[list[Item]]:
        """The rest of a streamed reply, in batches of the chunks ready at each moment."""
        try:
            while True:
                batch = self.host.wait(self.host.batch(call_id), call_id)
                yield batch
                if is_end(batch):
                    return
        finally:  # also when Ray stops the generator: the server cancelled it
            self.drop(call_id)

    def pull(self, call_id: str) -> list[Item]:
        """The next batch of a streamed reply, for Ray Client (it has no streaming
        generators); :meth:`drop` ends the stream."""
        return self.host.wait(self.host.batch(call_id), call_id)

    def drop(self, call_id: str) -> bool:
        """The server gave up on a call: cancel its ``run``, end and close its stream. False
        when the loop that must do it did not within :data:`LOOP_GRACE` (an ``async def``
        blocks it): the call cannot end, and this answers all the same."""
        try:
            self.host.wait(self.host.drop(call_id), call_id, LOOP_GRACE)
        except TimeoutError:
            return False
        return True

    def stuck(self, call_id: str) -> bool:
        """True while user code of this call still runs after a drop: in a thread, or on
        a loop that the cancel could not reach."""
        return self.host.stuck(call_id)

    def status(self) -> dict[str, Any]:
        return self.host.status()

    def watch(self) -> None:
        """Never returns: the server learns of this actor's death when this call fails."""
        threading.Event().wait()
