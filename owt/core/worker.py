"""The worker process: runs the calls of one environment, one at a time. Stdlib only.

The server starts it by path with any Python >= 3.10, in any virtualenv, with nothing
installed there::

    [python, "-u", "/abs/path/to/owt/core/worker.py", "--parent", PID]

It puts the folder holding ``owt`` on ``sys.path`` (and takes its own folder off it), keeps
the pipes it was started with for frames (see :mod:`owt.core.frames`) and points file
descriptors 0 and 1 away from them: ``input()`` reads nothing and ``print()`` — from Python or
from C — goes to stderr, which is the server's log. It says READY, then runs calls with the
one runner: module state and ``keep()`` objects live as long as the process.

A streamed reply goes out chunk by chunk as the adaptor produces it; a ``close`` from the
server (its client went away) closes the generator, so its ``finally`` runs. A MemoryError
(``--worker-max-memory`` sets RLIMIT_AS) ends the process: its state can no longer be trusted.
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
import faulthandler
import json
import logging
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from owt.core.call import Call, Reply
from owt.core.errors import Internal, OwtError
from owt.core.frames import read_frame, write_frame
from owt.core.keep import keep
from owt.core.runner import Runner, SyncStream

__all__ = ["MEMORY_EXIT_CODE", "Worker", "main"]

log = logging.getLogger("owt.worker")

T = TypeVar("T")

#: The exit code of a worker that ran out of memory (as a shell reports a SIGKILLed process).
MEMORY_EXIT_CODE = 137


class Worker:
    """The worker's loop: read a call, run it, write its reply as frames; repeat."""

    def __init__(self, fd_in: int, fd_out: int, runner: Runner) -> None:
        self.fd_in = fd_in
        self.fd_out = fd_out
        self.runner = runner
        self.pump: asyncio.Task[None] | None = None
        self.served = 0
        self._said: tuple[int, int] = (0, 0)

    def send(self, message: tuple[Any, ...]) -> None:
        write_frame(self.fd_out, message)

    async def offload(self, fn: Callable[[], T]) -> T:
        """Run sync user code right here, with no event loop seen as running.

        One call at a time runs in a worker, so there is nothing for the loop to do
        meanwhile, and a thread hop would cost more than the rest of a warm call. As on the
        server's threads, ``asyncio.run()`` inside an adaptor works.
        """
        loop = asyncio._get_running_loop()
        asyncio._set_running_loop(None)
        try:
            return fn()
        finally:
            asyncio._set_running_loop(loop)

    def info(self) -> dict[str, Any] | None:
        """What is warm here, when it changed since the server last heard."""
        kept = keep.names()
        mark = (self.runner.compiles, len(kept))
        if mark == self._said:
            return None
        self._said = mark
        return {"served": self.served, "kept": kept, **self.runner.status()}

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2**20)
        pipe = os.fdopen(self.fd_in, "rb", buffering=0)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        self.send(("ready", _describe()))
        try:
            while True:
                try:
                    message = await read_frame(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return  # the server closed our input: time to go
                if message[0] == "call":
                    if self.pump is not None:  # never, by the protocol; be safe anyway
                        await asyncio.wait({self.pump})
                    await self.handle(message[1])
                elif message[0] == "close" and self.pump is not None:
                    self.pump.cancel()
        finally:
            if self.pump is not None:
                self.pump.cancel()
                await asyncio.wait({self.pump})

    async def handle(self, call: Call) -> None:
        try:
            reply = await self.runner.run(call, self.offload)
        except Exception as exc:  # a bug in owt: answer, keep serving
            log.exception("internal error in the worker")
            reply = _internal(exc)
        self.served += 1
        if reply.status >= 400:
            self.die_if_out_of_memory(_payload(reply.body))
        if reply.stream is None:
            self.send(("reply", reply.status, reply.headers, reply.body, self.info()))
            return
        self.send(("head", reply.status, reply.headers, reply.body))
        stream = reply.stream
        assert isinstance(stream, AsyncIterator)
        # The stream is pumped by a task so that a ``close`` can still be read meanwhile.
        self.pump = asyncio.get_running_loop().create_task(self.stream(stream))

    async def stream(self, stream: AsyncIterator[bytes]) -> None:
        """Send each chunk the moment it is made, then the end (with an error, if any)."""
        error: dict[str, Any] | None = None
        try:
            error = await self.chunks(stream)
        except asyncio.CancelledError:
            pass  # the server asked to close it (its client went away)
        finally:
            self.pump = None
        if error is not None:
            self.die_if_out_of_memory(error)
        self.send(("end", error, self.info()))

    async def chunks(self, stream: AsyncIterator[bytes]) -> dict[str, Any] | None:
        finished = False
        try:
            while True:
                try:
                    chunk = await stream.__anext__()
                except StopAsyncIteration:
                    finished = True
                    return None
                self.send(("chunk", chunk))
                # Let the loop read a ``close`` between chunks, however fast they come.
                await asyncio.sleep(0)
        except OwtError as err:
            finished = True
            return err.payload()
        except Exception as exc:
            log.exception("internal error while streaming")
            finished = True
            return _payload(_internal(exc).body)
        finally:
            if not finished:  # closed early: the generator's ``finally`` runs now
                sync = getattr(stream, "stream", None)
                if isinstance(sync, SyncStream):
                    # No ``next`` can be in flight (sync code runs inline here), so close it
                    # before the end is sent: the next call finds the worker really free.
                    sync.close()
                else:
                    aclose = getattr(stream, "aclose", None)
                    if aclose is not None:
                        await aclose()

    def die_if_out_of_memory(self, payload: dict[str, Any]) -> None:
        if payload.get("type") == "MemoryError" or "raised MemoryError" in str(
            payload.get("message", "")
        ):
            message = "the worker ran out of memory (MemoryError) and was stopped"
            try:
                self.send(("dying", message))
            finally:
                os._exit(MEMORY_EXIT_CODE)


def _payload(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _internal(exc: BaseException) -> Reply:
    return Internal(f"the worker failed: {type(exc).__name__}: {exc}").reply()


def _describe() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "python": sys.version.split()[0],
        "implementation": sys.implementation.name,
        "executable": sys.executable,
        "prefix": sys.prefix,
    }


def _claim_stdio() -> tuple[int, int]:
    """Keep the pipes for frames; fd 0 reads nothing, fd 1 writes to stderr."""
    fd_in, fd_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return fd_in, fd_out


def _limit_memory(limit: int) -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this worker if the server dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if parent and os.getppid() != parent:  # the server died before we asked
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="owt-worker")
    parser.add_argument("--parent", type=int, default=0, help="the server's pid")
    parser.add_argument("--max-memory", type=int, default=0, help="RLIMIT_AS in bytes")
    parser.add_argument("--max-adaptors", type=int, default=256)
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)
    if args.max_memory:
        _limit_memory(args.max_memory)
    fd_in, fd_out = _claim_stdio()
    faulthandler.enable()
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
    )
    worker = Worker(fd_in, fd_out, Runner(args.max_adaptors))
    asyncio.run(worker.serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
