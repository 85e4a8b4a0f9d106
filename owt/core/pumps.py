"""Streams pumped into bounded queues, so the chunks ready at once cross together. Stdlib only.

A host (:mod:`owt.core.host`) answers a streamed reply's head and pumps the rest here: a
:class:`Pump` runs an async generator on the host's loop, a :class:`SyncPump` a sync one on
one host thread from its first chunk to its last. The transport takes the chunks ready at
each moment as one batch of :data:`Item` (a worker's pipe, a Ray call, a thread hop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from owt.core.errors import Internal, OwtError
from owt.core.streams import SyncStream
from owt.core.threads import ThreadPool

__all__ = [
    "BATCH_BYTES",
    "DIRECT_AFTER",
    "PUMP_BYTES",
    "PUMP_SIZE",
    "Item",
    "Pump",
    "SyncPump",
    "is_end",
]

log = logging.getLogger(__name__)

#: One item of a stream's batch: a chunk, an error payload (the end), or None (the end).
Item = bytes | dict[str, Any] | None

PUMP_SIZE = 64  # chunks made ahead of the transport, at most, per stream
#: ...and bytes: a stream of large chunks whose reader stalls holds this much, not 64 chunks.
PUMP_BYTES = 4 * 1024 * 1024
#: A batch stops growing past this many bytes (a transport sends a few batches ahead).
BATCH_BYTES = 2 * 1024 * 1024
#: A chunk that took this long to make goes by the direct lane, when its pump has one:
#: quicker chunks wait on the loop, to go on together with the ones made after them.
DIRECT_AFTER = 0.001


def is_end(batch: list[Item]) -> bool:
    """True when this batch ends its stream (its last item is the end or an error)."""
    return not isinstance(batch[-1], bytes)


def _failed(exc: BaseException) -> dict[str, Any]:
    return Internal(f"the host failed: {type(exc).__name__}: {exc}").payload()


class Pump:
    """Pulls a reply stream into a bounded queue, so the chunks ready at once cross together.

    A slow adaptor's chunks still go one by one, as each is made; a fast one's go in
    batches. The end is ``None``, a failure an error payload. Closing it before the end
    closes the adaptor's generator (its ``finally`` runs). Lives on one event loop.

    Made with ``start=False`` it waits for :meth:`start`, so that its transport can be
    waiting for the first chunk before the generator runs: an ``async def`` generator that
    computes between its chunks keeps the loop, and a reader that started after it would
    find the second chunk made before it could send the first.
    """

    def __init__(
        self, stream: AsyncIterator[bytes], size: int = PUMP_SIZE, start: bool = True
    ) -> None:
        self.queue: asyncio.Queue[Item] = asyncio.Queue(size)
        self.loop = asyncio.get_running_loop()
        self.source = stream
        self.task: asyncio.Task[None] | None = None
        self._wanted = self._closed = False
        self.held = 0  # bytes in the queue
        self._roomy = asyncio.Event()  # set while under PUMP_BYTES
        self._roomy.set()
        if start:
            self._wanted = True
            self._begin()

    def start(self) -> None:
        """From any thread: start pulling at the loop's next turn (once)."""
        if not self._wanted:
            self._wanted = True
            self.loop.call_soon_threadsafe(self._begin)

    def _begin(self) -> None:
        if self.task is None and not self._closed:
            self.task = self.loop.create_task(self._run(self.source))

    async def _run(self, stream: AsyncIterator[bytes]) -> None:
        end: Item = None
        finished = False
        try:
            while True:
                try:
                    chunk = await stream.__anext__()
                except StopAsyncIteration:
                    break
                await self.queue.put(chunk)
                self.held += len(chunk)
                if self.held >= PUMP_BYTES:
                    self._roomy.clear()
                    await self._roomy.wait()
            finished = True
        except OwtError as err:
            finished, end = True, err.payload()
        except Exception as exc:  # a bug in owt: end the stream, say so
            log.exception("internal error while streaming")
            finished, end = True, _failed(exc)
        finally:
            if not finished:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()
        await self.queue.put(end)

    async def batch(self) -> list[Item]:
        """The chunks ready now (up to :data:`BATCH_BYTES`); waits for the first."""
        return self._more([await self.queue.get()])

    def ready(self) -> list[Item]:
        """The chunks ready now, maybe none (after a :meth:`batch` that did not end)."""
        if self.queue.empty():
            return []
        return self._more([self.queue.get_nowait()])

    def _more(self, items: list[Item]) -> list[Item]:
        size = len(items[0]) if isinstance(items[0], bytes) else 0
        while not self.queue.empty() and isinstance(items[-1], bytes) and size < BATCH_BYTES:
            item = self.queue.get_nowait()
            items.append(item)
            if isinstance(item, bytes):
                size += len(item)
        self._taken(size)
        return items

    def _taken(self, size: int) -> None:
        self.held -= size
        if self.held < PUMP_BYTES:
            self._roomy.set()

    async def close(self) -> None:
        """Stop pumping (closing the adaptor's generator); a waiting :meth:`batch` ends."""
        self._closed = True
        self._roomy.set()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        elif (aclose := getattr(self.source, "aclose", None)) is not None:
            await asyncio.gather(aclose(), return_exceptions=True)  # never started
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class SyncPump(Pump):
    """A sync stream pulled by one pool thread from its first chunk to its last.

    No round trip to a thread per chunk: the thread runs the generator on and hands each
    chunk to the loop, at most ``size`` ahead of :meth:`batch`. Closing it stops the pulling
    after the ``next`` in flight and closes the generator on the pulling thread (its
    ``finally`` runs).

    With a ``direct`` lane (a worker process's pipe), a chunk that took
    :data:`DIRECT_AFTER` or more to make is sent on by this thread itself when the lane has
    room: a generator that keeps the GIL between chunks would otherwise make the loop's
    thread wait a switch interval (5 ms) at each step of the hand-over. A worker starts its
    pumps (``start=False``, then :meth:`start`) once their head is out, each on a
    ``loop`` of its own (not the one ``async def`` code may block).
    """

    def __init__(
        self,
        stream: SyncStream,
        pool: ThreadPool,
        user_code: Callable[[], contextlib.AbstractContextManager[None]],
        size: int = PUMP_SIZE,
        direct: Callable[[bytes, bool], bool] | None = None,
        start: bool = True,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.loop = loop or asyncio.get_running_loop()  # where its transport takes chunks
        self.queue = asyncio.Queue()  # bounded by ``room`` and ``held``, which the thread waits on
        self.room = threading.Semaphore(size)
        self.held = 0  # bytes handed to the loop, not yet taken by the transport
        self._bytes = threading.Condition()
        self.stopped = threading.Event()
        self.stream = stream
        self._user_code = user_code
        #: ``direct(chunk, slow)`` sends a slow chunk on from this thread when it can (True);
        #: every other chunk it counts as handed to the loop (False), to keep them in order.
        self.direct = direct
        self.pool = pool
        self._started = threading.Lock()  # held once pulling started
        if start:
            self.start()

    def start(self) -> None:
        """From any thread: start pulling, once."""
        if self._started.acquire(blocking=False):
            self.pool.submit(self._pull)

    def _pull(self) -> None:
        with self._user_code():
            try:
                while not self.stopped.is_set():
                    started = time.perf_counter()
                    try:
                        chunk = next(self.stream)
                    except StopIteration:
                        self._put(None)
                        return
                    except OwtError as err:
                        self._put(err.payload())
                        return
                    except Exception as exc:  # a bug in owt: end the stream, say so
                        log.exception("internal error while streaming")
                        self._put(_failed(exc))
                        return
                    lane = self.direct
                    if lane is not None and not self.stopped.is_set():
                        slow = time.perf_counter() - started >= DIRECT_AFTER
                        if lane(chunk, slow):
                            continue
                    self._put(chunk)
            finally:
                self.stream.close()

    def _put(self, item: Item) -> None:
        if isinstance(item, bytes):
            with self._bytes:
                while self.held >= PUMP_BYTES and not self.stopped.is_set():
                    self._bytes.wait(0.1)  # the transport is behind: wait
                self.held += len(item)
        while not self.stopped.is_set():
            if self.room.acquire(timeout=0.1):  # else the transport is behind: wait
                try:
                    self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
                except RuntimeError:  # the loop is closed: nobody will read this
                    self.stopped.set()
                return

    async def batch(self) -> list[Item]:
        items = await super().batch()
        for _ in items:
            self.room.release()
        return items

    def ready(self) -> list[Item]:
        items = super().ready()
        for _ in items:
            self.room.release()
        return items

    def _taken(self, size: int) -> None:
        with self._bytes:
            self.held -= size
            if self.held < PUMP_BYTES:
                self._bytes.notify()

    async def close(self) -> None:
        self.stopped.set()
        with self._bytes:
            self._bytes.notify_all()
        self.start()  # if it never did: its thread closes the generator (its finally runs)
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)
