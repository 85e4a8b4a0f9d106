"""Bounded parsing against a real server: inputs that exhaust a parser's recursion get a clear
400/413/422, never 500 ``internal``; compiling a large new code does not stall the server."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from conftest import b64, call

from owt.core.compiling import compile_code, load_precompiled, precompile
from owt.core.errors import CompileError

DEEP_JSON = "[" * 100_000 + "]" * 100_000
LONG_EXPRESSION = "+".join(["1"] * 300_000)
ANY = "def run(**kwargs):\n    return 'ran'\n"


def assert_error(r: httpx.Response, status: int, kind: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == kind
    assert body["message"]
    return body


def test_json_nested_100000_deep(owt_server):
    body = '{"code_b64": "%s", "kwargs": {"a": %s}}' % (b64(ANY), DEEP_JSON)  # noqa: UP031
    r = httpx.post(owt_server.url + "/", content=body, headers={"content-type": "application/json"})
    assert assert_error(r, 400, "bad_request")["field"] == "body"
    r = call(owt_server.url, ANY, fields={"kwargs_b64": b64(DEEP_JSON)})
    assert assert_error(r, 400, "bad_request")["field"] == "kwargs_b64"


def test_a_300000_term_expression(owt_server):
    for code in (
        f"x = {LONG_EXPRESSION}\ndef run():\n    return x\n",  # explicit
        f"lambda: {LONG_EXPRESSION}",  # implicit
    ):
        body = assert_error(call(owt_server.url, code), 422, "compile_error")
        assert "nested too deeply" in body["message"]
    fields = {"kwargs_b64": b64(LONG_EXPRESSION)}  # arguments evaluated (unlocked server)
    r = call(owt_server.url, ANY, fields=fields)
    assert assert_error(r, 400, "bad_request")["field"] == "kwargs_b64"
    r = httpx.put(
        owt_server.url + "/_owt/endpoints/deep", json={"code_b64": b64(f"x = {LONG_EXPRESSION}")}
    )
    assert_error(r, 422, "compile_error")
    assert call(owt_server.url, "def run(): return 'still up'").text == "still up"


def test_code_over_its_limit_is_413(start_server):
    server = start_server("--max-code-bytes", "1000")
    big = ANY + "#" * 2000
    assert assert_error(call(server.url, big), 413, "too_large")["field"] == "code_b64"
    assert_error(call(server.url, big, method="GET"), 413, "too_large")
    r = httpx.put(server.url + "/_owt/endpoints/big", json={"code_b64": b64(big)})
    assert_error(r, 413, "too_large")
    assert call(server.url, ANY + "#" * 500).text == "ran"


def test_a_7mb_adaptor_does_not_stall_the_server(start_server):
    server = start_server("--timeout", "120")
    code = "def run():\n    return 'big'\n" + "\n".join(f"v{i} = {i}" for i in range(425_000))
    assert len(code) > 7_000_000
    delays: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=30) as client:
            while not done.is_set():
                start = time.monotonic()
                assert client.get(server.url + "/_owt/health").text == "ok"
                delays.append(time.monotonic() - start)
                time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        r = httpx.post(server.url + "/", json={"code_b64": b64(code)}, timeout=120)
    finally:
        done.set()
        prober.join()
    assert r.text == "big"
    assert len(delays) > 10  # the compile took a while: health was asked all along
    assert max(delays) < 2.0, max(delays)  # in-process, the compile held the loop for 5-7 s


def test_precompiled_code_round_trips():
    shape, code = load_precompiled(precompile("def run():\n    return 2\n", "<t>"))
    assert shape == "explicit"
    namespace: dict = {}
    exec(code, namespace)
    assert namespace["run"]() == 2
    assert compile_code("lambda: 1", "<t>")[0] == "implicit"
    with pytest.raises(CompileError) as caught:
        load_precompiled(precompile("def run(:", "<t>"))
    assert caught.value.extra["line"] == 1


BIG_LITERAL = "{'rows': [" + "(1, 2.5, 'ab'), " * 20_000 + "]}"  # ~320 KB, not JSON


def test_a_large_python_literal_is_not_parsed_on_the_servers_loop(
    owt_server, start_server, tmp_path
):
    code = "def run(rows):\n    return str(len(rows))\n"
    # unlocked: text that is not JSON is evaluated where the call runs
    started = time.monotonic()
    r = call(owt_server.url, code, fields={"kwargs_b64": b64(BIG_LITERAL)})
    assert r.text == "20000", r.text
    assert time.monotonic() - started < 10
    # locked (nothing is evaluated): a long literal is refused, saying to send JSON
    (tmp_path / "rows.py").write_text(code)
    locked = start_server("--locked", "--mount", f"rows={tmp_path / 'rows.py'}")
    r = httpx.post(locked.url + "/rows", json={"kwargs_b64": b64(BIG_LITERAL)}, timeout=30)
    body = assert_error(r, 400, "bad_request")
    assert body["field"] == "kwargs_b64" and "must be" in body["message"]
    assert "JSON" in body["message"]
