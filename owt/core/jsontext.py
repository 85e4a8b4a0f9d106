"""JSON text as every client can parse it (RFC 8259). Stdlib only.

Python's ``json.dumps`` writes ``NaN``, ``Infinity`` and ``-Infinity``, which are not JSON:
``JSON.parse``, Go's ``encoding/json`` and Haskell's aeson reject the whole body. owt writes
them as ``null``, as ``JSON.stringify`` does (a non-finite float key becomes the string
``"NaN"``, ``"Infinity"`` or ``"-Infinity"``, also as in JavaScript). Every JSON body owt
writes — results, NDJSON lines, ``sse()`` data, errors — goes through :func:`dumps`, and
:func:`dump_bytes` makes it UTF-8: a lone surrogate in a string (text decoded with
``errors="surrogateescape"``, or a ``"\\ud800"`` a caller sent) is written as its JSON escape,
which UTF-8 cannot hold raw, so an error naming such text is still a JSON error.

>>> dumps({"score": float("nan"), "hi": float("inf"), "ok": 1.5})
'{"score": null, "hi": null, "ok": 1.5}'
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

__all__ = ["dump_bytes", "dumps"]


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """``json.dumps`` that never writes a non-finite float (see the module's docstring)."""
    try:
        return json.dumps(value, default=default, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        if "Out of range float" not in str(exc):
            raise
    # The rare value with a NaN or an infinity: rebuilt with null in their place.
    finite = _finite(value, default)
    return json.dumps(finite, default=default, ensure_ascii=False, allow_nan=False)


def dump_bytes(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """:func:`dumps` as UTF-8, a lone surrogate written as its ``\\uXXXX`` escape."""
    text = dumps(value, default)
    try:
        return text.encode()
    except UnicodeEncodeError:  # only inside a JSON string: its escape is the same value
        return text.encode("utf-8", "backslashreplace")


def _finite(value: Any, default: Callable[[Any], Any] | None) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, type(None))):
        return value
    if isinstance(value, dict):
        return {_key(k): _finite(v, default) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v, default) for v in value]
    if default is None:
        return value
    try:
        converted = default(value)
    except TypeError:
        return value  # json.dumps says what it cannot encode
    return _finite(converted, default)


def _key(key: Any) -> Any:
    if isinstance(key, float) and not math.isfinite(key):
        return "NaN" if key != key else ("Infinity" if key > 0 else "-Infinity")
    return key
