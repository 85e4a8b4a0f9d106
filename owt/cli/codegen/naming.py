"""Names in generated code: words of any text, and one scope's names kept distinct.

Endpoint, parameter, field and type names and ``Literal`` values come from the server and may
be anything: ``my-end-point`` and ``my_end.point`` are both ``my_end_point``, ``cast`` is what
the Python module imports, ``Left`` a Prelude constructor, ``😀`` no identifier at all. A
generator asks a :class:`Names` for each one, which never gives a name twice nor one of the
scope's reserved names (a keyword, an import, a local of the generated code).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

__all__ = ["Names", "words"]

#: Letters with no ASCII decomposition, as they are commonly written in ASCII.
_SPELLED = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "ł": "l"}


def words(text: str, *, ascii: bool = True) -> list[str]:
    """``tts-v2`` → ``["tts", "v2"]``; ``helloWorld`` → ``["hello", "world"]``.

    Letters and digits make words, anything else separates them — but a symbol (``😀``) or a
    letter with no ASCII spelling is its Unicode name (``["grinning", "face"]``), so distinct
    values stay distinct. With ``ascii``, a letter is spelled in ASCII (``größe`` →
    ``["grosse"]``), else kept as it is (Python and JavaScript identifiers allow it)."""
    spelled = "".join(_spell(ch, ascii) for ch in text)
    spelled = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", spelled)
    return [w.lower() for w in re.split(r"[^\w]+|_", spelled) if w]


def _spell(ch: str, ascii: bool) -> str:
    if ch.isascii():
        return ch
    if not ascii and ("a" + ch).isidentifier():
        return ch
    if ch.isalpha():
        plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
        plain = plain or _SPELLED.get(ch.lower(), "")
        if plain:
            return plain.upper() if ch.isupper() else plain
    if ch.isalnum() or unicodedata.category(ch).startswith("S"):
        return f" {unicodedata.name(ch, '')} "
    return " "


class Names:
    """One scope's names: each :meth:`give` answers a name not given before in the scope and
    not ``reserved`` — the wanted one, else it with ``mark`` (``cast_``, ``show'``), else with
    a number (``my_end_point_2``), in the order asked."""

    def __init__(
        self,
        reserved: Iterable[str] = (),
        *,
        mark: str = "_",
        same: Callable[[str], str] = lambda name: name,
    ) -> None:
        self.same = same  # the form two names are equal in (Python: NFKC)
        self.reserved = {same(name) for name in reserved}
        self.taken: set[str] = set()
        self.mark = mark

    def give(self, wanted: str) -> str:
        name = wanted + self.mark if self.same(wanted) in self.reserved else wanted
        n, candidate = 2, name
        while self.same(candidate) in self.taken or self.same(candidate) in self.reserved:
            candidate, n = f"{wanted}_{n}", n + 1
        self.taken.add(self.same(candidate))
        return candidate

    def reserve(self, names: Iterable[str]) -> None:
        """Names later given in another scope that this one must not take."""
        self.reserved.update(self.same(name) for name in names)
