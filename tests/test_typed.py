"""Typed arguments (owt.core.typed): the conversions in-process, then through a real endpoint."""

from __future__ import annotations

import ast
import enum
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import httpx
import pytest

from owt.core.errors import BadRequest
from owt.core.hints import records_in, stream_item
from owt.core.scalars import Mismatch, to_float
from owt.core.typed import convert_arguments, describe, hint_from_source, json_schema


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


def typed(
    n: int,
    x: float = 1.0,
    flag: bool = False,
    name: str = "owt",
    tags: list[str] | None = None,
    nums: list[int] = [],  # noqa: B006 (never mutated)
    mode: Literal["a", "b", 3] = "a",
    maybe: Optional[int] = None,  # noqa: UP045 (the old spelling must work too)
    either: int | str = 0,
    pair: tuple[int, float] = (0, 0.0),
    color: Color = Color.RED,
    where: Path = Path("."),
    opts: dict[str, int] | None = None,
    anything: Any = None,
    untyped=None,
) -> None: ...


def convert(**kwargs: Any) -> dict[str, Any]:
    return convert_arguments(typed, {"n": "1", **kwargs})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"n": "3"}, {"n": 3}),
        ({"n": " -7 "}, {"n": -7}),
        ({"n": 5}, {"n": 5}),
        ({"n": 5.0}, {"n": 5}),
        ({"x": "2.5"}, {"x": 2.5}),
        ({"x": 2}, {"x": 2.0}),
        ({"flag": "yes"}, {"flag": True}),
        ({"flag": "OFF"}, {"flag": False}),
        ({"flag": "1"}, {"flag": True}),
        ({"flag": True}, {"flag": True}),
        ({"name": "text"}, {"name": "text"}),
        ({"tags": ["a", "b"]}, {"tags": ["a", "b"]}),
        ({"tags": "one"}, {"tags": ["one"]}),
        ({"tags": ""}, {"tags": None}),
        ({"nums": ["1", "2"]}, {"nums": [1, 2]}),
        ({"nums": [1, 2]}, {"nums": [1, 2]}),
        ({"mode": "b"}, {"mode": "b"}),
        ({"mode": "3"}, {"mode": 3}),
        ({"maybe": ""}, {"maybe": None}),
        ({"maybe": None}, {"maybe": None}),
        ({"maybe": "4"}, {"maybe": 4}),
        ({"either": "4"}, {"either": 4}),
        ({"either": "four"}, {"either": "four"}),
        ({"pair": ["1", "2.5"]}, {"pair": (1, 2.5)}),
        ({"color": "blue"}, {"color": Color.BLUE}),
        ({"color": "RED"}, {"color": Color.RED}),
        ({"where": "a/b"}, {"where": Path("a/b")}),
        ({"opts": '{"a": 1}'}, {"opts": {"a": 1}}),
        ({"opts": {"a": "2"}}, {"opts": {"a": 2}}),
        ({"opts": "null"}, {"opts": None}),  # JSON's null as text: a query's ?opts=null
        ({"maybe": " null "}, {"maybe": None}),
        ({"tags": "null"}, {"tags": ["null"]}),  # a string that fits comes first
        ({"anything": ["x", "y"]}, {"anything": ["x", "y"]}),
        ({"untyped": "as is"}, {"untyped": "as is"}),
    ],
)
def test_conversions(given: dict[str, Any], expected: dict[str, Any]) -> None:
    assert convert(**given) == {"n": 1, **expected}


@pytest.mark.parametrize(
    ("given", "field", "words"),
    [
        ({"n": "abc"}, "n", 'expects an integer, got "abc"'),
        ({"n": "null"}, "n", 'expects an integer, got "null"'),  # no None for n
        ({"n": "1.5"}, "n", "an integer"),
        ({"n": True}, "n", "an integer, got true"),  # as JSON spells it
        ({"n": ["1", "2"]}, "n", "one value, not 2"),
        ({"x": "fast"}, "x", "expects a number"),
        ({"flag": "maybe"}, "flag", "expects true or false"),
        ({"name": 3}, "name", "expects a string"),
        ({"nums": ["1", "x"]}, "nums", "a list of integers"),
        ({"mode": "c"}, "mode", "one of 'a', 'b', 3"),
        ({"maybe": "x"}, "maybe", "an integer (or nothing)"),
        ({"pair": ["1"]}, "pair", "2 values, not 1"),
        ({"color": "green"}, "color", "one of 'red', 'blue'"),
        ({"opts": "[1]"}, "opts", "a JSON object"),
    ],
)
def test_bad_values_name_the_parameter(given: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(BadRequest) as info:
        convert(**given)
    assert info.value.extra["field"] == field
    assert f"parameter {field!r}" in info.value.message
    assert words in info.value.message


def test_missing_required() -> None:
    with pytest.raises(BadRequest) as info:
        convert_arguments(typed, {"x": "1"})
    assert info.value.payload() == {
        "error": "bad_request",
        "message": "missing required parameter 'n' (an integer)",
        "field": "n",
        "expected": "an integer",
    }


def test_request_parameter_and_unknown_arguments() -> None:
    def reads_request(request, n: int = 0):  # type: ignore[no-untyped-def]
        return n

    def strict(n: int = 0) -> int:
        return n

    def loose(n: int = 0, **rest: Any) -> int:
        return n

    # A function that takes the request reads other parameters itself: they are dropped.
    assert convert_arguments(reads_request, {"n": "2", "other": "x"}) == {"n": 2}
    # Otherwise they are left for the binding to refuse, or to **rest.
    assert convert_arguments(strict, {"other": "x"}) == {"other": "x"}
    assert convert_arguments(loose, {"n": "2", "other": "x"}) == {"n": 2, "other": "x"}
    # A non-dict argument goes to the first parameter.
    assert convert_arguments(strict, {"__last__": "9"}) == {"n": 9}


def test_string_annotations_unresolvable_names() -> None:
    namespace: dict[str, Any] = {}
    exec(
        "from __future__ import annotations\n"
        "def run(n: int, thing: Missing = None, xs: list[int] | None = None): return n\n",
        namespace,
    )
    assert convert_arguments(namespace["run"], {"n": "2", "thing": "t", "xs": ["1"]}) == {
        "n": 2,
        "thing": "t",
        "xs": [1],
    }


def test_hint_from_source_never_evaluates() -> None:
    assert hint_from_source("int") is int
    assert hint_from_source("list[int] | None") == Optional[list[int]]  # noqa: UP045
    assert hint_from_source("typing.Literal['a', 2]") == Literal["a", 2]
    assert hint_from_source("t.Optional['float']") == Optional[float]  # noqa: UP045
    assert hint_from_source("tuple[int, ...]") == tuple[int, ...]
    assert hint_from_source("Annotated[int, 'doc']") is int
    assert hint_from_source("MyClass") is typing.Any
    assert hint_from_source("__import__('os').system('false')") is typing.Any
    assert hint_from_source("not python (") is typing.Any


def test_describe_and_schema() -> None:
    assert describe(list[int]) == "a list of integers"
    assert describe(Optional[bool]) == "true or false (or nothing)"  # noqa: UP045
    assert json_schema(int) == {"type": "integer"}
    assert json_schema(list[str]) == {"type": "array", "items": {"type": "string"}}
    assert json_schema(Literal["a", "b"]) == {"enum": ["a", "b"]}
    assert json_schema(float | None) == {"anyOf": [{"type": "number"}, {"type": "null"}]}
    assert json_schema(Any) == {}


def unhinted(name, n=1, ratio=0.5, loud=False, tags=(), data=b"", extra=None):  # type: ignore[no-untyped-def]
    return None


def test_a_parameter_without_a_hint_takes_its_defaults_type() -> None:
    given = {"name": "x", "n": "2", "ratio": "0.25", "loud": "yes", "tags": ["a"], "extra": "7"}
    assert convert_arguments(unhinted, given) == {
        "name": "x",
        "n": 2,
        "ratio": 0.25,
        "loud": True,
        "tags": ["a"],
        "extra": "7",  # no hint, no telling default: passed unchanged
    }
    with pytest.raises(BadRequest, match=r'expects an integer, got "two"'):
        convert_arguments(unhinted, {"name": "x", "n": "two"})


def test_words_never_say_a_any() -> None:
    assert describe(Any) == "any value"
    assert describe(bytes) == "bytes (a file part)"
    assert describe(Path) == "a Path"
    assert describe(enum.Enum) != "a Enum"


# -- through a real server -------------------------------------------------------------------

ADAPTOR = """
from typing import Literal

def run(n: int, scale: float = 1.0, loud: bool = False, tags: list[str] | None = None,
        mode: Literal["sum", "list"] = "sum"):
    values = [n * scale] * 2
    return {"result": sum(values) if mode == "sum" else values, "loud": loud, "tags": tags}
"""


UNHINTED = """
def run(name, n=1, ratio=0.5, loud=False, tags=()):
    return {"name": name * n, "ratio": ratio, "loud": loud, "tags": list(tags)}
"""


SHAPES = """
from __future__ import annotations
from dataclasses import dataclass
from typing import TypedDict

@dataclass
class Point:
    x: int
    y: float

class Line(TypedDict):
    start: Point
    end: Point

def run(p: Point, line: Line | None = None) -> dict:
    ends = [line["start"], line["end"]] if line else []
    return {"p": [p.x, p.y], "ends": [type(e).__name__ for e in ends]}
"""


@pytest.fixture(scope="module")
def typed_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from conftest import OwtProcess

    folder = tmp_path_factory.mktemp("typed")
    (folder / "calc.py").write_text(ADAPTOR)
    (folder / "plain.py").write_text(UNHINTED)
    (folder / "shapes.py").write_text(SHAPES)
    server = OwtProcess(
        *("--mount", f"calc={folder / 'calc.py'}"),
        *("--mount", f"plain={folder / 'plain.py'}"),
        *("--mount", f"shapes={folder / 'shapes.py'}"),
    )
    yield server
    server.stop()


def test_query_parameters_are_typed(typed_server: Any) -> None:
    url = typed_server.url + "/calc?n=3&scale=0.5&loud=on&tags=a&tags=b&mode=list"
    r = httpx.get(url)
    assert r.status_code == 200, r.text
    assert r.json() == {"result": [1.5, 1.5], "loud": True, "tags": ["a", "b"]}


def test_json_and_form_bodies_are_typed(typed_server: Any) -> None:
    r = httpx.post(typed_server.url + "/calc", json={"n": 2, "loud": "yes", "tags": ["x"]})
    assert r.json() == {"result": 4.0, "loud": True, "tags": ["x"]}
    r = httpx.post(typed_server.url + "/calc", data={"n": "2", "mode": "list"})
    assert r.json() == {"result": [2.0, 2.0], "loud": False, "tags": None}


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("", "n", "missing required parameter 'n' (an integer)"),
        ("n=three", "n", "parameter 'n' expects an integer, got \"three\""),
        ("n=1&loud=perhaps", "loud", "expects true or false"),
        ("n=1&mode=max", "mode", "expects one of 'sum', 'list'"),
        ("n=1&scale=big", "scale", "expects a number"),
    ],
)
def test_bad_typed_arguments_answer_400(typed_server: Any, query: str, field: str, words: str):
    r = httpx.get(f"{typed_server.url}/calc?{query}")
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "bad_request"
    assert body["field"] == field
    assert words in body["message"]


def test_record_parameters_arrive_as_their_classes(typed_server: Any) -> None:
    line = {"start": {"x": 0, "y": 0}, "end": {"x": "3", "y": 4}}
    r = httpx.post(typed_server.url + "/shapes", json={"p": {"x": 1, "y": 2.5}, "line": line})
    assert r.status_code == 200, r.text
    assert r.json() == {"p": [1, 2.5], "ends": ["Point", "Point"]}
    r = httpx.get(typed_server.url + '/shapes?p={"x": "1", "y": 2}')  # a query's JSON text
    assert r.json() == {"p": [1, 2.0], "ends": []}
    r = httpx.post(typed_server.url + "/shapes", json={"p": {"x": 1}, "line": {"start": {}}})
    assert r.status_code == 400
    assert r.json()["message"] == (
        "parameter 'p' expects a Point object, got {\"x\": 1} (missing field 'y')"
    )
    r = httpx.post(typed_server.url + "/shapes", json={"p": {"x": 1, "y": 1}, "line": {}})
    assert r.status_code == 400  # a TypedDict in a union: refused by name, no 500
    assert "missing field 'start', 'end'" in r.json()["message"]


def test_unknown_parameter_is_refused_by_name(typed_server: Any) -> None:
    r = httpx.get(typed_server.url + "/calc?n=1&bogus=2")
    assert r.status_code == 400
    assert "bogus" in r.json()["message"]


RECORDS = """
from dataclasses import dataclass
import typing

@dataclass(frozen=True)
class Point:
    x: int
    label: str = ""

class Info(typing.TypedDict, total=False):
    where: Point
    sizes: list[typing.Literal["s", "l"]]

class Plain:
    x: int
"""


def test_records_are_read_from_dataclasses_and_typed_dicts() -> None:
    records = records_in(ast.parse(RECORDS))
    assert sorted(records) == ["Info", "Point"]
    point = hint_from_source("Point", records)
    assert json_schema(point) == {
        "type": "object",
        "title": "Point",
        "properties": {"x": {"type": "integer"}, "label": {"type": "string"}},
        "required": ["x"],
        "additionalProperties": False,
    }
    info = json_schema(hint_from_source("list[Info]", records))["items"]
    assert info["required"] == []  # total=False
    assert info["properties"]["where"]["title"] == "Point"
    assert info["properties"]["sizes"] == {"type": "array", "items": {"enum": ["s", "l"]}}
    assert hint_from_source("Plain", records) is typing.Any
    assert describe(point) == "a Point object"


@dataclass
class Size:
    w: int
    h: float = 1.0
    tags: list[str] = field(default_factory=list)


class Box(typing.TypedDict):
    size: Size
    label: str


def boxed(size: Size | None = None, box: Box | None = None, sizes: list[Size] = []) -> None: ...  # noqa: B006


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"size": {"w": "2", "h": 3}}, {"size": Size(2, 3.0)}),
        ({"size": '{"w": 2, "tags": ["a"]}'}, {"size": Size(2, 1.0, ["a"])}),  # query text
        ({"size": None}, {"size": None}),
        ({"box": {"size": {"w": 1}, "label": "x"}}, {"box": {"size": Size(1), "label": "x"}}),
        ({"sizes": [{"w": 1}, '{"w": 2}']}, {"sizes": [Size(1), Size(2)]}),
    ],
)
def test_records_are_made_from_json_objects(given: dict[str, Any], expected: Any) -> None:
    assert convert_arguments(boxed, given) == expected


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ({"size": {"h": 1}}, "got {\"h\": 1} (missing field 'w')"),
        ({"size": {"w": 1, "d": 2}}, "(no field 'd'; it has: w, h, tags)"),
        ({"size": {"w": "wide"}}, "(field 'w' expects an integer)"),
        ({"size": "wide"}, "(not a JSON object)"),
        ({"box": {"size": {"w": 1}}}, "(missing field 'label')"),  # a TypedDict, no 500
        ({"box": [1, 2]}, "expects a Box object (or nothing)"),
    ],
)
def test_records_that_do_not_fit_say_which_field(given: dict[str, Any], words: str) -> None:
    with pytest.raises(BadRequest) as caught:
        convert_arguments(boxed, given)
    assert words in caught.value.message


def test_bytes_and_streams() -> None:
    assert json_schema(bytes) == {
        "type": "string",
        "format": "binary",
        "contentMediaType": "application/octet-stream",
    }
    assert stream_item(hint_from_source("Iterator[str]")) is str
    assert stream_item(hint_from_source("collections.abc.AsyncGenerator[bytes, None]")) is bytes
    assert stream_item(hint_from_source("list[str]")) is None


def test_an_endpoint_without_hints_is_typed_by_its_defaults(typed_server: Any) -> None:
    r = httpx.get(typed_server.url + "/plain?name=ab&n=2&ratio=0.25&loud=yes&tags=x&tags=y")
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "abab", "ratio": 0.25, "loud": True, "tags": ["x", "y"]}
    r = httpx.get(typed_server.url + "/plain?name=ab&n=two")
    assert r.status_code == 400
    assert r.json()["message"] == "parameter 'n' expects an integer, got \"two\""
    document = httpx.get(typed_server.url + "/_owt/openapi.json").json()
    params = {p["name"]: p for p in document["paths"]["/plain"]["get"]["parameters"]}
    assert params["n"]["schema"]["anyOf"][0] == {"type": "integer"}
    assert params["n"]["schema"]["default"] == 1
    assert params["n"]["description"] == "an integer"
    assert params["loud"]["schema"]["anyOf"][0] == {"type": "boolean"}
    assert params["tags"]["schema"]["anyOf"][0]["items"] == {"type": "string"}
    assert params["name"]["description"] == "any value"
    assert " a Any" not in r.text + str(document)


@pytest.mark.parametrize(
    ("text", "number"),
    [("1e-300", 1e-300), ("2.5E-100", 2.5e-100), ("1e99", 1e99), ("-3e+12", -3e12)],
)
def test_number_text_takes_small_exponents_of_three_digits(text: str, number: float) -> None:
    assert to_float(text) == number


@pytest.mark.parametrize("text", ["1e300", "1e999", "1e-1000", "nan", "inf", "1_0"])
def test_number_text_past_what_a_query_carries_is_a_mismatch(text: str) -> None:
    with pytest.raises(Mismatch):
        to_float(text)
