"""Checks of the arguments a caller sends to the ready adaptors. Stdlib only.

Sent as code (``code_b64``), an adaptor gets its arguments as the JSON held them, without
the type hints' conversion a mounted endpoint does; a wrong one would otherwise surface deep
in a model (a tokenizer's ``TypeError``) as a 500. Each check answers 400 ``bad_request``
whose ``field`` is the argument the caller sent (``texts``, ``a``), and, for an item of a
list, its ``index``::

    >>> check_texts(["fine", 3], "texts")
    Traceback (most recent call last):
    ...
    owt.core.errors.BadRequest: texts[1] must be a string, not a number (3)
"""

from __future__ import annotations

from typing import Any

from owt.core.errors import BadRequest
from owt.core.scalars import Mismatch, show_value, to_bool

__all__ = ["check_flag", "check_text", "check_texts"]


def check_text(value: Any, name: str) -> str:
    """``value`` if it is a string of whole characters, else a BadRequest naming ``name``."""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string, not {_shown(value)}", field=name)
    _check_characters(value, name, field=name)
    return value


def check_texts(value: Any, name: str) -> list[str]:
    """``value`` as a list of strings (one string is a list of one), else a BadRequest
    naming ``name`` and the index of the first item that is not text."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        message = f"{name} must be a list of strings, not {_shown(value)}"
        raise BadRequest(message, field=name)
    for index, item in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(item, str):
            message = f"{where} must be a string, not {_shown(item)}"
            raise BadRequest(message, field=name, index=index)
        _check_characters(item, where, field=name, index=index)
    return value


def check_flag(value: Any, name: str) -> bool:
    """``value`` as a boolean: ``true``/``false`` as JSON or as text (``"no"``, ``"0"``)."""
    try:
        return to_bool(value)
    except Mismatch:
        message = f"{name} must be true or false, not {_shown(value)}"
        raise BadRequest(message, field=name) from None


def _check_characters(text: str, where: str, **fields: Any) -> None:
    # JSON can carry half of a UTF-16 pair ("\ud83d" alone), which Python keeps as a lone
    # surrogate: no character at all, and no model's tokenizer or program's stdin takes it.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        message = (
            f"{where} holds a lone surrogate, U+{code:04X} at character {exc.start}: half of "
            "a character written as a UTF-16 pair (a JSON \\ud83d escape needs its second "
            "half, such as \\ude00); send whole characters"
        )
        raise BadRequest(message, **fields) from None


def _shown(value: Any) -> str:
    """A value as the caller wrote it in JSON: its kind, and a short view of it."""
    if value is None:
        return "null"
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    kinds.update({dict: "an object", list: "a list"})
    return f"{kinds.get(type(value), type(value).__name__)} ({show_value(value)})"
