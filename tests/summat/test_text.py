"""The sentence splitter behind ``sentences()``: rules, not models."""

from __future__ import annotations

import pytest

from owt.summat.text import iter_sentences, split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three?", ["One.", "Two!", "Three?"]),
        ("Mr. and Mrs. Smith met Dr. Jones.", ["Mr. and Mrs. Smith met Dr. Jones."]),
        ("J. R. Hartley wrote it. Then?", ["J. R. Hartley wrote it.", "Then?"]),
        ("It costs 3.50 today. Cheap.", ["It costs 3.50 today.", "Cheap."]),
        ("Wait... what? Oh... Right.", ["Wait... what?", "Oh...", "Right."]),
        ('He said "Stop." Then left.', ['He said "Stop."', "Then left."]),
        ("See e.g. this one. Done.", ["See e.g. this one.", "Done."]),
        ("The U.S. Army. Fine.", ["The U.S. Army.", "Fine."]),
        ("Title\n\nBody text here", ["Title", "Body text here"]),
        ("no end punctuation", ["no end punctuation"]),
        ("  ", []),
        ("Really?! Yes.", ["Really?!", "Yes."]),
        ("Take a. Then b. Done", ["Take a.", "Then b.", "Done"]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_iter_sentences_matches_split_whatever_the_chunking() -> None:
    text = "Dr. Who arrived. Was it 5 p.m.? Yes... It was. Bye"
    for size in (1, 2, 3, 7, 100):
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        assert list(iter_sentences(chunks)) == split_sentences(text)


def test_iter_sentences_waits_for_the_next_text() -> None:
    sentences = iter_sentences(iter(["First one. ", "second"]))
    # "second" starts lower case, so "First one." may continue: nothing is final until then.
    assert list(sentences) == ["First one. second"]
