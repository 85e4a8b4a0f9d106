"""One worker process seen from the server: start it, exchange frames, tell how it ended.

``WorkerProcess`` starts ``owt/core/worker.py`` with an interpreter, waits for its READY
frame, then one reader task routes each frame the worker sends to the queue of its call id
(see :mod:`owt.core.frames`): several calls run in one worker at once. When the worker's
output ends, every call still open in it gets the :class:`WorkerLost` that says how.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
import os
import signal
import time
from asyncio.streams import FlowControlMixin
from pathlib import Path
from typing import Any

import owt.core
from owt.core.body import Source
from owt.core.errors import CallerGone, OwtError
from owt.core.frames import HEADER, MID_FRAME_STALL, FrameBuffer, loads_plain, pack
from owt.core.pumps import is_end
from owt.core.writes import BatchedWrites
from owt.executors.process.ends import CrashReport, WorkerLost, describe_exit, not_started

__all__ = ["WORKER_SCRIPT", "Frames", "WorkerProcess"]

log = logging.getLogger(__name__)

WORKER_SCRIPT = str(Path(owt.core.__file__).resolve().with_name("worker.py"))
START_TIMEOUT = 60.0  # a worker of a large virtualenv may take a while to import
STOP_GRACE = 2.0  # after its output ends, a worker has this long to exit
READ_BYTES = 256 * 1024  # read at most this much of a worker's output at once


def _ends(message: tuple[Any, ...]) -> bool:
    """True for the last frame of a call: a whole reply, or its stream's end."""
    if message[0] == "head":
        return not message[5]
    return message[0] == "items" and is_end(message[2])


class Frames:
    """The frames of one call, in order (an ``asyncio.Queue`` without what a call never
    needs: bounds, waiting putters, task accounting)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: collections.deque[Any] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()


class WorkerProcess:
    """One worker process, the pipes to it, and the calls open in it."""

    def __init__(self, command: list[str], environ: dict[str, str] | None = None, advice: str = ""):
        self.command = command
        self.environ = environ
        self.advice = advice  # what to do when the interpreter will not start
        self.proc: asyncio.subprocess.Process | None = None
        self.stdin: asyncio.StreamWriter | None = None  # frames to the worker
        self.info: dict[str, Any] = {}
        self.warm: dict[str, Any] = {}
        self.calls: dict[str, Frames] = {}  # call id → its frames, in flight
        self.code_of: dict[str, str] = {}  # ... and its adaptor's file name
        self.abandoned: set[str] = set()  # calls given up on that may still run here
        self.served = 0
        self.draining = False  # takes no new calls; killed once its calls end
        self.lost: WorkerLost | None = None
        self.started = time.monotonic()
        self.idle_since = time.monotonic()
        self.free = asyncio.Event()  # set while no call but abandoned ones is open here
        self.free.set()
        self.reader: asyncio.Task[None] | None = None
        self._dying: str | None = None
        self._crash: CrashReport | None = None  # where its fault handler writes a crash
        self._culprits: set[str] = set()  # the calls it said ended it
        self._culprit_code: set[str] = set()  # ... and their code files
        self._out: BatchedWrites | None = None  # frames for the worker, sent per loop turn
        self.on_change: Any = None  # called when a call ends or the worker is lost
        # call id → the source of its streamed request body, read as the worker asks
        self.bodies: dict[str, Source] = {}
        self._giving: set[asyncio.Task[None]] = set()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None and self.lost is None

    async def start(self, timeout: float = START_TIMEOUT) -> None:
        self._crash = crash = CrashReport()
        try:
            await self._spawn(crash, timeout)
        except BaseException:
            crash.close()
            if self.stdin is not None:
                self.stdin.close()
            raise

    async def _spawn(self, crash: CrashReport, timeout: float) -> None:
        # Its input is a pipe, not uvloop's socket pair: bytes written back into it (code
        # writing to the worker's frame input) would reach the server's end of a socket.
        loop = asyncio.get_running_loop()
        read_end, write_end = os.pipe()
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.command,
                *("--fault-fd", str(crash.fd)),
                stdin=read_end,
                stdout=asyncio.subprocess.PIPE,
                stderr=None,  # the worker's stderr (and its fd 1) is the server's log
                start_new_session=True,
                close_fds=True,  # not the server's listening socket, nor anything else
                pass_fds=(crash.fd,),
                env=self.environ,
            )
        except BaseException as exc:
            os.close(write_end)
            if isinstance(exc, OSError):  # no such file, not executable: one clear error
                raise not_started(self.command[0], exc, self.advice) from exc
            raise
        finally:
            os.close(read_end)
        pipe = os.fdopen(write_end, "wb", buffering=0)
        transport, protocol = await loop.connect_write_pipe(FlowControlMixin, pipe)
        self.stdin = asyncio.StreamWriter(transport, protocol, None, loop)
        try:
            message = await asyncio.wait_for(self._receive(), timeout)
        except (asyncio.IncompleteReadError, ConnectionError):
            raise not_started(self.command[0], await self.proc.wait(), self.advice) from None
        except BaseException:  # too slow, or cancelled: no half-started process stays behind
            self.kill()
            raise
        if message[0] != "ready":
            self.kill()
            raise WorkerLost(f"{self.command[0]} did not start an owt worker", None)
        self.info = message[1]
        self.started = self.idle_since = time.monotonic()
        self._out = BatchedWrites(self.stdin.transport, loop)  # type: ignore[arg-type]
        # A context of its own: one copied from the call that started it would put that
        # call's request id on every line this worker's reader ever logs.
        self.reader = loop.create_task(self._read(), context=contextvars.Context())

    async def _receive(self) -> tuple[Any, ...]:
        assert self.proc is not None and self.proc.stdout is not None
        (size,) = HEADER.unpack(await self.proc.stdout.readexactly(HEADER.size))
        message: tuple[Any, ...] = loads_plain(await self.proc.stdout.readexactly(size))
        return message

    async def _read(self) -> None:
        """Route each frame to its call; when the output ends, fail every open call.

        Reads what the pipe holds at once and routes every whole frame in it: under load a
        worker answers several calls between two turns of the loop, one read here.
        """
        assert self.proc is not None and self.proc.stdout is not None
        stdout = self.proc.stdout
        frames = FrameBuffer(loads_plain)
        clock = asyncio.get_running_loop().time
        try:
            while True:
                read = stdout.read(READ_BYTES)
                data = await (_within(read, MID_FRAME_STALL) if frames.partial else read)
                if not data:
                    break
                for message in frames.feed(data, clock()):
                    self._route(message)
                frames.keep_pace(clock())
        except ConnectionError:
            pass
        except Exception as exc:  # not owt's frames (code wrote to the pipe): stop it now
            assert self.proc is not None
            log.error("worker %s sent a frame the server cannot read: %s", self.proc.pid, exc)
            self._dying = (
                "the worker sent the server something it cannot read, so it was stopped "
                f"(did the adaptor write to the worker's pipe to the server?): {exc}"
            )
            self.kill()
        self.lost = await self._exit()
        calls, self.calls, self.code_of = self.calls, {}, {}
        self.bodies.clear()
        for queue in calls.values():
            queue.put_nowait(self.lost)
        self.free.set()
        self._changed()

    def _route(self, message: tuple[Any, ...]) -> None:
        if message[0] == "dying":
            self._dying = message[1]
            if len(message) > 3 and isinstance(message[2], str) and isinstance(message[3], str):
                self._culprits.add(message[2])
                self._culprit_code.add(message[3])
            return
        if message[0] == "want":
            task = asyncio.get_running_loop().create_task(self._give_body(message[1]))
            self._giving.add(task)
            task.add_done_callback(self._giving.discard)
            return
        queue = self.calls.get(message[1])
        if queue is None:
            return
        queue.put_nowait(message)
        if _ends(message):
            self._end(message[1])

    async def _give_body(self, call_id: str) -> None:
        """The next bytes of a call's request body, which the worker asked for."""
        source = self.bodies.get(call_id)
        error = None
        try:
            if source is None:
                raise CallerGone("the call's request is over: its body can no longer be read")
            data = await source.take()
        except OwtError as err:
            data, error = b"", err.payload()
        self.send_now(("body", call_id, data, error))

    def send_now(self, message: tuple[Any, ...]) -> None:
        """Send a frame without waiting for the pipe to take it: for frames bounded by other
        means (a call's body pieces: the worker asks for at most two at a time). Waiting for
        the pipe kept each piece alive here long after the worker had it, while the pipe
        stayed full with other calls' pieces. A worker gone meanwhile: its reader tells."""
        assert self.stdin is not None and self._out is not None
        if not self.stdin.is_closing():
            self._out.write(pack(message))

    def _end(self, call_id: str) -> None:
        self.calls.pop(call_id, None)
        self.code_of.pop(call_id, None)
        self.bodies.pop(call_id, None)
        self.abandoned.discard(call_id)
        if not self.calls:
            self.idle_since = time.monotonic()
        self._check_free()
        self._changed()

    def _check_free(self) -> None:
        if self.calls.keys() <= self.abandoned:
            self.free.set()

    def abandon(self, call_id: str) -> None:
        """The server gave up on this call; the worker is free once only such calls remain."""
        if call_id in self.calls:
            self.abandoned.add(call_id)
            self._check_free()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    async def _exit(self) -> WorkerLost:
        """The worker's output ended: wait for its exit code and say what happened."""
        assert self.proc is not None
        try:
            code = await asyncio.wait_for(self.proc.wait(), STOP_GRACE)
        except TimeoutError:
            self.kill()
            code = await self.proc.wait()
        self.kill()  # whatever it started in its session goes with it
        crashed_in = self._crash.read() if self._crash is not None else frozenset()
        message = self._dying or describe_exit(code)
        # A crash names its adaptor only if one crashed (an outside signal: owt's files).
        code_ended = (crashed_in & set(self.code_of.values())) | self._culprit_code
        return WorkerLost(message, code, frozenset(self._culprits), code_ended)

    def open(self, call_id: str, code: str = "") -> Frames:
        """Count a call (of adaptor file ``code``) as running here; its frames come on this."""
        queue = Frames()
        if self.lost is not None:
            queue.put_nowait(self.lost)
            return queue
        self.calls[call_id] = queue
        self.code_of[call_id] = code
        self.served += 1
        self.free.clear()
        return queue

    def forget(self, call_id: str) -> None:
        """The call will not finish here (it could not be sent): stop counting it."""
        if call_id in self.calls:
            self._end(call_id)

    async def send(self, message: tuple[Any, ...] | bytes) -> None:
        """Send a frame; a worker gone meanwhile raises its WorkerLost.

        Frames sent during one turn of the event loop go to the pipe together at its end
        (:class:`~owt.core.writes.BatchedWrites`: one write, one wake-up of the worker for a
        burst of calls); when the pipe falls behind, this waits for it to take them.
        """
        assert self.stdin is not None and self._out is not None
        stdin = self.stdin
        if stdin.is_closing():
            await self._raise_lost()
        self._out.write(message if isinstance(message, bytes) else pack(message))
        if self._out.get_write_buffer_size() <= BatchedWrites.FLUSH_BYTES:
            return
        self._out.flush()
        try:
            await stdin.drain()
        except (ConnectionError, RuntimeError):
            await self._raise_lost()

    async def _raise_lost(self) -> None:
        if self.reader is not None:
            await asyncio.shield(self.reader)
        raise self.lost or WorkerLost(describe_exit(None), None)

    def note(self, info: dict[str, Any] | None) -> None:
        if info is not None:
            self.warm = info

    def stopped_because(self, reason: str) -> None:
        """What the calls still in it are told when owt kills it (else its exit is described)."""
        if self._dying is None:
            self._dying = reason

    def kill(self) -> None:
        """SIGKILL the worker and anything it started in its session."""
        if self.proc is None:
            return
        try:  # its session lives on while anything it started does, even after it exited
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            if self.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Close its input (it exits after its calls in hand), then kill it after ``grace``."""
        if self.proc is None:
            return
        if self.stdin is not None and not self.stdin.is_closing():
            if self._out is not None:
                self._out.flush()
            self.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), grace)
        except TimeoutError:
            log.warning("worker %s did not stop in %ss; killing it", self.pid, grace)
        self.kill()  # also whatever it left in its session
        await self.proc.wait()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)

    def status(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "busy": len(self.calls),
            "draining": self.draining,
            "calls": self.served,
            "rss": _rss(self.pid),
            "uptime": round(time.monotonic() - self.started, 3),
            "kept": self.warm.get("kept", []),
            "adaptors": len(self.warm.get("adaptors", [])),
        }


async def _within(read: Any, seconds: float) -> bytes:
    try:
        data: bytes = await asyncio.wait_for(read, seconds)
    except TimeoutError:
        stalled = f"its output stopped inside a frame for {seconds:g}s"
        raise ValueError(f"{stalled} (a frame's length that is not its length)") from None
    return data


def _rss(pid: int | None) -> int | None:
    try:
        with open(f"/proc/{pid}/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
