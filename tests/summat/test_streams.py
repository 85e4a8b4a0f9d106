"""What the text and stream steps take: text as str, bytes or chunks (bytes decoded across
chunk boundaries), nothing else turned into text; and async streams as well as sync ones."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from summat_support import body_text, make_request

from owt.core.call import Response
from owt.core.errors import BadRequest
from owt.core.events import DONE_EVENT
from owt.summat import pipe

# 你好。 in UTF-8, cut inside its first and its second character.
NIHAO = [b"\xe4\xbd", b"\xa0\xe5\xa5\xbd\xe3\x80\x82", b"Ok."]


def test_byte_chunks_are_decoded_across_their_boundaries() -> None:
    # Each chunk was decoded alone: a character cut between two was a UnicodeDecodeError.
    assert list(pipe().const(iter(NIHAO)).sentences()()) == ["你好。", "Ok."]
    assert pipe().const(NIHAO).sentences()() == ["你好。", "Ok."]
    one_byte_each = [bytes([b]) for b in "Grüß dich. Tschüs.".encode()]
    assert list(pipe().const(iter(one_byte_each)).sentences()()) == ["Grüß dich.", "Tschüs."]


def test_str_and_byte_chunks_mix() -> None:
    assert list(pipe().const(iter(["Hello. ", b"W\xc3\xb6rld."])).sentences()()) == [
        "Hello.",
        "Wörld.",
    ]


@pytest.mark.parametrize(
    "chunks",
    [[b"\xe4\xbd"], [b"\xe4\xbd", "then text"], [b"ok \xff"]],
    ids=["ends inside a character", "text after half a character", "not UTF-8"],
)
def test_bytes_that_are_not_utf8_fail_naming_the_step(chunks: list[Any]) -> None:
    with pytest.raises(UnicodeDecodeError) as caught:
        list(pipe().const(iter(chunks)).sentences()())
    assert "(in the pipe's step sentences())" in caught.value.__notes__


def test_a_list_of_text_is_the_chunks_of_one_text() -> None:
    assert pipe().const(["Hello. Wor", "ld. Bye."]).sentences()() == ["Hello.", "World.", "Bye."]
    assert pipe().const(("One. ", "Two.")).sentences()() == ["One.", "Two."]


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "not None"), (5, "not int 5"), ({"text": "Hi."}, "not dict {'text': 'Hi.'}")],
)
def test_sentences_refuses_what_is_not_text(value: Any, shown: str) -> None:
    # It answered ["None"], and the repr of a dict or a number, as if they were text.
    with pytest.raises(TypeError, match=r"sentences\(\) takes text: .*" + shown):
        pipe().const(value).sentences()()


def test_sentences_refuses_a_chunk_that_is_not_text() -> None:
    with pytest.raises(TypeError, match=r"chunk 2 is int 5"):
        list(pipe().const(iter(["Hello. ", 5])).sentences()())
    with pytest.raises(TypeError, match=r"chunk 1 is None"):
        pipe().const([None]).sentences()()


def test_input_with_an_encoding_refuses_a_body_in_another_as_the_callers_error() -> None:
    request = make_request(data=b"caf\xe9", method="POST")
    assert pipe().input("latin-1")(request) == "café"
    with pytest.raises(BadRequest, match=r"input\('utf-8'\): the request body is not utf-8"):
        pipe().input("utf-8")(request)


async def agen(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


def collect(stream: Any) -> list[Any]:
    async def run() -> list[Any]:
        return [item async for item in stream]

    return asyncio.run(run())


def test_the_lazy_steps_take_async_streams() -> None:
    # An async def generator mid-pipe (a model's async client) was taken as one value.
    assert collect(pipe().const(agen(["Hi. Th", "ere. ", *NIHAO])).sentences()()) == [
        "Hi.",
        "There.",
        "你好。",
        "Ok.",
    ]
    assert collect(pipe().const(agen([1, 2, 3])).batch(2)()) == [[1, 2], [3]]
    assert collect(pipe().const(agen([1, 2])).each(lambda x: x * 10)()) == [10, 20]
    assert collect(pipe().const(agen([b"a"])).b64()()) == ["YQ=="]
    assert len(collect(pipe().const(agen([[0.1]])).wav(8000)())[0]) == 46


@pytest.mark.parametrize("step", ["sse", "json_out"])
def test_the_stream_responses_take_async_streams(step: str) -> None:
    # sse() answered 500 "async_generator is not JSON-able".
    response = getattr(pipe().kwarg("x").f(agen).each(lambda v: {"v": v}), step)()(x=[1, 2])
    assert isinstance(response, Response)
    if step == "sse":
        events = 'id: 1\ndata: {"v": 1}\n\nid: 2\ndata: {"v": 2}\n\n'
        assert body_text(response) == events + DONE_EVENT
    else:
        assert [json.loads(line) for line in body_text(response).splitlines()] == [
            {"v": 1},
            {"v": 2},
        ]


def test_an_async_stream_closed_early_closes_its_source() -> None:
    closed: list[bool] = []

    async def source() -> AsyncIterator[str]:
        try:
            yield "One. "
            yield "Two. "
            yield "Three."
        finally:
            closed.append(True)

    async def first_only() -> str:
        sentences = pipe().f(lambda _: source()).sentences()()
        first: str = await sentences.__anext__()
        await sentences.aclose()
        return first

    assert asyncio.run(first_only()) == "One."
    assert closed == [True]


def test_a_sync_stream_still_gives_a_sync_generator() -> None:
    sentences = pipe().const(iter(["One. ", "Two."])).sentences()()
    assert isinstance(sentences, Iterator)
    assert list(sentences) == ["One.", "Two."]
