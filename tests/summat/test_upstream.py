"""The pipe DSL means what upstream owt's own test suite says it means: each case here is one
of its tests, run against a real server the way it ran them (GET, ``kwargs_b64``)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from conftest import b64


def owt_exec(
    url: str,
    code: str,
    args: Any = None,
    path: str = "/test",
    method: str = "GET",
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    params = {"code_b64": b64(code), "kwargs_b64": b64(json.dumps(args or {})), **(extra or {})}
    if method == "GET":
        return httpx.get(url + path, params=params, timeout=30)
    return httpx.post(url + path, json=params, timeout=30)


COND = (
    "run = pipe().path().last().cast(int).f(lambda x: x > 10)"
    ".cond(pipe().const('true'), pipe().const('false')).done()"
)
CASES = [
    (
        "Hello World!",
        'run = pipe().path().f(lambda names: f"Hello {names[0]}!").done()',
        {},
        "/World",
    ),
    (
        "Hello one|two|three!",
        "run = pipe().path().f(lambda p: f\"Hello {'|'.join(p)}!\").done()",
        {},
        "/one/two/three",
    ),
    (
        "Hello three!",
        'run = pipe().path().last().f(lambda p: f"Hello {p}!").done()',
        {},
        "/one/two/three",
    ),
    ("abc", 'run = pipe().const("abc").done()', {}, "/test"),
    ("123", "run = pipe().const(123).done()", {}, "/test"),
    ("6", "run = pipe().f(lambda x: str(x + 1)).done()", 5, "/test"),
    (
        "6",
        "run = pipe().path().last().cast(int).f(lambda x: int(x) + 1).done()",
        {},
        "/some/path/5",
    ),
    ("test", "run = pipe().identity().done()", {"__last__": "test"}, "/test"),
    (
        "emoshtap",
        "run = pipe().path().map(lambda x: x[::-1]).foldl1(lambda x, y: x + y).done()",
        {},
        "/some/path",
    ),
    ("15", "run = pipe().foldl(lambda acc, x: acc + x, 0).f(str).done()", [1, 2, 3, 4, 5], "/test"),
    ("b", "run = pipe().ix(1).done()", ["a", "b", "c"], "/test"),
    (
        "no kwargs",
        'run = pipe().clear().f(lambda _: "no kwargs").done()',
        {"x": 1, "y": 2},
        "/test",
    ),
    (
        "unused args",
        'run = pipe().kwargs(x=1, y=2).f(lambda **_: "unused args").done()',
        {},
        "/test",
    ),
    (
        "6",
        "run = pipe().kwargs(x=1, y=2).f(lambda x=None, y=None, z=1: x + y + z).done()",
        {"x": 0, "z": 4},
        "/test",
    ),
    (
        "path",
        (
            'run = pipe().importing("json").path().f(lambda p: json.dumps(p))'
            ".f(lambda x: json.loads(x)).last().done()"
        ),
        {},
        "/some/path",
    ),
    (
        "true",
        COND,
        {},
        "/15",
    ),
    (
        "false",
        COND,
        {},
        "/5",
    ),
    (
        "(4, 'right')",
        "run = pipe().path().last().fork(pipe().f(len), pipe().const('right')).cast(str).done()",
        {},
        "/test",
    ),
]


@pytest.mark.parametrize(("expected", "code", "args", "path"), CASES)
def test_upstream_meaning(owt_server: Any, expected: str, code: str, args: Any, path: str) -> None:
    r = owt_exec(owt_server.url, code, args, path)
    assert (r.status_code, r.text) == (200, expected)


def test_const_object_is_json(owt_server: Any) -> None:
    code = (
        "class Obj(dict):\n    def __init__(self, x, y):\n        self['x'] = x\n"
        "        self['y'] = y\n\nrun = pipe().const(Obj(123, 'abc')).done()\n"
    )
    r = owt_exec(owt_server.url, code)
    assert (r.status_code, r.text) == (200, '{"x": 123, "y": "abc"}')


def test_query_and_json_sources(owt_server: Any) -> None:
    code = 'run = pipe().const("no").query().get("extra").done()'
    assert owt_exec(owt_server.url, code, extra={"extra": "123"}).text == "123"
    code = 'run = pipe().json().get("extra").done()'
    r = owt_exec(owt_server.url, code, method="POST", extra={"extra": "test data"})
    assert r.text == "test data"


def test_terse_forms_mean_the_same(owt_server: Any) -> None:
    assert owt_exec(owt_server.url, "path().last()", path="/one/two/three").text == "three"
    code = "pipe().kwargs(x=1, y=2).f(lambda x=None, y=None, z=1: x + y + z)"
    assert owt_exec(owt_server.url, code, {"x": 0, "z": 4}).text == "6"
