"""A value owt cannot send says what it is, in terms of what the adaptor gave — a stream
as an item of a stream, a Response inside a value (it said "cannot pickle 'generator'
object", where nothing is pickled). Through a server in both modes: test_http_faults.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

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
