"""The sentence splitter behind ``sentences()``: rules, not models."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, require

from owt.summat import text as text_module
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
        ("See example.com now. It is 3.5x.", ["See example.com now.", "It is 3.5x."]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好。今天天气很好。", ["你好。", "今天天气很好。"]),
        ("こんにちは。元気ですか？", ["こんにちは。", "元気ですか？"]),
        ("本当！？はい。", ["本当！？", "はい。"]),
        ("ｺﾝﾆﾁﾊ｡ｹﾞﾝｷ｡", ["ｺﾝﾆﾁﾊ｡", "ｹﾞﾝｷ｡"]),  # half-width Japanese
        ("他说：「你好。」然后走了。", ["他说：「你好。」", "然后走了。"]),
        ("版本3.5很好。", ["版本3.5很好。"]),  # an ASCII point inside CJK text is no end
        ("नमस्ते। आप कैसे हैं?", ["नमस्ते।", "आप कैसे हैं?"]),
        ("पहला॥ दूसरा।", ["पहला॥", "दूसरा।"]),
        ("مرحبا؟ كيف حالك.", ["مرحبا؟", "كيف حالك."]),
        ("Բարեւ։ Ինչպես ես։", ["Բարեւ։", "Ինչպես ես։"]),
        ("ሰላም። እንዴት ነህ፧", ["ሰላም።", "እንዴት ነህ፧"]),
    ],
)
def test_split_sentences_of_other_scripts(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_iter_sentences_of_chinese_whatever_the_chunking() -> None:
    text = "你好。今天天气很好！「真的吗？」是的。"
    expected = ["你好。", "今天天气很好！", "「真的吗？」", "是的。"]
    for size in (1, 2, 3, 100):
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        assert list(iter_sentences(chunks)) == expected


def test_terminators_are_unicodes_sentence_terminal_property() -> None:
    # The list in owt.summat.text against the regex package's \p{Sentence_Terminal}, in the
    # embeddings environment, which has it (transformers needs it).
    python = Path(os.environ.get("OWT_EMBED_PYTHON", ROOT / ".venv-embed" / "bin" / "python"))
    if not python.exists():
        require(f"the embeddings environment {python}, for its regex package")
    script = (
        "import regex, sys; print(''.join(c for c in map(chr, range(sys.maxunicode + 1))"
        " if regex.match(r'\\p{Sentence_Terminal}', c)).encode('unicode-escape').decode())"
    )
    done = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    unicode = done.stdout.strip().encode().decode("unicode-escape")
    ours = re.compile(f"[{text_module._TERMINALS}]")
    listed = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if ours.match(c))
    assert listed == unicode


def test_iter_sentences_matches_split_whatever_the_chunking() -> None:
    text = "Dr. Who arrived. Was it 5 p.m.? Yes... It was. Bye"
    for size in (1, 2, 3, 7, 100):
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        assert list(iter_sentences(chunks)) == split_sentences(text)


def test_iter_sentences_waits_for_the_next_text() -> None:
    sentences = iter_sentences(iter(["First one. ", "second"]))
    # "second" starts lower case, so "First one." may continue: nothing is final until then.
    assert list(sentences) == ["First one. second"]


def test_the_word_before_a_full_stop_is_read_from_its_own_sentence() -> None:
    # "Dr" is the word before the stop, not "你好。Dr": the sentence before has ended.
    assert split_sentences("你好。Dr. Smith came.") == ["你好。", "Dr. Smith came."]
    assert list(iter_sentences(["你好。Dr", ". Smith came."])) == ["你好。", "Dr. Smith came."]


class _Counting:
    """``_END`` and ``_word_before`` of owt.summat.text, counting the characters they read:
    the regex from where each search starts to the text's end, the look-back over words."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.read = 0
        end, word_before = text_module._END, text_module._word_before
        counting = self

        class End:
            def finditer(self, text: str, pos: int = 0) -> object:
                counting.read += len(text) - pos
                return end.finditer(text, pos)

        def counted_word_before(text: str, stop: int, start: int) -> str:
            word = word_before(text, stop, start)
            counting.read += len(word) + 1
            return word

        monkeypatch.setattr(text_module, "_END", End())
        monkeypatch.setattr(text_module, "_word_before", counted_word_before)


# The trial's repros (a full stop after every few words, an abbreviation that never ends the
# sentence, a token stream) and streams that only lengthen an ending or a word, token by token.
STREAMS = {
    "sentences": ["Hello there, friend. "] * 4000,
    "abbreviations": ["Dr. "] * 1000,
    "tokens": ["Ey", " up", "."] * 3000,
    "dots": ["Hi", *["."] * 3000, " Next."],
    "spaces after a stop": ["Hi.\n", *[" "] * 3000, "x"],
    "spaces after a line break": ["Title\n", *[" "] * 3000, "\nBody"],
    "closing quotes": ['"Hi.', *['"'] * 3000, " x"],
    "one long word": [*["a"] * 3000, ". B"],
}


@pytest.mark.parametrize("chunks", STREAMS.values(), ids=STREAMS.keys())
def test_splitting_reads_each_character_a_few_times(
    chunks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # It re-read the whole text for every full stop (42 s for the first, 85 s for the second
    # stream's 4 KB), and a stream's whole buffer for every chunk.
    text = "".join(chunks)
    expected = split_sentences(text)
    counting = _Counting(monkeypatch)
    assert split_sentences(text) == expected
    assert counting.read <= 3 * len(text) + 10
    counting.read = 0
    assert list(iter_sentences(chunks)) == expected
    assert counting.read <= 3 * len(text) + 10


@pytest.mark.timeout(120)
def test_megabytes_of_sentences_are_split() -> None:
    # 2.1 MB never finished, holding a worker past its timeout; linear, it takes seconds.
    assert len(split_sentences("Ey up. " * 300_000)) == 300_000
    assert sum(1 for _ in iter_sentences(["Ey", " up", ". "] * 300_000)) == 300_000
