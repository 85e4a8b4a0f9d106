"""A step's failure names the step (one place: the pipe, and the lazy steps' streams), an
``async def`` mid-pipe says where it may go, and a value that cannot be sent says why in
terms of what the adaptor gave."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from owt.core.failures import adaptor_error
from owt.summat import Pipe, pipe


def failure(p: Pipe[Any], **kwargs: Any) -> str:
    """The message of the adaptor_error the pipe's failure becomes (its stream pulled)."""
    with pytest.raises(Exception) as caught:
        result = p(**kwargs)
        if isinstance(result, Iterator):
            list(result)
    return adaptor_error(caught.value).message


@pytest.mark.parametrize(
    ("p", "kwargs", "message"),
    [
        (pipe().kwarg("xs").map(str.upper), {"xs": 5}, "map(str.upper): TypeError: 'int'"),
        (pipe().kwarg("xs").each(str.upper), {"xs": 5}, "each(str.upper): TypeError: 'int'"),
        (pipe().kwarg("xs").f(str.upper), {"xs": 5}, "f(str.upper): TypeError: descriptor"),
        (pipe().kwarg("xs").ix("a"), {"xs": [1]}, "ix('a'): TypeError: list indices"),
        (pipe().const(b"\xff").sentences(), {}, "sentences(): UnicodeDecodeError"),
        (pipe().const(5).foldl(max, 0), {}, "foldl(max, 0): TypeError: reduce()"),
        (pipe().const("x").cast(int), {}, "cast(int): ValueError: invalid literal"),
        (pipe().const(1).get("a"), {}, "AttributeError: get('a'): int has no"),
    ],
)
def test_a_failure_names_its_step(p: Pipe[Any], kwargs: dict[str, Any], message: str) -> None:
    # "TypeError: 'int' object is not iterable", with no frame: which step?
    assert failure(p, **kwargs).startswith(message)


def test_a_step_that_names_itself_is_not_named_twice() -> None:
    assert failure(pipe().const([1]).ix(5)) == "IndexError: ix(5): not in [1]"


def counted(n: int) -> Iterator[int]:
    yield from range(n)
    raise ValueError("ran dry")


def inverse(x: float) -> float:
    return 1 / x


def test_a_failure_while_a_stream_is_pulled_names_the_step_that_made_it() -> None:
    # Lazy: each() has returned long before its function fails on the second item.
    message = failure(pipe().const([1, 0]).each(inverse))
    assert message == "each(inverse): ZeroDivisionError: division by zero"

    # A user's generator fails while each() pulls it: the generator's step, not each's.
    assert failure(pipe().const(2).f(counted).each(str)) == "f(counted): ValueError: ran dry"


def test_the_innermost_step_names_a_failure_in_a_nested_pipe() -> None:
    inner = pipe().f(str.upper)
    assert failure(pipe().const([1]).each(inner)).startswith("f(str.upper): TypeError")
    assert failure(pipe().const(1).f(inner)).startswith("f(str.upper): TypeError")


def test_a_long_step_is_named_in_short() -> None:
    step, _, rest = failure(pipe().const([1]).ix("k" * 500)).partition(": TypeError")
    assert step.startswith("ix('kkk") and step.endswith("...") and len(step) == 80
    assert rest.startswith(": list indices must be integers")


def test_the_step_is_noted_on_the_exception_for_a_pipe_called_in_python() -> None:
    with pytest.raises(TypeError) as caught:
        pipe().kwarg("xs").map(str.upper)(xs=5)
    assert caught.value.__notes__ == ["(in the pipe's step map(str.upper))"]


def test_an_empty_shell_command_says_so() -> None:
    # const([]).shell() was an IndexError from inside subprocess, with only its frames.
    with pytest.raises(ValueError, match=r"shell\(\): the command is empty"):
        pipe().const([]).shell()()


async def doubled(x: int) -> int:
    return x * 2


@pytest.mark.parametrize(
    ("p", "where"),
    [
        (pipe().const(1).f(doubled).f(lambda v: v + 1), "f(doubled): doubled is an async def"),
        (pipe().const([1]).each(doubled), "each(doubled): doubled is an async def"),
        (pipe().const([1]).map(doubled), "map(doubled): doubled is an async def"),
        (pipe().const(1).exec(doubled), "exec(doubled): doubled is an async def"),
        (pipe().const(1).fork(doubled, str), "fork(doubled, str): doubled is an async def"),
        (pipe().const(1).cond(doubled, 1, 2), "cond(doubled, 1, 2): doubled is an async def"),
    ],
)
def test_an_async_def_where_nothing_awaits_it_says_where_it_may_go(
    p: Pipe[Any], where: str
) -> None:
    # f(g).f(lambda v: v + 1) failed with "unsupported operand ... 'coroutine' and 'int'".
    message = failure(p)
    assert message.startswith(f"TypeError: {where}")
    assert "runs only as a pipe's last step" in message


def test_an_async_def_as_the_last_step_is_left_for_owt_to_await() -> None:
    coroutine = pipe().const(2).f(doubled)()
    try:
        assert coroutine.__qualname__ == "doubled"
    finally:
        coroutine.close()


def traceback_of(p: Pipe[Any]) -> str:
    with pytest.raises(Exception) as caught:
        p()
    trace: str = adaptor_error(caught.value).extra["traceback"]
    return trace


def parse(text: str) -> Any:
    return json.loads(text)


def test_the_traceback_leaves_out_the_standard_library_that_owt_called() -> None:
    trace = traceback_of(pipe().const(["owt-no-such-program"]).shell())
    assert "subprocess.py" not in trace
    assert trace.endswith(
        "FileNotFoundError: [Errno 2] No such file or directory: "
        "'owt-no-such-program'\n(in the pipe's step shell())\n"
    )


def test_the_traceback_keeps_the_standard_library_that_the_adaptor_called() -> None:
    trace = traceback_of(pipe().const("{").f(parse))
    assert "in parse\n    return json.loads(text)" in trace
    assert "json/decoder.py" in trace.replace("\\", "/")
