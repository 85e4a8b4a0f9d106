"""What the text steps take: text as str, bytes or chunks (bytes decoded across chunk
boundaries), and nothing else turned into text."""

from __future__ import annotations

from typing import Any

import pytest
from summat_support import make_request

from owt.core.errors import BadRequest
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
