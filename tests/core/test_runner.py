"""The runner on its own: shapes, compile once, binding, normalisation, the error tree."""

from __future__ import annotations

import ast
import asyncio
import hashlib
import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

from owt.core.call import Call, Reply, Request
from owt.core.errors import BadRequest, CompileError, NoFunction
from owt.core.failures import TRACEBACK_FRAMES
from owt.core.runner import Runner, shape_of


def make_call(code: str, **kwargs: Any) -> Call:
    fn_name = kwargs.pop("fn_name", "run")
    return Call(
        code=code,
        sha256=hashlib.sha256(code.encode()).hexdigest(),
        fn_name=fn_name,
        kwargs=kwargs,
        request=Request(path="/a/b", query_string="q=1"),
    )


async def _inline(fn: Callable[[], Any]) -> Any:
    return fn()


def run(runner: Runner, call: Call) -> tuple[Reply, bytes]:
    async def go() -> tuple[Reply, bytes]:
        reply = await runner.run(call, _inline)
        body = reply.body
        if reply.stream is not None:
            async for chunk in reply.stream:  # type: ignore[union-attr]
                body += chunk
        return reply, body

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("code", "shape"),
    [
        ("def run(): pass", "explicit"),
        ("x = 1\ny = 2", "explicit"),
        ("run = lambda: 1", "explicit"),
        ("lambda name: name", "implicit"),
        ("pipe().kwarg('x')", "implicit"),
        ("path().f(lambda names: names[0])", "terse"),
        ("kwarg('name').f(str.upper)", "terse"),
        ("print", "implicit"),
    ],
)
def test_shape_detection(code: str, shape: str) -> None:
    assert shape_of(ast.parse(code)) == shape


def test_compiles_once_per_distinct_code() -> None:
    runner = Runner()
    code = "import itertools\nn = itertools.count()\ndef run(): return next(n)"
    bodies = [run(runner, make_call(code))[1] for _ in range(3)]
    assert bodies == [b"0", b"1", b"2"]
    assert runner.compiles == 1


def test_warm_call_does_not_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = Runner()
    call = make_call("def run(): return 'warm'")
    run(runner, call)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(ast, "parse", refuse)
    monkeypatch.setattr("builtins.compile", refuse)
    assert run(runner, call)[1] == b"warm"


def test_lru_bound_evicts_oldest() -> None:
    runner = Runner(max_adaptors=2)
    for i in range(3):
        run(runner, make_call(f"def run(): return {i}"))
    kept = [a["sha256"] for a in runner.status()["adaptors"]]
    assert len(kept) == 2
    assert make_call("def run(): return 0").sha256 not in kept


def test_terse_pipe_runs() -> None:
    reply, body = run(Runner(), make_call("path().f(lambda names: '-'.join(names))"))
    assert (reply.status, body) == (200, b"a-b")


def test_request_injection_and_fn_name() -> None:
    code = "def run(request): return request.args['q']\ndef other(_, x): return x"
    runner = Runner()
    assert run(runner, make_call(code))[1] == b"1"
    assert run(runner, make_call(code, fn_name="other", x="y"))[1] == b"y"


def test_binding_errors_are_bad_requests() -> None:
    runner = Runner()
    target = runner.target(make_call("def run(a): return a"))
    with pytest.raises(BadRequest):
        runner.arguments(target, make_call("def run(a): return a", b=1))


def test_compile_errors() -> None:
    runner = Runner()
    with pytest.raises(CompileError) as info:
        runner.target(make_call("def run(:\n"))
    assert info.value.extra["line"] == 1
    with pytest.raises(NoFunction):
        runner.target(make_call("x = 1"))
    with pytest.raises(NoFunction):
        runner.target(make_call("'just a string'"))


def test_sync_stream_closes_generator_on_aclose() -> None:
    code = (
        "closed = []\n"
        "def run(action='go'):\n"
        "    if action == 'check': return closed\n"
        "    def g():\n"
        "        try:\n"
        "            while True: yield 'x'\n"
        "        finally:\n"
        "            closed.append(True)\n"
        "    return g()\n"
    )
    runner = Runner()

    async def go() -> None:
        reply = await runner.run(make_call(code), _inline)
        assert reply.body == b"x"
        assert reply.stream is not None
        await reply.stream.__anext__()  # type: ignore[union-attr]
        await reply.stream.aclose()  # type: ignore[union-attr]

    asyncio.run(go())
    import time

    deadline = time.monotonic() + 5
    while run(runner, make_call(code, action="check"))[1] != b"[true]":
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_traceback_of_a_deep_recursion_shows_its_ends_not_every_frame() -> None:
    # A recursion under a raised limit has a frame per level: reading every frame's line
    # took 45 s for a million. The answer shows the first and last frames and says how
    # many it left out.
    code = (
        "import sys\n"
        "def down(n):\n    return down(n + 1)\n"
        "def run():\n    sys.setrecursionlimit(30_000)\n    return down(0)\n"
    )
    limit = sys.getrecursionlimit()
    try:
        reply, body = run(Runner(), make_call(code))
    finally:
        sys.setrecursionlimit(limit)
    assert reply.status == 500
    payload = json.loads(body)
    assert payload["type"] == "RecursionError"
    trace = payload["traceback"]
    assert trace.count("frames left out") == 1
    assert "return down(0)" in trace  # the call that started it, at the top
    assert trace.rstrip().endswith("RecursionError: maximum recursion depth exceeded")
    assert trace.count("\n") < 2 * TRACEBACK_FRAMES


def test_a_traceback_within_the_bound_shows_every_frame() -> None:
    code = "def a():\n    raise ValueError('x')\ndef b():\n    a()\ndef run():\n    b()\n"
    _, body = run(Runner(), make_call(code))
    trace = json.loads(body)["traceback"]
    assert "left out" not in trace
    assert [line.split(", in ")[1] for line in trace.splitlines() if ", in " in line] == [
        "run",
        "b",
        "a",
    ]
