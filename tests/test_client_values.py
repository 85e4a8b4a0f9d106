"""Every kind of argument value reaches the function as it was sent, by every road of the
Python client: an endpoint by POST (JSON), GET (the query), a multipart POST (beside a file),
and a generic call by GET and POST. A real server, one endpoint with a parameter per kind."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import OwtProcess

from owt.client import AsyncClient, Client
from owt.client.query import _NUMBER_TEXT, query_arguments
from owt.core.scalars import NUMBER_TEXT

#: One parameter per kind; the function answers each argument it got as [type name, value].
KINDS = """
from dataclasses import asdict, dataclass
from typing import Optional

@dataclass
class Point:
    x: int
    y: int

def run(a: int, b: list[str] = [], f: float = 0.0, ok: bool = False, s: str = "-",
        n: Optional[int] = 5, opt_s: Optional[str] = "-", xs: list[int] = [],
        fs: list[float] = [], flags: list[bool] = [], d: dict = {},
        p: Optional[Point] = None, nested: list[list[int]] = [], data: bytes = b"",
        raw=None) -> dict:
    got = dict(locals())
    if isinstance(got["p"], Point):
        got["p"] = asdict(got["p"])
    got["data"] = list(got["data"])
    return {k: [type(v).__name__, v] for k, v in got.items()}
"""
UNTYPED = """
def run(**kw):
    return {k: [type(v).__name__, list(v) if isinstance(v, bytes) else v] for k, v in kw.items()}
"""

#: (case, arguments, what the function gets: name → [type name, value]).
CASES: list[tuple[str, dict[str, Any], dict[str, list[Any]]]] = [
    ("str", {"s": "héllo & =x?#"}, {"s": ["str", "héllo & =x?#"]}),
    ("empty str", {"s": ""}, {"s": ["str", ""]}),
    ("int", {"a": 7}, {"a": ["int", 7]}),
    ("big int", {"a": 10**30}, {"a": ["int", 10**30]}),
    ("negative int", {"a": -3}, {"a": ["int", -3]}),
    ("whole float to int", {"a": 2.0}, {"a": ["int", 2]}),
    ("float", {"f": 0.1}, {"f": ["float", 0.1]}),
    ("whole float", {"f": 2.0}, {"f": ["float", 2.0]}),
    ("huge float", {"f": 1e300}, {"f": ["float", 1e300]}),
    ("tiny float", {"f": -1.5e-300}, {"f": ["float", -1.5e-300]}),
    ("true", {"ok": True}, {"ok": ["bool", True]}),
    ("false", {"ok": False}, {"ok": ["bool", False]}),
    ("None for int", {"n": None}, {"n": ["NoneType", None]}),
    ("None for str", {"opt_s": None}, {"opt_s": ["NoneType", None]}),
    ("list of str", {"b": ["q", "r"]}, {"b": ["list", ["q", "r"]]}),
    ("list of one", {"b": ["q"]}, {"b": ["list", ["q"]]}),
    ("list with blanks", {"b": ["", "x,y"]}, {"b": ["list", ["", "x,y"]]}),
    ("empty list", {"b": []}, {"b": ["list", []]}),
    ("tuple", {"b": ("q", "r")}, {"b": ["list", ["q", "r"]]}),
    ("list of int", {"xs": [1, -2, 3]}, {"xs": ["list", [1, -2, 3]]}),
    ("list of float", {"fs": [0.5, 1e300]}, {"fs": ["list", [0.5, 1e300]]}),
    ("list of bool", {"flags": [True, False]}, {"flags": ["list", [True, False]]}),
    ("dict", {"d": {"k": [1, {"z": None}]}}, {"d": ["dict", {"k": [1, {"z": None}]}]}),
    ("record", {"p": {"x": 1, "y": 2}}, {"p": ["dict", {"x": 1, "y": 2}]}),
    ("nested list", {"nested": [[1, 2], [3]]}, {"nested": ["list", [[1, 2], [3]]]}),
    ("any list", {"raw": [1, "a", None]}, {"raw": ["list", [1, "a", None]]}),
]
ROADS = ["POST", "GET", "GET beside a file"]


@pytest.fixture(scope="module")
def server() -> Iterator[OwtProcess]:
    process = OwtProcess("--timeout", "10")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server: OwtProcess) -> Iterator[Client]:
    with Client(server.url) as client:
        client.register("values-kinds", KINDS)
        client.register("values-any", UNTYPED)
        yield client


def _send(client: Client, name: str, road: str, kwargs: dict[str, Any]) -> Any:
    if road == ROADS[2]:  # a file beside the other arguments: a multipart POST
        return client.endpoint(name, method="GET")(**kwargs, data=b"\x00\xff\x01")
    return client.endpoint(name, method=road)(**kwargs)


@pytest.mark.parametrize("road", ROADS)
@pytest.mark.parametrize(("kwargs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_kind_reaches_a_typed_endpoint(
    client: Client, road: str, kwargs: dict[str, Any], expected: dict[str, Any]
) -> None:
    got = _send(client, "values-kinds", road, {"a": 1, **kwargs})
    for name, value in expected.items():
        assert got[name] == value
        assert type(got[name][1]) is type(value[1])  # 2.0 stays a float, 2 an int
    assert got["data"][1] == ([0, 255, 1] if road == ROADS[2] else [])


@pytest.mark.parametrize("road", ROADS)
@pytest.mark.parametrize(
    "value", [None, [], ["q"], ["q", "r"], {"k": [1]}, [[1], []], "", "text"], ids=repr
)
def test_values_reach_an_untyped_endpoint_as_sent(client: Client, road: str, value: Any) -> None:
    got = _send(client, "values-any", road, {"v": value})
    assert got["v"] == [type(value).__name__, value]


@pytest.mark.parametrize("road", ROADS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, [1.0, math.nan]], ids=repr)
def test_nan_and_infinity_are_refused_before_sending(client: Client, road: str, bad: Any) -> None:
    with pytest.raises(ValueError, match=r"nan and infinity cannot be sent \(argument 'f'\)"):
        _send(client, "values-kinds", road, {"a": 1, "f": bad})


def test_a_get_url_keeps_plain_values_readable() -> None:
    params, rest = query_arguments(
        {"a": 1, "b": ["q", "r"], "f": 0.25, "ok": True, "n": None, "e": [], "one": ["q"]}
    )
    assert params == {"a": "1", "b": ["q", "r"], "f": "0.25", "ok": "true"}
    assert rest == {"n": None, "e": [], "one": ["q"]}
    url = httpx.URL("http://x/", params=params)
    assert url.query == b"a=1&b=q&b=r&f=0.25&ok=true"


def test_the_client_reads_numbers_as_the_server_does() -> None:
    # The client keeps its own copy of the server's number text (it imports no server code).
    assert _NUMBER_TEXT.pattern == re.sub(r"\\s\*", "", NUMBER_TEXT.pattern)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    "value",
    [None, [], ["q"], 1e300, 2.0, {"k": [None]}, True, "", b"\x00\xff"],
    ids=repr,
)
def test_a_generic_call_sends_each_kind_as_it_is(client: Client, method: str, value: Any) -> None:
    adaptor = client.adaptor(UNTYPED, method=method)
    sent = list(value) if isinstance(value, bytes) else value
    got = adaptor(v=value, w=[1, "x"])
    assert got["v"] == ["bytes" if isinstance(value, bytes) else type(value).__name__, sent]
    assert got["w"] == ["list", [1, "x"]]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_generic_call_refuses_nan(client: Client, method: str) -> None:
    with pytest.raises(ValueError, match=r"\(argument 'x'\)"):
        client.adaptor(UNTYPED, method=method)(x=math.nan)
    with pytest.raises(ValueError, match="nan and infinity"):
        client.url(UNTYPED, x=[math.inf])


def test_the_async_client_sends_lists_in_a_query(server: OwtProcess) -> None:
    async def main() -> Any:
        async with AsyncClient(server.url) as client:
            endpoint = client.endpoint("values-kinds", method="GET")
            return await endpoint(a=1, b=["q", "r"], xs=[], n=None)

    got = asyncio.run(main())
    assert (got["b"], got["xs"], got["n"]) == (
        ["list", ["q", "r"]],
        ["list", []],
        ["NoneType", None],
    )
