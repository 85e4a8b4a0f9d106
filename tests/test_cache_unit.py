"""owt.server.cache in-process: keys, LRU order in bytes, the stream tee, the SQLite mirror."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from owt.core.call import Call, Reply, Request
from owt.core.errors import AdaptorError
from owt.server.cache import Entry, ResponseCache
from owt.server.cachekeys import cache_key
from owt.server.statedb import StateDB


def make_call(path: str = "/p", kwargs: dict | None = None, expr: str | None = None, **opts):
    return Call(
        code="",
        sha256="",
        kwargs=kwargs or {},
        kwargs_expr=expr,
        request=Request(path=path),
        options=opts,
    )


def entry(body: bytes) -> Entry:
    return Entry(200, [], [body], streamed=False)


def test_no_key_without_use_cache():
    assert cache_key(make_call(cache_kwargs=True)) is None


def test_key_is_the_path_or_the_override_plus_canonical_arguments():
    assert cache_key(make_call(use_cache=True, kwargs={"a": 1})) == "/p"
    one = make_call(use_cache=True, cache_kwargs=True, kwargs={"a": 1, "b": [2, "é"]})
    two = make_call(use_cache=True, cache_kwargs=True, kwargs={"b": [2, "é"], "a": 1})
    assert cache_key(one) == cache_key(two) == '/p?{"a":1,"b":[2,"é"]}'
    assert cache_key(make_call(use_cache=True, cache_kwargs=True, kwargs={"a": 1.0})) != (
        cache_key(make_call(use_cache=True, cache_kwargs=True, kwargs={"a": 1}))
    )
    over = make_call(use_cache=True, cache_key_override="k", cache_kwargs=True, kwargs={"a": 1})
    assert cache_key(over) == 'k?{"a":1}'


def test_arguments_only_known_where_the_call_runs_key_by_their_text():
    a = make_call(use_cache=True, cache_kwargs=True, expr="dict(a=1)")
    b = make_call(use_cache=True, cache_kwargs=True, expr="dict(a=2)")
    assert cache_key(a) == "/p?{}|expr:dict(a=1)"
    assert cache_key(a) != cache_key(b)


def test_values_json_cannot_hold_still_make_a_key():
    odd = make_call(use_cache=True, cache_kwargs=True, kwargs={"s": {3, 1}, "b": b"x", 1: 2})
    assert cache_key(odd)


def test_lru_in_bytes():
    cache = ResponseCache(max_bytes=30)
    for key in "abc":
        assert cache.put(key, entry(b"0123456789"))
    assert cache.replay("a") is not None  # a is now the most recent
    cache.put("d", entry(b"0123456789"))
    assert "b" not in cache
    assert [e["key"] for e in cache.listing()] == ["d", "a", "c"]
    assert cache.bytes == 30
    assert not cache.put("huge", entry(b"x" * 31))
    assert not cache.put("error", Entry(500, [], [b""], streamed=False))
    assert cache.stats()["evictions"] == 1


async def _chunks(parts: list[bytes], fail: bool = False) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    if fail:
        raise AdaptorError("boom")


async def _drain(reply: Reply) -> bytes:
    assert isinstance(reply.stream, AsyncIterator)
    out = [reply.body]
    async for chunk in reply.stream:
        out.append(chunk)
    return b"".join(out)


def test_stream_stored_only_when_complete():
    async def main() -> None:
        cache = ResponseCache()
        reply = cache.keep("s", Reply(200, [], b"a", _chunks([b"b", b"c"])))
        assert "s" not in cache
        assert await _drain(reply) == b"abc"
        assert "s" in cache
        hit = cache.replay("s")
        assert hit is not None and hit.body == b"a"
        assert await _drain(hit) == b"abc"

        failed = cache.keep("f", Reply(200, [], b"a", _chunks([b"b"], fail=True)))
        with pytest.raises(AdaptorError):
            await _drain(failed)
        assert "f" not in cache

        left = cache.keep("l", Reply(200, [], b"a", _chunks([b"b", b"c"])))
        assert left.stream is not None
        await left.stream.__anext__()  # type: ignore[union-attr]
        await left.stream.aclose()  # type: ignore[union-attr]
        assert "l" not in cache

    anyio.run(main)


def test_disk_mirror_keeps_order_and_bound(tmp_path):
    db = StateDB(tmp_path)
    cache = ResponseCache(max_bytes=100, db=db)
    for key in "abc":
        cache.put(key, Entry(200, [("content-type", "x/y")], [b"12", b"345"], streamed=True))
    cache.replay("a")
    cache.close()
    db.close()

    db = StateDB(tmp_path)
    again = ResponseCache(max_bytes=100, db=db)
    assert [e["key"] for e in again.listing()] == ["a", "c", "b"]
    hit = again.replay("b")
    assert hit is not None and hit.body == b"12"
    again.close()
    db.close()

    # A smaller bound at the next start keeps the most recent entries and forgets the rest.
    db = StateDB(tmp_path)
    small = ResponseCache(max_bytes=40, db=db)
    assert [e["key"] for e in small.listing()] == ["b", "a"]
    small.close()
    assert len(db.query("SELECT key FROM response_cache")) == 2
    db.close()


def test_a_path_cannot_spell_the_key_of_arguments_or_of_npy_callers():
    spelled = make_call(path='/x?{"x":1}', use_cache=True)
    fair = make_call(path="/x", use_cache=True, cache_kwargs=True, kwargs={"x": 1})
    assert cache_key(spelled) != cache_key(fair) == '/x?{"x":1}'
    assert cache_key(spelled) == "/x%3F{%22x%22:1}".replace("%22", '"')
    npy = Call(
        code="",
        sha256="",
        request=Request(path="/y", header_pairs=[("accept", "application/x-npy")]),
        options={"use_cache": True},
    )
    assert cache_key(make_call(path="/y|npy", use_cache=True)) != cache_key(npy) == "/y|npy"
    assert cache_key(make_call(path="/100%", use_cache=True)) == "/100%25"


def test_a_pinned_path_is_served_to_a_caller_of_either_kind():
    """A path-only entry answers a request with no code whatever its Accept, unless the
    entry is a .npy array and the caller did not ask for one."""
    cache = ResponseCache(10_000)
    cache.put("/pin", Entry(200, [("content-type", "text/plain")], [b"text"], False))
    cache.put("/arr|npy", Entry(200, [("content-type", "application/x-npy")], [b"N"], False))
    npy = [("accept", "application/x-npy")]
    for path, headers, key in [
        ("/pin", [], "/pin"),
        ("/pin", npy, "/pin"),
        ("/arr", npy, "/arr|npy"),
        ("/arr", [], None),
        ("/none", [], None),
    ]:
        pinned = cache.pinned_call(Request(path=path, header_pairs=headers))
        assert (pinned.options["_pinned"] if pinned else None) == key, (path, headers)
