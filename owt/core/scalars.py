"""Text and JSON values as the plain types a hint names: flags, integers, numbers. Stdlib only,
Python >= 3.10 (a worker converts an endpoint's arguments where the call runs).

>>> to_bool(" Yes "), to_int("42"), to_float("2.5e3")
(True, 42, 2500.0)
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = [
    "INT_DIGITS",
    "INT_TEXT",
    "NUMBER_TEXT",
    "Mismatch",
    "short_repr",
    "show_value",
    "to_bool",
    "to_float",
    "to_int",
]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class Mismatch(ValueError):
    """A value that does not fit a hint (turned into a BadRequest naming the parameter)."""


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise Mismatch


# Numbers written as people and JSON write them: no ``1_000``, ``nan`` or ``inf`` (which
# Python's int() and float() would take, and the OpenAPI document could not describe), and
# no number text so large that it is infinite as a float (an exponent of two digits, or three
# below 0: ``1e-300`` is a float, ``1e300`` travels as JSON).
#: Digits an integer's text may have: Python's own bound on converting text to int (past
#: it, ``int()`` raises, and such a number is more likely an attack than an argument).
INT_DIGITS = 4300
INT_TEXT = re.compile(rf"\s*[+-]?\d{{1,{INT_DIGITS}}}\s*\Z")
INT_TEXT_ANY = re.compile(r"\s*[+-]?\d+\s*\Z")
NUMBER_TEXT = re.compile(r"\s*[+-]?(\d{1,200}(\.\d*)?|\.\d+)([eE](-\d{1,3}|\+?\d{1,2}))?\s*\Z")


def to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise Mismatch
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and INT_TEXT.match(value):
        try:
            return int(value)
        except ValueError:  # this interpreter's bound is lower (PYTHONINTMAXSTRDIGITS)
            raise Mismatch("more digits than this Python converts to an int")
    if isinstance(value, str) and INT_TEXT_ANY.match(value):
        raise Mismatch(f"more than {INT_DIGITS} digits")
    raise Mismatch


def to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise Mismatch
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer past the largest float
            raise Mismatch("too large")
        if math.isfinite(number):
            return number
        raise Mismatch
    if isinstance(value, str) and NUMBER_TEXT.match(value):
        number = float(value)
        if math.isfinite(number):
            return number
    raise Mismatch


def show_value(value: Any) -> str:
    """The value as its caller wrote it: JSON (``true``, ``null``, ``"abc"``), which callers
    in any language send; else (bytes of a file part) Python's repr."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return _cut(text, 60)


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters (``...`` marks the cut)."""
    return _cut(repr(value), limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
