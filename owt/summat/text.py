"""Sentence splitting without models or data downloads: punctuation rules and a short list
of abbreviations, good enough to feed a text-to-speech model sentence by sentence. Any
script's sentence terminators end a sentence (``你好。今天很好。``, ``नमस्ते। आप कैसे हैं?``).

    >>> split_sentences("Dr. Smith arrived. He said hi! Was it 3.5 p.m.? Yes... it was.")
    ['Dr. Smith arrived.', 'He said hi!', 'Was it 3.5 p.m.?', 'Yes... it was.']

:func:`iter_sentences` does the same over a stream of text chunks (tokens from a language
model), yielding each sentence as soon as the text after it shows that it has ended.

Both take time linear in the text (2.1 MB of short sentences in about a second): each ending
is decided once, looking back only over the word before it, and a stream searches again
only its unsettled end. The word before a full stop is read from its own sentence:
``"你好。Dr. Smith"`` is one sentence after ``"你好。"``, as ``"Dr. Smith"`` alone is.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Generator, Iterable, Iterator
from typing import NamedTuple

__all__ = ["ABBREVIATIONS", "aiter_sentences", "iter_sentences", "split_sentences"]

_ABBREVIATED = """mr mrs ms dr prof sr jr st mt vs etc e.g i.e cf al fig figs no nos vol vols
    pp ch approx dept est inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec
    gen col lt sgt capt rev hon"""
ABBREVIATIONS = frozenset(_ABBREVIATED.split())
"""Words that end in a full stop without ending a sentence (compared in lower case)."""

# The characters with Unicode's Sentence_Terminal property (Unicode 18, PropList.txt), as a
# regex class: the full stops, question and exclamation marks of every script — ``.!?``,
# Chinese and Japanese ``。！？｡``, Devanagari ``।`` ``॥``, Arabic ``؟``, Armenian ``։``,
# Ethiopic ``።``, Burmese, Khmer, Mongolian, Brahmi... The stdlib's unicodedata does not
# carry the property, so it is listed here (tests/test_summat_text.py checks the list
# against the ``regex`` package's ``\p{Sentence_Terminal}``).
_TERMINALS = (
    "\u0021\u002e\u003f\u0589\u061d-\u061f\u06d4\u0700-\u0702\u07f9\u0837\u0839"
    "\u083d-\u083e\u0964-\u0965\u104a-\u104b\u1362\u1367-\u1368\u166e\u1735-\u1736"
    "\u17d4-\u17d5\u1803\u1809\u1944-\u1945\u1aa8-\u1aab\u1b4e-\u1b4f\u1b5a-\u1b5b"
    "\u1b5e-\u1b5f\u1b7d-\u1b7f\u1c3b-\u1c3c\u1c7e-\u1c7f\u2024\u203c-\u203d"
    "\u2047-\u2049\u2cf9-\u2cfb\u2e2e\u2e3c\u2e53-\u2e54\u2e60-\u2e61\u3002\ua4ff"
    "\ua60e-\ua60f\ua6f3\ua6f7\ua876-\ua877\ua8ce-\ua8cf\ua92f\ua9c8-\ua9c9"
    "\uaa5d-\uaa5f\uaaf0-\uaaf1\uabeb\ufe12\ufe15-\ufe16\ufe52\ufe56-\ufe57\uff01"
    "\uff0e\uff1f\uff61\U00010a56-\U00010a57\U00010f55-\U00010f59"
    "\U00010f86-\U00010f89\U00011047-\U00011048\U000110be-\U000110c1"
    "\U00011141-\U00011143\U000111c5-\U000111c6\U000111cd\U000111de-\U000111df"
    "\U00011238-\U00011239\U0001123b-\U0001123c\U000112a9\U000113d4-\U000113d5"
    "\U0001144b-\U0001144c\U000115c2-\U000115c3\U000115c9-\U000115d7"
    "\U00011641-\U00011642\U0001173c-\U0001173e\U00011944\U00011946"
    "\U00011a42-\U00011a43\U00011a9b-\U00011a9c\U00011c41-\U00011c42"
    "\U00011ef7-\U00011ef8\U00011f43-\U00011f44\U00016a6e-\U00016a6f\U00016af5"
    "\U00016b37-\U00016b38\U00016b44\U00016d6e-\U00016d6f\U00016e98\U0001bc9f"
    "\U0001da88"
)
# Ideographic and full-width terminators carry their own space: Chinese and Japanese put none
# after them, so they end a sentence with or without whitespace after.
_SPACED_BY_THEMSELVES = "\u3002\ufe12\ufe15\ufe16\ufe52\ufe56\ufe57\uff01\uff0e\uff1f\uff61"
_CLOSERS = "\"'\u201d\u2019\u00bb)\\]\u300d\u300f\u3011\u3015\u3009\u300b\uff09\uff3d\uff63"
_OPENERS = "(\"'\u201c\u2018\u00ab["
# A run of terminators, closing quotes/brackets, then whitespace (or none, checked in
# _is_end); or a blank line.
_END = re.compile(rf"([{_TERMINALS}\u2026]+)([{_CLOSERS}]*)(\s*)|\n[ \t]*\n\s*")
# What may follow the end of a match and still belong to it (groups as in _END).
_MORE = re.compile(rf"([{_TERMINALS}\u2026]*)([{_CLOSERS}]*)(\s*)")
# What an ending begins with: a chunk of a stream without any begins none.
_MAY_END = re.compile(rf"[{_TERMINALS}\u2026\n]")
_DOTTED = re.compile(r"(?:\w\.)+\w")

# How far an unsettled ending at the end of the text has got: which of _END's parts it may
# still grow by. NEWLINE is a line break followed by spaces, which one more makes a blank line.
_TERMINATORS, _CLOSING, _SPACES, _NEWLINE = range(4)


def _word_before(text: str, end: int, start: int) -> str:
    """The word that ends at ``end``, without opening quotes or brackets (never before
    ``start``, where the sentence began): ``"Dr"`` in ``'("Dr.'``."""
    begin = end
    while begin > start and not (text[begin - 1].isspace() or text[begin - 1] in _OPENERS):
        begin -= 1
    return text[begin:end]


def _is_end(text: str, match: re.Match[str], start: int) -> bool:
    if match[1] is None:  # a blank line always ends a sentence
        return True
    following = text[match.end() : match.end() + 1]
    if following.islower() or (following and following in ",;:\uff0c\u3001\uff1b\uff1a"):
        return False
    if not match[3] and following and match[1][-1] not in _SPACED_BY_THEMSELVES:
        return False  # "3.5", "example.com": no space after, no end
    if match[1] != ".":
        return True
    before = _word_before(text, match.start(), start)
    if before.lower() in ABBREVIATIONS:
        return False
    # An initial ("J. R. Hartley") or a dotted abbreviation ("U.S.") is not an ending.
    initial = len(before) == 1 and before.isupper()
    return not initial and not _DOTTED.fullmatch(before)


class _Cut(NamedTuple):
    """What :func:`_cut` found: the sentences, where the rest begins, where the next search
    starts, and what the unsettled ending there may still grow by (None: nothing)."""

    sentences: list[str]
    rest: int
    scan: int
    growing: int | None


def _cut(text: str, scan: int, final: bool) -> _Cut:
    """The complete sentences of ``text``, searching for endings from ``scan`` on (nothing
    before it can end one); with ``final`` the rest is a sentence too.

    Each ending is decided once, looking back only over the word before it, so the work is
    linear in the text searched.
    """
    sentences: list[str] = []
    start = searched = 0
    for match in _END.finditer(text, scan):
        if match.end() == len(text) and not final:  # what follows is not known yet
            return _Cut(sentences, start, match.start(), _growth(match))
        if _is_end(text, match, start):
            end = match.start(3) if match[1] is not None else match.start()
            sentence = text[start:end].strip()
            if sentence:
                sentences.append(sentence)
            start = match.end()
        searched = match.end()
    if final:
        if text[start:].strip():
            sentences.append(text[start:].strip())
        return _Cut(sentences, len(text), len(text), None)
    # A last line break with only spaces after it opens a blank line if another follows.
    newline = text.rfind("\n", max(searched, scan))
    if newline >= 0 and not text[newline + 1 :].strip(" \t"):
        return _Cut(sentences, start, newline, _NEWLINE)
    return _Cut(sentences, start, len(text), None)


def _growth(match: re.Match[str]) -> int:
    if match[1] is None or match[3]:
        return _SPACES
    return _CLOSING if match[2] else _TERMINATORS


def _grown(growing: int, chunk: str) -> int | None:
    """How the unsettled ending grows with ``chunk`` appended, or None when ``chunk`` settles
    it (it holds something the ending cannot take)."""
    if growing == _NEWLINE:
        return None if chunk.strip(" \t") else _NEWLINE
    more = _MORE.fullmatch(chunk)
    if more is None or (growing >= _CLOSING and more[1]) or (growing == _SPACES and more[2]):
        return None
    if more[3]:
        return _SPACES
    return _CLOSING if more[2] else growing


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, stripped, in order."""
    return _cut(text, 0, final=True).sentences


def iter_sentences(chunks: Iterable[str]) -> Iterator[str]:
    """Sentences from a stream of text chunks, each yielded once the next text has begun.

    Only the unsettled end of the text is searched again when a chunk comes (an ending
    whose next character has not come yet), and not even that while the chunks only
    lengthen it (``"..."`` token by token): the stream costs what one split of its text does.
    """
    split = _splitter()
    next(split)
    for chunk in chunks:
        yield from split.send(chunk)
    yield from split.send(None)


async def aiter_sentences(chunks: AsyncIterable[str]) -> AsyncIterator[str]:
    """:func:`iter_sentences` of an async stream of text chunks (an ``async def`` generator)."""
    split = _splitter()
    next(split)
    async for chunk in chunks:
        for sentence in split.send(chunk):
            yield sentence
    for sentence in split.send(None):
        yield sentence


def _splitter() -> Generator[list[str], str | None, None]:
    """Send it each chunk, get back the sentences the chunk completed; send None at the end
    for the last ones. (A generator, so that ``text`` is a local that ``+=`` grows in place.)
    """
    text = ""  # from the sentence not yet given out
    scan = 0
    growing: int | None = None
    done: list[str] = []
    while (chunk := (yield done)) is not None:
        done = []
        text += chunk
        if growing is not None:
            growing = _grown(growing, chunk)
            if growing is not None:
                continue
        elif not _MAY_END.search(chunk):  # most tokens of a model: nothing to search again
            scan = len(text)
            continue
        found = _cut(text, scan, final=False)
        done = found.sentences
        scan, growing = found.scan - found.rest, found.growing
        if found.rest:
            text = text[found.rest :]
    yield _cut(text, scan, final=True).sentences
