"""Transforms: each makes the next value from the previous one."""

from __future__ import annotations

import json
import operator
from array import array
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from owt.core.results import parts_of
from owt.summat import pipe


@dataclass
class Point:
    x: int
    y: int


def test_f_calls_fn_with_the_value() -> None:
    assert pipe().const("owt").f(str.upper)() == "OWT"
    assert pipe().const([1, 2]).f(len)() == 2


def test_f_accepts_a_pipe() -> None:
    inner = pipe().f(str.strip).f(str.title)
    assert pipe().const("  hi there ").f(inner)() == "Hi There"


def test_f_fills_further_required_parameters_from_arguments() -> None:
    greet = pipe().kwarg("name").f(lambda name, greeting: f"{greeting}, {name}!")
    assert greet(name="owt", greeting="Ey up") == "Ey up, owt!"


def test_f_leaves_parameters_with_defaults_alone() -> None:
    # json.dumps has ``indent=None``: a caller's ``indent`` must not reach it.
    assert pipe().const({"a": 1}).f(json.dumps)(indent=4) == '{"a": 1}'
    assert pipe().const(2).f(lambda x, k=10: x * k)(k=3) == 20


def test_f_missing_parameter_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="needs 'greeting'"):
        pipe().const("owt").f(lambda name, greeting: name)()


def test_f_without_parameters_is_called_bare() -> None:
    assert pipe().const(1).f(lambda: "fresh")() == "fresh"


def test_f_keyword_only_parameters_are_filled_too() -> None:
    assert pipe().const(2).f(lambda x, *, times: x * times)(times=4) == 8


def test_cast_converts_and_passes_instances() -> None:
    assert pipe().kwarg("n").cast(int)(n="42") == 42
    value = [1]
    assert pipe().const(value).cast(list)() is value


def test_exec_runs_for_effect_and_passes_the_value() -> None:
    seen: list[Any] = []
    assert pipe().const(3).exec(seen.append)() == 3
    assert seen == [3]


def test_identity_and_clear() -> None:
    assert pipe().const(7).identity()() == 7
    assert pipe().const(7).clear()() is None


@pytest.mark.parametrize(
    ("value", "index", "expected"),
    [
        ([10, 20, 30], 0, 10),
        ([10, 20, 30], -1, 30),
        ("abc", slice(1, None), "bc"),
        ({"k": 1}, "k", 1),
    ],
)
def test_ix(value: Any, index: Any, expected: Any) -> None:
    assert pipe().const(value).ix(index)() == expected


def test_ix_out_of_range_names_the_index() -> None:
    with pytest.raises(IndexError, match=r"ix\(5\)"):
        pipe().const([1]).ix(5)()


def test_get_reads_items_and_attributes() -> None:
    assert pipe().const({"a": 1}).get("a")() == 1
    assert pipe().const(SimpleNamespace(a=2)).get("a")() == 2
    assert pipe().const({"a": 1}).get("b", 0)() == 0
    assert pipe().const(SimpleNamespace()).get("b", 0)() == 0


def test_get_missing_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match=r"get\('b'\)"):
        pipe().const({"a": 1}).get("b")()
    with pytest.raises(AttributeError, match="no item or attribute 'b'"):
        pipe().const(1).get("b")()


def test_map_is_eager_and_takes_pipes() -> None:
    assert pipe().const(["a", "b"]).map(str.upper)() == ["A", "B"]
    assert pipe().const(["a", "b"]).map(pipe().f(lambda s: s * 2))() == ["aa", "bb"]


def test_foldl() -> None:
    assert pipe().const([1, 2, 3]).foldl(operator.add, 10)() == 16
    assert pipe().const(["a", "b"]).foldl(lambda acc, s: [*acc, s], [])() == ["a", "b"]


def test_foldl1() -> None:
    assert pipe().const([3, 9, 4]).foldl1(max)() == 9
    with pytest.raises(ValueError, match="no items"):
        pipe().const([]).foldl1(max)()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"raw", b"raw"),
        (bytearray(b"ba"), b"ba"),
        ("hé", "hé".encode()),
        (None, b""),
        (42, b"42"),
        (True, b"True"),
        ({"a": [1, 2]}, b'{"a": [1, 2]}'),
        ((1, "x"), b'[1, "x"]'),
        (Point(1, 2), b'{"x": 1, "y": 2}'),
        (array("B", [104, 105]), b"hi"),
        (iter([b"a", "b", {"n": 1}]), b'ab{"n": 1}\n'),
        ({"a": "é"}, '{"a": "é"}'.encode()),
    ],
)
def test_bytes(value: Any, expected: bytes) -> None:
    assert pipe().const(value).bytes()() == expected


def test_bytes_reads_file_like_objects() -> None:
    import io

    assert pipe().const(io.BytesIO(b"file")).bytes()() == b"file"


def test_bytes_refuses_other_objects() -> None:
    with pytest.raises(TypeError, match="cannot turn object into bytes"):
        pipe().const(object()).bytes()()


def test_cond_chooses_a_branch_by_the_predicate() -> None:
    sized = pipe().kwarg("n").cond(lambda n: n > 3, "big", "small")
    assert sized(n=5) == "big"
    assert sized(n=1) == "small"


def test_cond_branches_may_be_functions_or_pipes() -> None:
    shout_or_whisper = pipe().cond(str.isupper, pipe().f(lambda s: s + "!"), str.lower)
    assert shout_or_whisper(__last__="HEY") == "HEY!"
    assert shout_or_whisper(__last__="Hey") == "hey"


def test_cond_of_two_branches_decides_by_the_value() -> None:
    # upstream owt's meaning: the value itself is the condition
    sized = pipe().kwarg("n").f(lambda n: n > 3).cond(pipe().const("big"), "small")
    assert (sized(n=5), sized(n=1)) == ("big", "small")
    assert pipe().const([]).cond("some", "none")() == "none"


def test_cond_predicate_may_be_a_pipe() -> None:
    assert pipe().const("").cond(pipe().f(bool), "full", "empty")() == "empty"


def test_cond_predicate_must_be_callable() -> None:
    with pytest.raises(TypeError, match="predicate must be a function or a pipe"):
        pipe().cond(True, 1, 2)


def test_fork_gives_both_results() -> None:
    assert pipe().const("ab").fork(len, str.upper)() == (2, "AB")
    assert pipe().const([1, 2]).fork(pipe().f(sum), pipe().ix(0))() == (3, 1)


def sent_as(result: Any) -> tuple[Any, int, list[tuple[str, str]]]:
    """What owt's reply rules read a pipe's result as: (body, status, headers)."""
    return parts_of(result)


@pytest.mark.parametrize("right", [len, lambda s: {"a": s}, lambda s: 404, lambda s: [("a", "b")]])
def test_forks_tuple_is_data_not_a_status_or_headers(right: Any) -> None:
    result = pipe().kwarg("x").fork(str.upper, right)(x="owt")
    assert isinstance(result, tuple) and repr(result) == repr(("OWT", right("owt")))
    assert sent_as(result) == (result, 200, [])


def test_forks_tuple_reaches_the_next_step_as_a_tuple() -> None:
    assert pipe().const("ab").fork(len, str.upper).f(lambda t: type(t).__mro__[-2])() is tuple
    assert pipe().const("ab").fork(str.upper, len).f(lambda t: t[0] * t[1])() == "ABAB"


@pytest.mark.parametrize(
    "p",
    [
        pipe().const(("gone", 410)),
        pipe().const([("x", 404)]).ix(0),
        pipe().const({"a": ("x", 404)}).get("a"),
        pipe().const([("x", 404)]).last(),
        pipe().const(["x", 404]).cast(tuple),
        pipe().const("x").cond(("x", 404), "y"),
        pipe().const("x").fork(str.upper, len).identity(),
        pipe().kwarg("t"),
        pipe(),
    ],
    ids=repr,
)
def test_every_tuple_a_step_gives_is_data(p: Any) -> None:
    result = p(t=("x", 404), __last__=("x", 404))
    assert isinstance(result, tuple)
    assert sent_as(result)[1:] == (200, [])


def test_a_users_function_may_still_return_a_reply() -> None:
    assert sent_as(pipe().kwarg("x").f(lambda s: (s, 404))(x="a")) == ("a", 404, [])
    passed = pipe().const("a").f(lambda s: (s, {"x-y": "z"})).exec(print).identity()
    assert sent_as(passed()) == ("a", 200, [("x-y", "z")])
    nested = pipe().const("a").to(pipe().f(lambda s: (s, 201)))
    assert sent_as(nested())[1] == 201
    assert sent_as(pipe().const(1).cond(lambda v: ("a", 202), "b")())[1] == 202
