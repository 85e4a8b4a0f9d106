"""The worker process: a host (:mod:`owt.core.host`) behind framed pipes. Stdlib only.

The server starts it by path with any Python >= 3.10, in any virtualenv, with nothing
installed there::

    [python, "-u", "/abs/path/to/owt/core/worker.py", "--parent", PID, "--threads", N]

It puts the folder holding ``owt`` on ``sys.path`` (and takes its own folder off it), keeps
the pipes it was started with for frames (see :mod:`owt.core.frames`) and points file
descriptors 0 and 1 away from them: ``input()`` reads nothing and ``print()`` — from Python or
from C — goes to stderr, which is the server's log. It says READY, then runs the calls the
server sends, several at once, each under its id: sync code on the host's ``N`` threads,
``async def`` on the host's event loop. Module state and ``keep()`` objects live as long as
the process and are shared by its calls.

The main thread only reads frames; replies are written (whole frames, under a lock) by the
host's loop as they are made. A ``close`` drops a call (its generator's ``finally`` runs).
When its input closes, the worker finishes the calls in hand and exits. Under
``--worker-max-memory`` (RLIMIT_AS) a MemoryError ends the process: its state can no longer
be trusted. Without a limit it is the adaptor's error (500), as any exception it raises.
"""

# ruff: noqa: E402
from __future__ import annotations

import os
import sys


def _put_owt_on_path() -> None:
    here = os.path.dirname(os.path.realpath(__file__))
    # ``python path/to/worker.py`` puts this folder first: its modules would shadow user ones.
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != here]
    sys.path.insert(0, os.path.dirname(os.path.dirname(here)))


if __name__ == "__main__":
    _put_owt_on_path()

import argparse
import asyncio
import collections
import concurrent.futures
import faulthandler
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from owt.core.body import BodyReader, StreamedRequest
from owt.core.call import Call
from owt.core.errors import error_from_payload
from owt.core.frames import FrameBuffer, write_frame
from owt.core.host import Host
from owt.core.pumps import is_end
from owt.core.runner import Runner
from owt.core.workerprocess import (
    claim_stdio,
    close_inherited,
    die_with_parent,
    exit_naming_the_call,
    limit_memory,
    log_to_stderr,
    yield_to_server,
)

__all__ = ["MEMORY_EXIT_CODE", "Worker", "main"]

log = logging.getLogger("owt.worker")

#: Batches of a stream sent ahead of the server's ``pull`` frames.
PULL_AHEAD = 4

#: At most this much of the server's frames is read at once.
READ_BYTES = 64 * 1024

#: The exit code of a worker that ran out of memory (as a shell reports a SIGKILLed process).
MEMORY_EXIT_CODE = 137


class Worker:
    """The transport of a host over two pipes: frames in on the main thread, out from the
    host's loop."""

    def __init__(self, fd_in: int, fd_out: int, host: Host, limited: bool = False) -> None:
        self.fd_in = fd_in
        self.fd_out = fd_out
        self.host = host
        if limited:  # under --worker-max-memory a MemoryError is the limit reached
            self.host.on_error = self.die_if_out_of_memory
        self._lock = threading.Lock()
        # call id → its stream's flow: a stream sends PULL_AHEAD batches unasked, then one
        # per ``pull``, so a slow client's chunks wait here, in the pump's bounded queue,
        # not in the server's memory. Guarded by ``_lock``, the lock of every write.
        self.flows: dict[str, _Flow] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # call id → the body bytes it asked the server for (``request.stream()``), in order
        self.asks: dict[str, collections.deque[concurrent.futures.Future[bytes]]] = {}
        self._asks_lock = threading.Lock()
        host.direct_lane = self._direct_lane
        host.hold_pumps = True  # each starts once its head is out (_send_head, stream)
        host.own_stream_loop = True  # a def generator flows while an async def blocks

    def send(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            write_frame(self.fd_out, message)

    def serve(self) -> None:
        """Read calls until the server closes our input; then finish them and return.

        One read takes what the pipe holds; the calls in it go to the pool as one batch.
        """
        self.send(("ready", _describe()))
        frames = FrameBuffer()
        space = bytearray(READ_BYTES)  # reused: a fresh buffer per read costs page faults
        view = memoryview(space)
        try:
            while True:
                size = os.readv(self.fd_in, [space])
                if not size:
                    break
                calls: list[Any] = []  # sync (or not yet compiled): to the pool
                coros: list[tuple[str, Call]] = []  # warm async adaptors: to the loop
                for message in frames.feed(view[:size]):
                    if message[0] == "call":
                        _, call_id, call = message
                        if type(call.request) is StreamedRequest:
                            call.request.attach(_Body(self, call_id))
                        if self._warm_async(call):
                            coros.append((call_id, call))
                        else:
                            calls.append(functools.partial(self.run_blocking, call_id, call))
                        continue
                    if message[0] == "body":  # for a call already running
                        self._body_came(*message[1:])
                        continue
                    # A pull or close after its call in the same read: the call first.
                    self._start(calls, coros)
                    calls, coros = [], []
                    if message[0] == "pull":
                        self._pull(message[1])
                    elif message[0] == "close":
                        self.host.soon(self._close(message[1]), message[1])
                self._start(calls, coros)
        finally:
            os.close(self.fd_in)
        self.host.wait(self.host.idle())

    def _warm_async(self, call: Call) -> bool:
        if self.host.pass_on is not None:
            return False
        target = self.host.runner.cached(call)
        return target is not None and target.is_async

    def _start(self, calls: list[Any], coros: list[tuple[str, Call]]) -> None:
        if calls:
            self.host.pool.submit(*calls)
        if coros:  # straight to the loop: no pool thread to find out it is async
            self.host.loop.call_soon_threadsafe(self._run_all, coros)

    def _run_all(self, coros: list[tuple[str, Call]]) -> None:
        for call_id, call in coros:
            task = self.host.loop.create_task(self.run(call_id, call))
            self._tasks.add(task)  # the loop holds its tasks weakly
            task.add_done_callback(self._tasks.discard)

    def run_blocking(self, call_id: str, call: Call) -> None:
        """On a pool thread: a sync adaptor runs right here; an async one goes to the loop."""
        head = self.host.begin_blocking(call_id, call)
        if head is None:
            self.host.soon(self.run(call_id, call))
            return
        self._send_head(call_id, head)
        if head[3]:
            self.host.soon(self.stream(call_id), call_id)

    async def run(self, call_id: str, call: Call) -> None:
        """One call on the loop: its head, then its stream's batches as they are made."""
        try:
            head = await self.host.begin(call_id, call)
        except asyncio.CancelledError:  # dropped before its head
            self.flows.pop(call_id, None)  # a stream's, made as it began: no reader comes
            await self.settled(call_id)
            self.send(("items", call_id, [None], None))
            return
        self._send_head(call_id, head)
        if head[3] and self.host.loop_of(call_id) is not self.host.loop:
            self.host.soon(self.stream(call_id), call_id)  # a sync stream of an async def
        elif head[3]:
            await self.stream(call_id)

    def _send_head(self, call_id: str, head: tuple[Any, ...]) -> None:
        """The head of a reply; a streamed one's chunks may follow it from now on."""
        with self._lock:
            write_frame(self.fd_out, ("head", call_id, *head))
            if head[3]:
                flow = self.flows.setdefault(call_id, _Flow())
                flow.credits, flow.open = PULL_AHEAD, True
        if head[3]:  # a sync stream starts at once (see stream)
            self.host.start_pump(call_id, only_sync=True)

    async def stream(self, call_id: str) -> None:
        """A streamed reply's batches, each when the server has room for it.

        A sync generator's chunks may also go straight from its pump's thread
        (:meth:`_direct`) while this loop has none waiting; the flow's lock keeps them in order.
        """
        flow = self.flows.setdefault(call_id, _Flow())
        # A pump starts once the head is out: a sync one (on a thread of its own) from
        # _send_head, an async one only here, as this loop is about to wait for its first
        # chunk: one that computes between its chunks keeps the loop, and a reader started
        # after it would find its second chunk made before it could send the first.
        self.host.start_pump(call_id)
        try:
            while True:
                items = await self.host.batch(call_id)
                await self._credit(flow)
                end = is_end(items)
                if not end:
                    items += self.host.ready(call_id)
                    end = is_end(items)
                if end:
                    await self.settled(call_id)
                info = self.host.info() if end else None
                with self._lock:
                    flow.credits -= 1
                    if flow.lane:  # these chunks no longer wait on the loop
                        flow.queued -= len(items) - end
                    flow.open = not end  # nothing goes after the end
                    write_frame(self.fd_out, ("items", call_id, items, info))
                if end:
                    return
        finally:
            with self._lock:
                flow.open = False
            self.flows.pop(call_id, None)

    def _direct_lane(self, call_id: str) -> Callable[[bytes, bool], bool]:
        """On the loop, as a sync stream starts: its chunks' lane past the loop."""
        flow = self.flows.setdefault(call_id, _Flow())
        flow.lane = True
        return functools.partial(self._direct, call_id, flow)

    def _direct(self, call_id: str, flow: _Flow, chunk: bytes, slow: bool) -> bool:
        """On the pump's thread: send a ``slow`` chunk now if the server has room and
        nothing made before it still waits on the loop; else count it as waiting there."""
        with self._lock:
            if slow and flow.open and flow.credits > 0 and not flow.queued:
                flow.credits -= 1
                write_frame(self.fd_out, ("items", call_id, [chunk], None))
                return True
            flow.queued += 1
            return False

    async def _credit(self, flow: _Flow) -> None:
        """Wait until the server has room for one more batch of this stream."""
        while True:
            with self._lock:
                if flow.credits > 0:
                    return
                flow.waiter = waiter = asyncio.get_running_loop().create_future()
            await waiter

    def _pull(self, call_id: str) -> None:
        """From any thread: the server has room for one more batch of the stream."""
        flow = self.flows.get(call_id)
        if flow is None:
            return
        with self._lock:
            flow.credits += 1
            waiter, flow.waiter = flow.waiter, None
        if waiter is not None:
            waiter.get_loop().call_soon_threadsafe(_wake, waiter)

    async def _close(self, call_id: str) -> None:
        flow = self.flows.get(call_id)
        if flow is not None:
            with self._lock:  # no chunk takes the direct lane now (nor the room given below)
                flow.open = False
        await self.host.drop(call_id)
        self._pull(call_id)  # a stream waiting for a pull goes on to its end

    async def settled(self, call_id: str) -> None:
        """Wait for the call's user code to leave its threads: until then the call still
        counts as running here (the server drains a worker whose dropped call is stuck)."""
        pause = 0.0005  # the end of a stream is often made just before its thread leaves
        while self.host.stuck(call_id):
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    def ask_body(self, call_id: str) -> concurrent.futures.Future[bytes]:
        """From the call's thread or loop: the next bytes of its request's body (the server
        answers every ``want``, in order)."""
        future: concurrent.futures.Future[bytes] = concurrent.futures.Future()
        with self._asks_lock:
            self.asks.setdefault(call_id, collections.deque()).append(future)
        self.send(("want", call_id))
        return future

    def _body_came(self, call_id: str, data: bytes, error: dict[str, Any] | None) -> None:
        with self._asks_lock:
            waiting = self.asks.get(call_id)
            if not waiting:
                return
            future = waiting.popleft()
            if not waiting:
                del self.asks[call_id]
        if error is None:
            future.set_result(data)
        else:
            future.set_exception(error_from_payload(error))

    def die_if_out_of_memory(self, payload: dict[str, Any]) -> None:
        if payload.get("type") == "MemoryError" or "raised MemoryError" in str(
            payload.get("message", "")
        ):
            message = "the worker ran out of memory (MemoryError) and was stopped"
            try:
                self.send(("dying", message))
            finally:
                os._exit(MEMORY_EXIT_CODE)


class _Flow:
    """A stream's room at the server, shared by the host's loop and its pump's thread."""

    __slots__ = ("credits", "lane", "open", "queued", "waiter")

    def __init__(self) -> None:
        self.credits = 0  # batches the server has room for now
        self.open = False  # the head went out and the stream has not ended
        self.lane = False  # a sync stream's chunks may go past the loop (_direct)
        self.queued = 0  # such chunks handed to the loop and not yet sent
        self.waiter: asyncio.Future[None] | None = None  # the loop, waiting for room


class _Body(BodyReader):
    """A streamed request body in a worker: each read asks the server for the next bytes,
    and for the bytes after them, which cross while the adaptor works on these."""

    __slots__ = ("ahead", "call_id", "worker")

    def __init__(self, worker: Worker, call_id: str) -> None:
        self.worker = worker
        self.call_id = call_id
        self.ahead: concurrent.futures.Future[bytes] | None = None

    def ask(self) -> concurrent.futures.Future[bytes]:
        future = self.ahead or self.worker.ask_body(self.call_id)
        self.ahead = self.worker.ask_body(self.call_id)  # at the end: b"" once more
        return future


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _describe() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "python": sys.version.split()[0],
        "implementation": sys.implementation.name,
        "executable": sys.executable,
        "prefix": sys.prefix,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="owt-worker")
    parser.add_argument("--parent", type=int, default=0, help="the server's pid")
    parser.add_argument("--max-memory", type=int, default=0, help="RLIMIT_AS in bytes")
    parser.add_argument("--max-adaptors", type=int, default=256)
    parser.add_argument("--threads", type=int, default=16, help="threads for sync user code")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("--fault-fd", type=int, default=-1, help="where a crash's report goes")
    args = parser.parse_args(argv)
    die_with_parent(args.parent)
    yield_to_server()
    if args.max_memory:
        limit_memory(args.max_memory)
    fd_in, fd_out = claim_stdio()
    # A crash's report goes to a file the server reads (which code crashed) and logs; open
    # for the life of the process.
    report = open(args.fault_fd, "w") if args.fault_fd > 2 else sys.stderr  # noqa: SIM115
    close_inherited(fd_in, fd_out, report.fileno())
    faulthandler.enable(report)
    log_to_stderr(args.log_format)
    host = Host(Runner(args.max_adaptors), args.threads)
    worker = Worker(fd_in, fd_out, host, limited=bool(args.max_memory))
    os._exit = exit_naming_the_call(os._exit, host.call_here, worker.send)  # type: ignore[assignment]
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
