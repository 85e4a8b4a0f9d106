"""SPEC §5 against a real server: a cached call runs nothing; keys, errors, streams, bounds,
persistence, the pinned favicon and the admin routes.

Every adaptor here appends to a file it is given, so the file's length counts its runs.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import httpx
import pytest
from conftest import b64, call

COUNTED = """
def run(log, text="hello", **_):
    with open(log, "a") as f:
        f.write("x")
    return text
"""

STREAMED = """
import time
def run(log, n=4, pause=0.0):
    with open(log, "a") as f:
        f.write("x")
    for i in range(n):
        yield f"chunk {i}\\n"
        time.sleep(pause)
"""

FLAKY = """
def run(log):
    with open(log, "a") as f:
        f.write("x")
    if len(open(log).read()) == 1:
        raise RuntimeError("first call fails")
    return "fine"
"""

BROKEN_STREAM = """
def run(log):
    with open(log, "a") as f:
        f.write("x")
    yield "start\\n"
    raise RuntimeError("mid-stream")
"""


def runs(log: Path) -> int:
    return len(log.read_text()) if log.exists() else 0


def unique(prefix: str = "/cached") -> str:
    return f"{prefix}/{uuid.uuid4().hex}"


def cached(
    url: str, code: str, path: str, log: Path, fields: dict | None = None, **kwargs: object
) -> httpx.Response:
    """Call ``code`` at ``path`` with ``use_cache`` (and ``fields``), logging to ``log``."""
    return call(
        url, code, path=path, fields={"use_cache": True, **(fields or {})}, log=str(log), **kwargs
    )


def cache_stats(url: str) -> dict:
    return httpx.get(url + "/_owt/status").json()["cache"]


def test_second_call_runs_nothing_and_returns_the_same_bytes(owt_server, tmp_path):
    log, path = tmp_path / "log", unique()
    first = cached(owt_server.url, COUNTED, path, log, text="hello")
    second = cached(owt_server.url, COUNTED, path, log, text="hello")
    assert first.status_code == second.status_code == 200
    assert second.content == first.content == b"hello"
    assert second.headers["content-type"] == first.headers["content-type"]
    assert "x-owt-cache" not in first.headers
    assert second.headers["x-owt-cache"] == "hit"
    assert runs(log) == 1


def test_without_use_cache_every_call_runs(owt_server, tmp_path):
    log, path = tmp_path / "log", unique()
    for _ in range(2):
        call(owt_server.url, COUNTED, path=path, log=str(log))
    assert runs(log) == 2


def test_streamed_reply_is_stored_when_complete_and_replayed_as_a_stream(owt_server, tmp_path):
    log, path = tmp_path / "log", unique()
    first = cached(owt_server.url, STREAMED, path, log)
    assert first.headers.get("transfer-encoding") == "chunked"
    # The very next call is a hit: the entry was stored before the last byte went out.
    second = cached(owt_server.url, STREAMED, path, log)
    assert second.content == first.content == b"".join(b"chunk %d\n" % i for i in range(4))
    assert second.headers["x-owt-cache"] == "hit"
    assert second.headers.get("transfer-encoding") == "chunked"
    assert second.headers["content-type"] == first.headers["content-type"]
    assert runs(log) == 1


def test_the_key_is_the_path_unless_cache_kwargs(owt_server, tmp_path):
    log, path = tmp_path / "log", unique()
    assert cached(owt_server.url, COUNTED, path, log, text="one").text == "one"
    # Same path, other arguments: still the path's entry.
    assert cached(owt_server.url, COUNTED, path, log, text="two").text == "one"
    assert runs(log) == 1
    # Another path is another key.
    assert cached(owt_server.url, COUNTED, unique(), log, text="three").text == "three"
    assert runs(log) == 2


def test_cache_kwargs_keys_by_the_decoded_arguments(owt_server, tmp_path):
    log, path = tmp_path / "log", unique()
    opts = {"use_cache": True, "cache_kwargs": True}
    r = call(owt_server.url, COUNTED, path=path, fields=opts, log=str(log), a=1, b=2)
    assert r.text == "hello"
    # The same arguments as a Python literal, in another order, by GET: the same entry.
    literal = f"{{'b': 2, 'a': 1, 'log': {str(log)!r}}}"
    params = {"code_b64": b64(COUNTED), "kwargs_b64": b64(literal), **opts}
    again = httpx.get(owt_server.url + path, params=params)
    assert again.headers["x-owt-cache"] == "hit"
    assert runs(log) == 1
    # Other values: another entry.
    r = call(owt_server.url, COUNTED, path=path, fields=opts, log=str(log), a=1, b=3)
    assert "x-owt-cache" not in r.headers
    assert runs(log) == 2


def test_cache_key_override_is_shared_across_paths(owt_server, tmp_path):
    log, key = tmp_path / "log", uuid.uuid4().hex
    opts = {"cache_key_override": key}
    assert cached(owt_server.url, COUNTED, unique(), log, text="a", fields=opts).text == "a"
    assert cached(owt_server.url, COUNTED, unique(), log, text="b", fields=opts).text == "a"
    assert runs(log) == 1
    keys = [e["key"] for e in httpx.get(owt_server.url + "/_owt/cache").json()["keys"]]
    assert key in keys


def test_errors_are_never_stored(owt_server, tmp_path):
    log, path = tmp_path / "log", unique()
    assert cached(owt_server.url, FLAKY, path, log).status_code == 500
    assert cached(owt_server.url, FLAKY, path, log).text == "fine"
    assert cached(owt_server.url, FLAKY, path, log).headers["x-owt-cache"] == "hit"
    assert runs(log) == 2


def test_a_stream_that_fails_midway_is_not_stored(owt_server, tmp_path):
    log, path = tmp_path / "log", unique()
    body = {"code_b64": b64(BROKEN_STREAM), "kwargs": {"log": str(log)}, "use_cache": True}
    for _ in range(2):
        received = b""
        # the failure is never disguised
        with (
            pytest.raises(httpx.RemoteProtocolError),
            httpx.stream("POST", owt_server.url + path, json=body, timeout=30) as r,
        ):
            assert "x-owt-cache" not in r.headers
            for chunk in r.iter_raw():
                received += chunk
        assert received.startswith(b"start")
    assert runs(log) == 2


def test_a_stream_the_client_left_is_not_stored(owt_server, tmp_path):
    log, path = tmp_path / "log", unique()
    body = {
        "code_b64": b64(STREAMED),
        "kwargs": {"log": str(log), "n": 50, "pause": 0.05},
        "use_cache": True,
    }
    with httpx.stream("POST", owt_server.url + path, json=body, timeout=30) as r:
        assert next(r.iter_raw()).startswith(b"chunk 0")
    r = cached(owt_server.url, STREAMED, path, log, n=2)
    assert "x-owt-cache" not in r.headers
    assert r.text == "chunk 0\nchunk 1\n"
    assert runs(log) == 2


def test_code_sent_by_hash_is_cached_too(owt_server, tmp_path):
    log, path = tmp_path / "log", unique()
    assert cached(owt_server.url, COUNTED, path, log, text="by hash").text == "by hash"
    params = {
        "code_sha256": hashlib.sha256(COUNTED.encode()).hexdigest(),
        "kwargs_b64": b64(json.dumps({"log": str(log)})),
        "use_cache": "yes",
    }
    again = httpx.get(owt_server.url + path, params=params)
    assert again.text == "by hash"
    assert runs(log) == 1


def test_pinned_favicon_is_served_to_requests_without_code(owt_server, tmp_path):
    path = unique("/pinned") + "/favicon.ico"
    icon = (
        "from owt import Response\n"
        "def run():\n"
        "    return Response(bytes(range(256)), 200, {'content-type': 'image/x-icon'})\n"
    )
    pin = call(owt_server.url, icon, path=path, fields={"use_cache": True})
    assert pin.status_code == 200
    browser = httpx.get(owt_server.url + path)  # what a browser sends: no code at all
    assert browser.status_code == 200
    assert browser.content == bytes(range(256))
    assert browser.headers["content-type"] == "image/x-icon"
    # A path with nothing cached still says what is missing.
    missing = httpx.get(owt_server.url + unique("/pinned") + "/favicon.ico")
    assert missing.status_code == 400
    assert missing.json()["error"] == "missing_code"


def test_only_the_path_only_key_is_pinned(owt_server, tmp_path):
    log, path = tmp_path / "log", unique()
    opts = {"use_cache": True, "cache_kwargs": True}
    call(owt_server.url, COUNTED, path=path, fields=opts, log=str(log))
    assert httpx.get(owt_server.url + path).json()["error"] == "missing_code"


def test_delete_one_key_then_all(owt_server, tmp_path):
    log, one, two = tmp_path / "log", unique(), unique()
    cached(owt_server.url, COUNTED, one, log)
    cached(owt_server.url, COUNTED, two, log)
    r = httpx.delete(owt_server.url + "/_owt/cache", params={"key": one})
    assert r.json() == {"cleared": 1}
    cached(owt_server.url, COUNTED, one, log)
    cached(owt_server.url, COUNTED, two, log)
    assert runs(log) == 3  # only the deleted key ran again
    assert httpx.delete(owt_server.url + "/_owt/cache").json()["cleared"] >= 2
    assert cache_stats(owt_server.url)["entries"] == 0
    cached(owt_server.url, COUNTED, two, log)
    assert runs(log) == 4


def test_status_counts_hits_misses_and_bytes(owt_server, tmp_path):
    log, path = tmp_path / "log", unique()
    before = cache_stats(owt_server.url)
    cached(owt_server.url, COUNTED, path, log, text="x" * 100)
    cached(owt_server.url, COUNTED, path, log)
    after = cache_stats(owt_server.url)
    assert after["misses"] == before["misses"] + 1
    assert after["hits"] == before["hits"] + 1
    assert after["stores"] == before["stores"] + 1
    assert after["bytes"] >= before["bytes"] + 100
    assert after["max_bytes"] == 256 * 1024 * 1024


def test_small_bound_evicts_the_least_recently_used(start_server, tmp_path):
    server = start_server("--cache-max-bytes", "3000")
    log = tmp_path / "log"
    text = "y" * 800  # each entry is ~850 bytes with its headers: three fit, four do not
    paths = ["/e1", "/e2", "/e3"]
    for path in paths:
        cached(server.url, COUNTED, path, log, text=text)
    cached(server.url, COUNTED, "/e1", log)  # e1 is now the most recently used
    cached(server.url, COUNTED, "/e4", log, text=text)  # evicts e2
    assert runs(log) == 4
    assert cached(server.url, COUNTED, "/e1", log).headers.get("x-owt-cache") == "hit"
    assert cached(server.url, COUNTED, "/e2", log, text=text).headers.get("x-owt-cache") is None
    stats = cache_stats(server.url)
    assert stats["bytes"] <= 3000
    assert stats["evictions"] >= 1
    # One reply larger than the whole bound is served but never stored.
    big = cached(server.url, COUNTED, "/big", log, text="z" * 5000)
    assert big.text == "z" * 5000
    assert (
        cached(server.url, COUNTED, "/big", log, text="z" * 5000).headers.get("x-owt-cache") is None
    )
    assert cache_stats(server.url)["bytes"] <= 3000


@pytest.mark.timeout(60)
def test_entries_survive_a_restart_with_a_state_dir(start_server, tmp_path):
    state, log = tmp_path / "state", tmp_path / "log"
    first = start_server("--state-dir", str(state))
    plain = cached(first.url, COUNTED, "/plain", log, text="kept")
    streamed = cached(first.url, STREAMED, "/streamed", log)
    pin = call(first.url, "def run(): return b'ICON'", path="/favicon.ico", fields={"use_cache": 1})
    assert pin.status_code == 200
    assert first.stop() == 0
    assert (state / "owt.sqlite3").exists()

    second = start_server("--state-dir", str(state))
    again = cached(second.url, COUNTED, "/plain", log, text="other")
    assert again.text == plain.text == "kept"
    replay = cached(second.url, STREAMED, "/streamed", log)
    assert replay.content == streamed.content
    assert replay.headers.get("transfer-encoding") == "chunked"
    assert httpx.get(second.url + "/favicon.ico").content == b"ICON"
    assert runs(log) == 2
    assert cache_stats(second.url)["persistent"] is True

    # A cleared cache stays cleared after the next restart.
    httpx.delete(second.url + "/_owt/cache")
    assert second.stop() == 0
    third = start_server("--state-dir", str(state))
    assert cache_stats(third.url)["entries"] == 0
