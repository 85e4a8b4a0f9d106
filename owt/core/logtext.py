"""Text made safe for a log line: what a request chose cannot add, split or disguise a line.

A path, or any value a caller sends, may hold a line break, an escape sequence for the
terminal, or a space: written as is, ``/a%0a2026-12-02 ... owt.access: forged`` becomes a
second log line, and a space shifts every field after it. :func:`field_text` leaves
ordinary text alone (the common case costs one check) and percent-encodes the characters
that are not printable or are a space, as the request line itself would carry them.
:func:`one_entry` keeps a whole entry (a message with its traceback) one entry: a control
character shows as its escape, and every line after the first is indented, so no line of
it can pass for an entry of its own. Stdlib only: worker processes use it too.

>>> field_text("/hello/wörld")
'/hello/wörld'
>>> field_text("/a\\n2026-12-02 INFO owt.access: forged")
'/a%0A2026-12-02%20INFO%20owt.access:%20forged'
>>> print(one_entry("failed: bad \\x1b[31mred\\n2026-12-02 INFO owt.access: forged"))
failed: bad \\x1b[31mred
  2026-12-02 INFO owt.access: forged
"""

from __future__ import annotations

from urllib.parse import unquote_plus

__all__ = ["field_text", "hide_token", "one_entry"]

#: Control characters but the line break and the tab, as their escapes.
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F] if c not in (0x09, 0x0A)}


def field_text(text: str) -> str:
    """``text`` as one field of a log line: no line break, control character or space."""
    if text.isprintable() and " " not in text:
        return text
    return "".join(c if c.isprintable() and c != " " else _escaped(c) for c in text)


def _escaped(char: str) -> str:
    # surrogatepass: a lone surrogate (not UTF-8) shows as the three bytes it would take
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def one_entry(text: str) -> str:
    """A log entry as one entry: control characters escaped, continuation lines indented."""
    if text.isprintable():
        return text
    text = text.translate(_CONTROLS)
    return text.replace("\n", "\n  ") if "\n" in text else text


def hide_token(query: str) -> str:
    """A query string as a log shows it: the value of any ``token`` parameter (a credential,
    however its name is spelled: ``%74oken``) replaced by ``hidden``."""
    if "oken" not in query and "%" not in query:
        return query
    parts = query.split("&")
    for i, part in enumerate(parts):
        name = part.partition("=")[0]
        if unquote_plus(name).lower() == "token":
            parts[i] = f"{name}=hidden"
    return "&".join(parts)
