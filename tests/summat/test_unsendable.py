"""A value owt cannot send says what it is, in terms of what the adaptor gave — a stream
as an item of a stream, a Response inside a value — the same in worker processes and
``--in-process`` (it said "cannot pickle 'generator' object", where nothing is pickled)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import OwtProcess, call

from owt.core.call import Response
from owt.core.errors import AdaptorError
from owt.core.results import encode_item
from owt.summat import pipe


@dataclass
class Holder:
    items: Any


@pytest.mark.parametrize(
    ("item", "says"),
    [
        ((x for x in [1]), "a generator is itself a stream"),
        (iter([1]), "a list_iterator is itself a stream"),
        (Holder(x for x in [1]), "a generator is itself a stream"),
        (Response(x for x in [1]), "a Response is only ever the whole result"),
        ({"inner": Response("x")}, "a Response is only ever the whole result"),
    ],
)
def test_a_stream_inside_a_stream_is_named_for_what_it_is(item: Any, says: str) -> None:
    # It said "cannot pickle 'generator' object", even where nothing is pickled.
    with pytest.raises(AdaptorError) as caught:
        encode_item(item)
    message = caught.value.message
    assert message.startswith(f"a streamed item cannot be sent: TypeError: {says}")
    assert "pickle" not in message


def test_the_stream_steps_name_a_stream_inside_a_stream_too() -> None:
    items = pipe().const([1]).each(pipe().f(lambda x: iter([x, x])).sse())
    with pytest.raises(TypeError, match="a Response is only ever the whole result"):
        list(items.sse()().body)
    with pytest.raises(TypeError, match="a list_iterator is itself a stream"):
        list(pipe().const([1]).each(lambda x: iter([x])).json_out()().body)


def test_a_dataclass_is_still_sent_field_by_field() -> None:
    assert json.loads(encode_item(Holder([1, {"a": Holder("b")}]))) == {
        "items": [1, {"a": {"items": "b"}}]
    }


@pytest.fixture(scope="module")
def in_process() -> Iterator[OwtProcess]:
    server = OwtProcess("--in-process", "--timeout", "10")
    yield server
    server.stop()


@pytest.fixture(params=["workers", "in-process"])
def server(request: pytest.FixtureRequest) -> OwtProcess:
    name = "owt_server" if request.param == "workers" else "in_process"
    found: OwtProcess = request.getfixturevalue(name)
    return found


def failed(server: OwtProcess, code: str, **kwargs: Any) -> str:
    r = call(server.url, code, **kwargs)
    assert r.status_code == 500, r.text
    assert r.json()["error"] == "adaptor_error"
    message: str = r.json()["message"]
    return message


def test_a_stream_as_an_item_of_a_stream_is_named_for_what_it_is(server: OwtProcess) -> None:
    # "cannot pickle 'generator' object", even --in-process where nothing is pickled.
    code = 'kwarg("xs").each(pipe().f(lambda x: iter([x, x])).sse())'
    message = failed(server, code, xs=[1])
    assert message.startswith("a streamed item cannot be sent: TypeError: a Response is only")
    code = 'kwarg("xs").each(lambda x: (y for y in [x, x]))'
    message = failed(server, code, xs=[1])
    assert message.startswith(
        "a streamed item cannot be sent: TypeError: a generator is itself a stream"
    )
    assert "flatten it (yield from it) or collect its items with list(...)" in message
    assert "pickle" not in message
