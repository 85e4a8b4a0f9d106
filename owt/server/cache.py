"""The response cache (SPEC §5): replay a stored response without running the code.

A call with ``use_cache`` is kept under its key (:mod:`owt.server.cachekeys`). Entries live
in a least-recently-used map bounded in bytes; with ``--state-dir`` they are mirrored to a
table of the state database by one writer thread (so the event loop never waits on the
disk) and loaded again at start. Only successful replies (status < 400) are stored; a
streamed reply is teed while it streams and stored only when it completed, just before its
last (empty) body frame goes out, so the very next call is a hit.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from owt.core.arrays import NPY, accepts_npy
from owt.core.call import Call, Reply, Request
from owt.core.errors import MissingCode
from owt.server.cachekeys import NPY_KEY, cache_key, key_base
from owt.server.statedb import StateDB

__all__ = ["PINNED", "Entry", "ResponseCache"]

log = logging.getLogger(__name__)

#: Call option set on a request with no code whose path-only key is cached (``/favicon.ico``).
PINNED = "_pinned"

HIT_HEADER = ("x-owt-cache", "hit")

SCHEMA = """
CREATE TABLE IF NOT EXISTS response_cache (
    key TEXT PRIMARY KEY,
    status INTEGER NOT NULL,
    headers TEXT NOT NULL,
    lengths TEXT NOT NULL,
    body BLOB NOT NULL,
    streamed INTEGER NOT NULL,
    used INTEGER NOT NULL
)
"""


@dataclass
class Entry:
    """A stored reply: its head and its body chunks (one chunk unless it was streamed)."""

    status: int
    headers: list[tuple[str, str]]
    chunks: list[bytes]
    streamed: bool

    @property
    def size(self) -> int:
        head = sum(len(k) + len(v) for k, v in self.headers)
        return head + sum(len(c) for c in self.chunks)

    def reply(self) -> Reply:
        headers = [*self.headers, HIT_HEADER]
        if not self.streamed:
            return Reply(self.status, headers, b"".join(self.chunks))
        first, rest = (self.chunks[0], self.chunks[1:]) if self.chunks else (b"", [])
        return Reply(self.status, headers, first, _replay(rest))


async def _replay(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


class ResponseCache:
    """Replies by key, least recently used evicted first, at most ``max_bytes`` in all.

    >>> cache = ResponseCache(max_bytes=1000)
    >>> cache.put("/a", Entry(200, [], [b"hi"], streamed=False))
    True
    >>> cache.replay("/a").body, cache.hits
    (b'hi', 1)
    """

    def __init__(self, max_bytes: int = 256 * 1024 * 1024, db: StateDB | None = None) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.stores = 0
        self.evictions = 0
        self._disk = _Disk(db) if db is not None else None
        if self._disk is not None:
            for key, entry in self._disk.load(max_bytes):
                self._entries[key] = entry
                self.bytes += entry.size

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def replay(self, key: str) -> Reply | None:
        """The stored reply for ``key`` (counted as a hit), or None (a miss)."""
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry.reply()

    def put(self, key: str, entry: Entry) -> bool:
        """Store an entry, evicting the least recently used; False if it can never fit."""
        if entry.status >= 400 or entry.size > self.max_bytes:
            return False
        self._drop(key)
        self._entries[key] = entry
        self.bytes += entry.size
        self.stores += 1
        while self.bytes > self.max_bytes:
            old_key, old = self._entries.popitem(last=False)
            self.bytes -= old.size
            self.evictions += 1
            if self._disk is not None:
                self._disk.delete(old_key)
        if self._disk is not None:
            self._disk.put(key, entry)
        return True

    def delete(self, key: str) -> int:
        """Forget one key; how many entries went (0 or 1)."""
        gone = self._drop(key)
        if gone and self._disk is not None:
            self._disk.delete(key)
        return int(gone)

    def clear(self) -> int:
        """Forget every entry; how many there were."""
        count = len(self._entries)
        self._entries.clear()
        self.bytes = 0
        if self._disk is not None:
            self._disk.clear()
        return count

    def _drop(self, key: str) -> bool:
        old = self._entries.pop(key, None)
        if old is None:
            return False
        self.bytes -= old.size
        return True

    def keep(self, key: str, reply: Reply) -> Reply:
        """Store ``reply`` under ``key`` if it succeeded; a stream is teed and stored later."""
        if reply.status >= 400:
            return reply
        if reply.stream is None:
            self.put(key, Entry(reply.status, list(reply.headers), [reply.body], False))
            return reply
        if not isinstance(reply.stream, AsyncIterator):
            return reply

        def complete(chunks: list[bytes]) -> None:
            self.put(key, Entry(reply.status, list(reply.headers), chunks, True))

        reply.stream = _Tee(reply.stream, reply.body, complete, self.max_bytes)
        return reply

    async def through(self, call: Call, run: Callable[[Call], Awaitable[Reply]]) -> Reply:
        """Answer ``call`` from the cache, or ``run`` it and keep the reply if it asked to."""
        key = call.options.get(PINNED) or cache_key(call)
        if key is None:
            return await run(call)
        reply = self.replay(key)
        if reply is not None:
            return reply
        if call.options.get(PINNED):  # evicted since it was resolved
            raise MissingCode("send code_b64 (base64 Python source) or code_sha256")
        return self.keep(key, await run(call))

    def pinned_call(self, request: Request) -> Call | None:
        """For a request with no code: a Call that replays its path's entry, if there is one
        (the caller's kind if both are kept: ``.npy`` or not; the other unless it is ``.npy``)."""
        base = key_base(request.path)
        keys = [base, base + NPY_KEY]
        if accepts_npy(request.headers.get("accept", "")):
            keys.reverse()
        for key in keys:
            entry = self._entries.get(key)
            if entry is None:
                continue
            if key == keys[0] or NPY not in dict(entry.headers).values():
                return Call(code="", sha256="", request=request, options={PINNED: key})
        return None

    def stats(self) -> dict[str, Any]:
        return {
            "entries": len(self._entries),
            "bytes": self.bytes,
            "max_bytes": self.max_bytes,
            "hits": self.hits,
            "misses": self.misses,
            "stores": self.stores,
            "evictions": self.evictions,
            "persistent": self._disk is not None,
        }

    def listing(self) -> list[dict[str, Any]]:
        """The entries, most recently used first."""
        return [
            {"key": k, "status": e.status, "bytes": e.size, "streamed": e.streamed}
            for k, e in reversed(self._entries.items())
        ]

    def close(self) -> None:
        """Write the recency order and wait for every pending disk write."""
        if self._disk is not None:
            self._disk.close(list(self._entries))


class _Tee(AsyncIterator[bytes]):
    """Passes a reply stream through, keeping its chunks; ``complete`` gets them only when
    the stream ended normally (never on an error, a timeout or a client that went away)."""

    def __init__(
        self,
        stream: AsyncIterator[bytes],
        first: bytes,
        complete: Callable[[list[bytes]], None],
        max_bytes: int,
    ) -> None:
        self._stream = stream
        self._chunks: list[bytes] | None = [first] if first else []
        self._size = len(first)
        self._complete = complete
        self._max_bytes = max_bytes

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._stream.__anext__()
        except StopAsyncIteration:
            chunks, self._chunks = self._chunks, None
            if chunks is not None:
                self._complete(chunks)
            raise
        except BaseException:
            self._chunks = None
            raise
        if self._chunks is not None and chunk:
            self._size += len(chunk)
            if self._size > self._max_bytes:
                self._chunks = None  # too big to keep: stream it, store nothing
            else:
                self._chunks.append(chunk)
        return chunk

    async def aclose(self) -> None:
        self._chunks = None
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


class _Disk:
    """The cache's table in the state database, written in order by one background thread."""

    def __init__(self, db: StateDB) -> None:
        self.db = db
        db.execute(SCHEMA)
        self._queue: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        rows = db.query("SELECT COALESCE(MAX(used), 0) FROM response_cache")
        self._used = int(rows[0][0]) if rows else 0  # no rows: the file could not be read

    def load(self, max_bytes: int) -> list[tuple[str, Entry]]:
        """The stored entries that fit, least recently used first; the rest are deleted."""
        rows = self.db.query(
            "SELECT key, status, headers, lengths, body, streamed FROM response_cache "
            "ORDER BY used DESC"
        )
        kept: list[tuple[str, Entry]] = []
        dropped: list[tuple[str]] = []
        total = 0
        for key, status, headers, lengths, body, streamed in rows:
            try:
                entry = Entry(
                    int(status),
                    [(str(k), str(v)) for k, v in json.loads(headers)],
                    _split(bytes(body), json.loads(lengths)),
                    bool(streamed),
                )
            except (ValueError, TypeError):
                log.warning("dropping an unreadable cache entry %r", key)
                dropped.append((key,))
                continue
            if total + entry.size > max_bytes:
                dropped.append((key,))
                continue
            total += entry.size
            kept.append((key, entry))
        if dropped:
            self.db.executemany("DELETE FROM response_cache WHERE key = ?", dropped)
        kept.reverse()
        return kept

    def put(self, key: str, entry: Entry) -> None:
        self._used += 1
        row = (
            key,
            entry.status,
            json.dumps(entry.headers),
            json.dumps([len(c) for c in entry.chunks]),
            b"".join(entry.chunks),
            int(entry.streamed),
            self._used,
        )
        self._submit(
            lambda: self.db.execute(
                "INSERT OR REPLACE INTO response_cache VALUES (?, ?, ?, ?, ?, ?, ?)", row
            )
        )

    def delete(self, key: str) -> None:
        self._submit(lambda: self.db.execute("DELETE FROM response_cache WHERE key = ?", (key,)))

    def clear(self) -> None:
        self._submit(lambda: self.db.execute("DELETE FROM response_cache"))

    def _submit(self, write: Callable[[], object]) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._write, name="owt-cache", daemon=True)
            self._thread.start()
        self._queue.put(write)

    def _write(self) -> None:
        while (write := self._queue.get()) is not None:
            try:
                write()
            except Exception:  # a full disk must not stop the server; memory still serves
                log.warning("could not write the response cache", exc_info=True)

    def close(self, order: list[str]) -> None:
        rows = [(used, key) for used, key in enumerate(order, 1)]
        self._submit(
            lambda: self.db.executemany("UPDATE response_cache SET used = ? WHERE key = ?", rows)
        )
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join()


def _split(body: bytes, lengths: list[int]) -> list[bytes]:
    if sum(lengths) != len(body):
        raise ValueError("chunk lengths do not match the body")
    chunks, at = [], 0
    for n in lengths:
        chunks.append(body[at : at + n])
        at += n
    return chunks
