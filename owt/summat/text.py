"""Sentence splitting without models or data downloads: punctuation rules and a short list
of abbreviations, good enough to feed a text-to-speech model sentence by sentence.

    >>> split_sentences("Dr. Smith arrived. He said hi! Was it 3.5 p.m.? Yes... it was.")
    ['Dr. Smith arrived.', 'He said hi!', 'Was it 3.5 p.m.?', 'Yes... it was.']

:func:`iter_sentences` does the same over a stream of text chunks (tokens from a language
model), yielding each sentence as soon as the text after it shows that it has ended.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

__all__ = ["ABBREVIATIONS", "iter_sentences", "split_sentences"]

_ABBREVIATED = """mr mrs ms dr prof sr jr st mt vs etc e.g i.e cf al fig figs no nos vol vols
    pp ch approx dept est inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec
    gen col lt sgt capt rev hon"""
ABBREVIATIONS = frozenset(_ABBREVIATED.split())
"""Words that end in a full stop without ending a sentence (compared in lower case)."""

# A run of terminators, closing quotes/brackets, then whitespace; or a blank line.
_END = re.compile(r"""([.!?\u2026]+)(["'\u201d\u2019\u00bb)\]]*)(\s+)|\n[ \t]*\n\s*""")
_DOTTED = re.compile(r"(?:\w\.)+\w")
_WORD_BEFORE = re.compile(r"""[("'\u201c\u2018\u00ab\[]*([^\s("'\u201c\u2018\u00ab\[]*)$""")


def _is_end(text: str, match: re.Match[str]) -> bool:
    if match[1] is None:  # a blank line always ends a sentence
        return True
    following = text[match.end() : match.end() + 1]
    if following.islower() or following in ",;:":
        return False
    if match[1] != ".":
        return True
    word = _WORD_BEFORE.search(text, 0, match.start())
    before = word[1] if word else ""
    if before.lower() in ABBREVIATIONS:
        return False
    # An initial ("J. R. Hartley") or a dotted abbreviation ("U.S.") is not an ending.
    initial = len(before) == 1 and before.isupper()
    return not initial and not _DOTTED.fullmatch(before)


def _cut(text: str, final: bool) -> tuple[list[str], str]:
    """Complete sentences in ``text`` and the rest; with ``final`` the rest is one too."""
    sentences: list[str] = []
    start = 0
    for match in _END.finditer(text):
        if match.end() == len(text) and not final:
            break  # what follows is not known yet
        if _is_end(text, match):
            end = match.start(3) if match[1] is not None else match.start()
            sentence = text[start:end].strip()
            if sentence:
                sentences.append(sentence)
            start = match.end()
    rest = text[start:]
    if final:
        if rest.strip():
            sentences.append(rest.strip())
        rest = ""
    return sentences, rest


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, stripped, in order."""
    return _cut(text, final=True)[0]


def iter_sentences(chunks: Iterable[str]) -> Iterator[str]:
    """Sentences from a stream of text chunks, each yielded once the next text has begun."""
    buffer = ""
    for chunk in chunks:
        buffer += chunk
        done, buffer = _cut(buffer, final=False)
        yield from done
    yield from _cut(buffer, final=True)[0]
