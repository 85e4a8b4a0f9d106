"""SPEC §2–3 against a real server: paths, methods, fields, argument decoding, shapes."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from conftest import b64, call

HELLO = 'def run(name):\n    return f"Hello, {name}!"\n'
ECHO_REQUEST = """
def run(request, **kwargs):
    return {
        "method": request.method,
        "path": request.path,
        "full_path": request.full_path,
        "args": dict(request.args),
        "kwargs": kwargs,
        "json": request.json,
        "url": request.url,
        "host_url": request.host_url,
        "remote_addr": request.remote_addr,
        "cookies": request.cookies,
        "header": request.headers.get("X-Test"),
    }
"""


def test_post_json_body(owt_server):
    r = call(owt_server.url, HELLO, name="owt")
    assert r.status_code == 200
    assert r.text == "Hello, owt!"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"


def test_get_query_string_on_any_path(owt_server):
    r = call(owt_server.url, HELLO, path="/any/path/you/like", method="GET", name="owt")
    assert r.status_code == 200, r.text
    assert r.text == "Hello, owt!"


def test_url_safe_base64_without_padding(owt_server):
    code = 'def run():\n    return "ÿ~?>" * 3\n'  # bytes that differ between alphabets
    text = base64.urlsafe_b64encode(code.encode()).decode().rstrip("=")
    assert "-" in text or "_" in text
    r = httpx.get(owt_server.url + "/", params={"code_b64": text})
    assert r.status_code == 200, r.text
    assert r.text == "ÿ~?>" * 3


def test_b64_prefix_is_an_alias(owt_server):
    r = call(owt_server.url, "def run(request): return request.path", path="/b64/some/where")
    assert r.text == "/some/where"


def test_kwargs_b64_python_literal(owt_server):
    params = {"code_b64": b64(HELLO), "kwargs_b64": b64("{'name': 'literal'}")}
    r = httpx.get(owt_server.url + "/", params=params)
    assert r.text == "Hello, literal!"


def test_kwargs_b64_evaluated_when_unlocked(owt_server):
    params = {"code_b64": b64(HELLO), "kwargs_b64": b64("dict(name='ev' + 'al')")}
    r = httpx.get(owt_server.url + "/", params=params)
    assert r.status_code == 200, r.text
    assert r.text == "Hello, eval!"


def test_evaluated_keys_are_text_as_a_literals_are(owt_server):
    # {1: 'x'} as a literal names the argument "1"; evaluated ({...} | {}) it was a 500
    # (TypeError: keywords must be strings) in place of the same answer.
    code = "def run(**kw): return sorted(kw.items())"
    for text in ("{1: 'x', 'y': 2}", "{1: 'x'} | {'y': 1 + 1}"):
        params = {"code_b64": b64(code), "kwargs_b64": b64(text)}
        r = httpx.get(owt_server.url + "/", params=params)
        assert r.status_code == 200, r.text
        assert r.json() == [["1", "x"], ["y", 2]]


def test_decoded_string_is_decoded_again(owt_server):
    inner = json.dumps({"name": "twice"})
    params = {"code_b64": b64(HELLO), "kwargs_b64": b64(json.dumps(inner))}
    assert httpx.get(owt_server.url + "/", params=params).text == "Hello, twice!"


def test_non_dict_value_is_last(owt_server):
    code = "def run(__last__): return repr(__last__)"
    params = {"code_b64": b64(code), "kwargs_b64": b64("[1, 2, 3]")}
    assert httpx.get(owt_server.url + "/", params=params).text == "[1, 2, 3]"
    # A function without __last__ gets it as its first argument.
    params = {"code_b64": b64(HELLO), "kwargs_b64": b64('"solo"')}
    assert httpx.get(owt_server.url + "/", params=params).text == "Hello, solo!"


def test_kwargs_and_kwargs_b64_merge(owt_server):
    code = "def run(a, b): return a + b"
    body = {"code_b64": b64(code), "kwargs_b64": b64('{"a": 1, "b": 1}'), "kwargs": {"b": 41}}
    assert httpx.post(owt_server.url + "/", json=body).text == "42"


def test_fn_name_picks_a_function(owt_server):
    code = "def run(): return 'run'\ndef other(x): return x * 2\n"
    r = call(owt_server.url, code, fields={"fn_name": "other"}, x=21)
    assert r.text == "42"


def test_request_object_and_unknown_fields(owt_server):
    r = httpx.post(
        owt_server.url + "/echo/me?extra=1&extra=2",
        json={"code_b64": b64(ECHO_REQUEST), "kwargs": {"k": "v"}, "mine": True},
        headers={"X-Test": "yes", "Cookie": "flavour=oat"},
    )
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["method"] == "POST"
    assert data["path"] == "/echo/me"
    assert data["full_path"] == "/echo/me?extra=1&extra=2"
    assert data["args"] == {"extra": "1"}
    assert data["kwargs"] == {"k": "v"}
    assert data["json"]["mine"] is True
    assert data["url"] == owt_server.url + "/echo/me?extra=1&extra=2"
    assert data["host_url"] == owt_server.url + "/"
    assert data["remote_addr"] == "127.0.0.1"
    assert data["cookies"] == {"flavour": "oat"}
    assert data["header"] == "yes"


def test_underscore_first_parameter_gets_request(owt_server):
    code = "def run(_, name): return _.method + ' ' + name"
    assert call(owt_server.url, code, name="x").text == "POST x"


def test_owt_request_during_a_call(owt_server):
    code = "import owt\ndef helper(): return owt.request.args['q']\ndef run(): return helper()"
    r = call(owt_server.url, code, method="GET", fields={"q": "found"})
    assert r.text == "found"


def test_top_level_imports_visible_in_run(owt_server):
    code = "import math\nfrom json import dumps\ndef run(): return dumps([math.pi > 3])"
    assert call(owt_server.url, code).text == "[true]"


def test_implicit_shape(owt_server):
    assert call(owt_server.url, "lambda name: name.upper()", name="shout").text == "SHOUT"


def test_async_function(owt_server):
    code = "import asyncio\nasync def run(n):\n    await asyncio.sleep(0.01)\n    return n + 1"
    assert call(owt_server.url, code, n=1).text == "2"


def test_module_state_persists_between_calls(owt_server):
    code = "count = 0\ndef run():\n    global count\n    count += 1\n    return count"
    first = int(call(owt_server.url, code).text)
    assert int(call(owt_server.url, code).text) == first + 1


def test_code_sha256_runs_code_sent_before(owt_server):
    code = "def run(x): return x * 3"
    assert call(owt_server.url, code, x=2).text == "6"
    sha = __import__("hashlib").sha256(code.encode()).hexdigest()
    r = httpx.post(owt_server.url + "/", json={"code_sha256": sha, "kwargs": {"x": 5}})
    assert r.text == "15"


def test_booleans_in_either_form(owt_server):
    code = "def run(): return 1"
    for value in ("true", "1", "yes", "no", "0", "false", "TRUE"):
        r = httpx.get(owt_server.url + "/", params={"code_b64": b64(code), "use_cache": value})
        assert r.status_code == 200, (value, r.text)
    r = httpx.get(owt_server.url + "/", params={"code_b64": b64(code), "use_cache": "maybe"})
    assert r.status_code == 400
    assert r.json()["field"] == "use_cache"


def test_health_and_reserved_prefix(owt_server):
    assert httpx.get(owt_server.url + "/_owt/health").text == "ok"
    r = httpx.get(owt_server.url + "/_owt/nothing-here")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"


@pytest.mark.parametrize("method", ["POST", "PATCH", "TRACE", "PROPFIND", "DELETE"])
def test_a_method_an_owt_route_does_not_take_is_a_json_405(owt_server, method):
    # Was a 404 "no owt route" (POST, DELETE: the route exists) or a plain-text 405.
    for path, allowed in (
        ("/_owt/health", ["GET", "HEAD"]),
        ("/_owt/endpoints/x", ["DELETE", "GET", "HEAD", "PUT"]),
    ):
        if method in allowed:
            continue
        r = httpx.request(method, owt_server.url + path)
        assert r.status_code == 405, r.text
        assert r.json()["error"] == "method_not_allowed"
        assert r.json()["allowed"] == allowed
        assert r.headers["allow"] == ", ".join(allowed)
    r = httpx.request(method, owt_server.url + "/_owt/nothing-here")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_repeated_arguments_are_fresh_each_call(owt_server):
    # Remembered decoding must never let one call's mutation reach the next.
    code = "def run(items, name):\n    items.append(name)\n    return items"
    params = {"code_b64": b64(code), "kwargs_b64": b64('{"items": [1], "name": "x"}')}
    first = httpx.get(owt_server.url + "/", params=params).json()
    second = httpx.get(owt_server.url + "/", params=params).json()
    assert first == second == [1, "x"]
    code = "def run(**kw):\n    kw['seen'] = True\n    return sorted(kw)"
    params = {"code_b64": b64(code), "kwargs_b64": b64('{"a": 1}')}
    for _ in range(2):
        assert httpx.get(owt_server.url + "/", params=params).json() == ["a", "seen"]


POSITIONAL = (
    "def run(a: int, /, b: int = 2, *, c: int = 0) -> int:\n    return 100 * a + 10 * b + c\n"
)


@pytest.mark.parametrize(
    ("kwargs", "answer"),
    [({"a": 1, "b": 3, "c": 4}, "134"), ({"a": 5}, "520"), ({"a": 1, "c": 9}, "129")],
)
def test_positional_only_parameters_are_sent_by_name(owt_server, kwargs, answer):
    """JSON names every argument: a positional-only parameter takes its argument by name
    and gets it in its place (an endpoint's OpenAPI document lists it too)."""
    assert call(owt_server.url, POSITIONAL, **kwargs).text == answer


def test_a_missing_positional_only_argument_is_named(owt_server):
    r = call(owt_server.url, POSITIONAL, b=5)
    assert r.status_code == 400
    assert "'a'" in r.json()["message"] and "it accepts: a, b, c" in r.json()["message"]
