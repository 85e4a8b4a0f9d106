"""Arguments as query text: which travel as plain parameters, which inside ``kwargs_b64``.

A mounted or registered endpoint reads a plain query parameter (or multipart text field) by
the function's type hint: ``?n=3`` is 3 for ``n: int``, ``?tag=a&tag=b`` is a list. Text
says less than JSON, so only values that text carries faithfully go as plain parameters:
a string, an integer, a flag (``true``/``false``), a number written as the server reads
numbers, and a list of two or more of these (one parameter per item). The rest travel
together as base64 of a JSON object in ``kwargs_b64``, which the server reads beside the plain
parameters: ``None`` (an empty value would be ``""`` to a ``str | None``), an empty list
(no parameter at all is the default), a list of one (``?tag=a`` is ``"a"`` to a parameter
without a hint), a whole-number float (``2.0`` is no ``int`` as text), a number the server's
number text cannot hold (``1e300``), nested lists, dicts and records::

    >>> query_arguments({"a": 1, "b": ["q", "r"], "c": None, "d": []})
    ({'a': '1', 'b': ['q', 'r']}, {'c': None, 'd': []})

JSON has no ``nan`` or infinity, and the server's ``float`` parameters take finite numbers
only: :func:`json_text` refuses them with a ``ValueError`` naming the argument, rather than
sending text that some reader would take and another refuse.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["json_text", "query_arguments", "query_text"]

#: Number text as the server reads it (``owt.core.scalars.NUMBER_TEXT``: the client imports
#: nothing of the server): no ``nan``/``inf``, an exponent of two digits (three below 0).
_NUMBER_TEXT = re.compile(r"[+-]?(\d{1,200}(\.\d*)?|\.\d+)([eE](-\d{1,3}|\+?\d{1,2}))?\Z")


def query_text(value: Any) -> str | None:
    """``value`` as the text a typed endpoint reads back as the same value, or None when
    text cannot carry it."""
    if isinstance(value, enum.Enum):  # the server takes an enum by its value
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
        text = repr(value)
        return text if _NUMBER_TEXT.match(text) else None
    return None


def query_arguments(
    kwargs: Mapping[str, Any],
) -> tuple[dict[str, str | list[str]], dict[str, Any]]:
    """Arguments → (plain parameters as text, a list as one text per item; the arguments
    for ``kwargs_b64``)."""
    params: dict[str, str | list[str]] = {}
    rest: dict[str, Any] = {}
    for name, value in kwargs.items():
        text = query_text(value)
        if text is not None:
            params[name] = text
            continue
        if isinstance(value, (list, tuple)) and len(value) >= 2:
            items = [query_text(item) for item in value]
            if all(item is not None for item in items):
                params[name] = [item for item in items if item is not None]
                continue
        rest[name] = value
    return params, rest


def json_text(value: Any) -> str:
    """``value`` as strict JSON; a ``nan`` or infinity in it is a ``ValueError`` naming where."""
    try:
        return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except ValueError as exc:
        if "Out of range float" not in str(exc):
            raise
        raise ValueError(_non_finite(value)) from None


def _non_finite(value: Any) -> str:
    where = ""
    if isinstance(value, Mapping) and isinstance(value.get("kwargs"), Mapping):
        value = value["kwargs"]  # a call's body: name the argument in it
    if isinstance(value, Mapping):
        for name, item in value.items():
            try:
                json.dumps(item, allow_nan=False)
            except ValueError:
                where = f" (argument {name!r})"
                break
    return (
        f"nan and infinity cannot be sent{where}: arguments travel as JSON, which has no such "
        "numbers, and the server's float parameters take finite numbers only; send None, or "
        "a string the function reads itself"
    )
