"""SPEC §8: each error kind, its status and fields; the server stays up after every one."""

from __future__ import annotations

import httpx
import pytest
from conftest import b64, call


def error_of(r: httpx.Response, status: int, kind: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["error"] == kind
    assert body["message"]
    return body


def test_bad_base64(owt_server):
    r = httpx.get(owt_server.url + "/", params={"code_b64": "!!!not base64"})
    assert error_of(r, 400, "bad_request")["field"] == "code_b64"


def test_bad_utf8(owt_server):
    r = httpx.get(owt_server.url + "/", params={"code_b64": b64(b"\xff\xfe")})
    assert error_of(r, 400, "bad_request")["field"] == "code_b64"


def test_bad_json_body(owt_server):
    r = httpx.post(
        owt_server.url + "/", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert error_of(r, 400, "bad_request")["field"] == "body"


def test_undecodable_arguments_on_a_locked_style_text(owt_server):
    r = httpx.get(
        owt_server.url + "/", params={"code_b64": b64("def run(): 1"), "kwargs_b64": "%%%"}
    )
    assert error_of(r, 400, "bad_request")["field"] == "kwargs_b64"


@pytest.mark.parametrize("how", ["json", "query"])
def test_arguments_that_are_not_json_blame_the_field_that_was_sent(owt_server, how):
    code = b64("def run(name): return name")
    if how == "json":
        r = httpx.post(owt_server.url + "/", json={"code_b64": code, "kwargs": "owt"})
    else:
        r = httpx.get(owt_server.url + "/", params={"code_b64": code, "kwargs": "owt"})
    body = error_of(r, 400, "bad_request")
    assert body["field"] == "kwargs"
    assert body["message"].startswith("kwargs is 'owt', neither JSON nor a Python literal")
    assert '{"name": "owt"}' in body["message"]  # what to send instead
    # a JSON object's text in a JSON string, or a Python literal, is read as the arguments
    r = httpx.post(owt_server.url + "/", json={"code_b64": code, "kwargs": "{'name': 'x'}"})
    assert r.text == "x"


def test_arguments_the_function_does_not_accept(owt_server):
    r = call(owt_server.url, "def run(a): return a", b=1)
    body = error_of(r, 400, "bad_request")
    assert body["field"] == "kwargs"
    assert "a" in body["message"]


def test_missing_argument(owt_server):
    r = call(owt_server.url, "def run(a, b): return a")
    assert error_of(r, 400, "bad_request")["field"] == "kwargs"


def test_bad_timeout_field(owt_server):
    for bad in ("soon", "-1", "0", "nan", "inf", True, False, [5], {"s": 5}):
        r = call(owt_server.url, "def run(): 1", fields={"timeout": bad})
        assert error_of(r, 400, "bad_request")["field"] == "timeout"


def test_bad_field_types(owt_server):
    url = owt_server.url + "/"
    code = b64("def run(**kw): return kw")
    for body, field in (
        ({"code_b64": code, "kwargs": [1, 2]}, "kwargs"),
        ({"code_b64": code, "fn_name": "not a name"}, "fn_name"),
        ({"code_b64": code, "env": 3}, "env"),
        ({"code_b64": 42}, "code_b64"),
    ):
        assert error_of(httpx.post(url, json=body), 400, "bad_request")["field"] == field


def test_missing_code(owt_server):
    error_of(httpx.get(owt_server.url + "/nothing"), 400, "missing_code")


def test_unknown_code(owt_server):
    r = httpx.get(owt_server.url + "/", params={"code_sha256": "ab" * 32})
    error_of(r, 404, "unknown_code")


@pytest.mark.parametrize("sha", ["00", "ab" * 33, "g" * 64, "sha256:" + "ab" * 32])
def test_a_code_sha256_that_is_no_sha256_is_a_bad_request(owt_server, sha):
    # Not code the server lacks (404 makes owt's clients send the code again): a malformed
    # request, whose message says what a code_sha256 is.
    for url in (owt_server.url + "/", owt_server.url + "/_owt/endpoints/named"):
        send = httpx.put if "endpoints" in url else httpx.post
        r = send(url, json={"code_sha256": sha})
        body = error_of(r, 400, "bad_request")
        assert body["field"] == "code_sha256"
        assert "64 hex digits" in body["message"] and "code_b64" in body["message"]


def test_unknown_env(owt_server):
    r = call(owt_server.url, "def run(): 1", fields={"env": "nowhere"})
    assert error_of(r, 400, "unknown_env")["known"] == ["main"]


def test_syntax_error_has_line_and_column(owt_server):
    r = call(owt_server.url, "def run():\n    return (1 +\n")
    body = error_of(r, 422, "compile_error")
    assert body["line"] == 2
    assert isinstance(body["column"], int)


def test_top_level_raise_is_a_compile_error(owt_server):
    r = call(owt_server.url, "import no_such_module_here\ndef run(): 1")
    body = error_of(r, 422, "compile_error")
    assert "ModuleNotFoundError" in body["traceback"]


def test_no_function(owt_server):
    r = call(owt_server.url, "x = 1", fields={"fn_name": "go"})
    assert error_of(r, 422, "no_function")["fn_name"] == "go"


def test_adaptor_error_has_type_and_own_traceback(owt_server):
    code = "def helper():\n    raise ValueError('boom')\n\ndef run():\n    helper()\n"
    body = error_of(call(owt_server.url, code), 500, "adaptor_error")
    assert body["type"] == "ValueError"
    assert "boom" in body["message"]
    assert "helper" in body["traceback"]
    assert "runner.py" not in body["traceback"]


def test_exit_and_interrupt_do_not_stop_the_server(owt_server):
    for code in (
        "import sys\ndef run(): sys.exit(3)",
        "def run(): raise KeyboardInterrupt",
        "def run(): raise SystemExit",
        "async def run(): raise KeyboardInterrupt",
    ):
        body = error_of(call(owt_server.url, code), 500, "adaptor_error")
        assert body["type"] in ("SystemExit", "KeyboardInterrupt")
    assert httpx.get(owt_server.url + "/_owt/health").text == "ok"


def test_too_large(start_server):
    server = start_server("--max-body-bytes", "1000")
    r = httpx.post(server.url + "/", content=b"x" * 2000)
    assert "--max-body-bytes" in error_of(r, 413, "too_large")["message"]  # what to change
    chunked = httpx.post(server.url + "/", content=iter([b"x" * 600, b"x" * 600]))  # no length
    assert "--max-body-bytes" in error_of(chunked, 413, "too_large")["message"]
    # curl --data-binary @FILE labels a file a form, which is read whole: the error says how
    # to stream it instead. A raw body is told only of the limit.
    form = {"content-type": "application/x-www-form-urlencoded"}
    for headers, told in ((form, True), ({}, True), ({"content-type": "audio/wav"}, False)):
        r = httpx.post(server.url + "/", content=b"x" * 2000, headers=headers)
        message = error_of(r, 413, "too_large")["message"]
        assert ("Content-Type: application/octet-stream" in message) is told, message
    assert call(server.url, "def run(): return 'fine'").text == "fine"


def test_timeout(start_server):
    server = start_server("--timeout", "0.5")
    r = call(server.url, "import time\ndef run(): time.sleep(3)")
    body = error_of(r, 504, "timeout")
    assert body["timeout"] == 0.5 and "--timeout" in body["message"]  # what to change
    # A call may ask for a longer timeout than the server's default.
    r = call(
        server.url,
        "import time\ndef run():\n    time.sleep(0.8)\n    return 'late'",
        fields={"timeout": 5},
    )
    assert r.text == "late"


def test_an_integer_of_more_digits_than_python_converts_is_a_bad_request(owt_server):
    # Python refuses int() of over 4300 digits (a ValueError): a typed argument's or a
    # literal's, it is the caller's request that is wrong, not owt (it was a 500 internal).
    huge = "9" * 5000
    code = "def run(n: int, m=1):\n    return n\n"
    assert httpx.put(
        owt_server.url + "/_owt/endpoints/digits", json={"code_b64": b64(code)}
    ).status_code in (200, 201)
    for reply in (
        httpx.get(owt_server.url + "/digits", params={"n": huge}),
        httpx.post(owt_server.url + "/digits", json={"n": huge}),
        httpx.get(owt_server.url + "/digits", params={"n": "1", "m": huge}),  # hinted by m=1
    ):
        body = error_of(reply, 400, "bad_request")
        assert "more than 4300 digits" in body["message"]
    assert httpx.get(owt_server.url + "/digits", params={"n": "9" * 4300}).text == "9" * 4300
    literal = b64("{'n': " + huge + "}")
    r = httpx.post(owt_server.url + "/", json={"code_b64": b64(code), "kwargs_b64": literal})
    error_of(r, 400, "bad_request")
    r = httpx.post(
        owt_server.url + "/",
        content='{"code_b64": "' + b64(code) + '", "kwargs": {"n": ' + huge + "}}",
        headers={"content-type": "application/json"},
    )
    error_of(r, 400, "bad_request")
