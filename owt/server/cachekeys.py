"""What a call is cached under (SPEC §5).

A call with ``use_cache`` is keyed by ``cache_key_override``, else its path, plus its
arguments as canonical JSON when ``cache_kwargs`` is set (so ``{"a":1,"b":2}`` and
``{'b': 2, 'a': 1}`` share an entry)::

    /hello                            use_cache
    /hello?{"a":1,"b":2}              use_cache + cache_kwargs
    my-key?{"a":1,"b":2}              ... + cache_key_override=my-key
    /hello?{}|expr:dict(a=1)          arguments only known where the call runs: their text
    /hello|npy                        a caller whose Accept prefers .npy arrays to JSON

The path or chosen key has its ``%``, ``?`` and ``|`` escaped (``/a%3Fb``), so no path can
spell another key's arguments or suffix. A reconnecting ``EventSource`` (``Last-Event-ID``)
is not cached: its answer may be the rest of a stream (:func:`owt.lib.stream.last_event_id`),
which must neither be stored as the whole nor answered by a replay of the whole.
"""

from __future__ import annotations

import json
from typing import Any

from owt.core.arrays import accepts_npy
from owt.core.call import Call

__all__ = ["NPY_KEY", "cache_key", "canonical_json", "key_base"]

NPY_KEY = "|npy"  # after the base of a caller's key that prefers .npy arrays (Accept)


def cache_key(call: Call) -> str | None:
    """The key a call is cached under, or None when it does not ask for the cache."""
    options = call.options
    if not options.get("use_cache") or call.request.headers.get("last-event-id", "").strip():
        return None
    base = key_base(str(options.get("cache_key_override") or call.request.path))
    if accepts_npy(call.request.headers.get("accept", "")):
        base += NPY_KEY  # an array's answer differs: .npy here, JSON to other callers
    if not options.get("cache_kwargs"):
        return base
    key = f"{base}?{canonical_json(call.kwargs)}"
    if call.kwargs_expr is not None:
        # Evaluated only where the call runs; its text stands in for the values.
        key += f"|expr:{call.kwargs_expr.strip()}"
    return key


def key_base(text: str) -> str:
    """A path or chosen key, its ``%``, ``?`` and ``|`` escaped: what a key appends after it
    (``?ARGUMENTS``, ``|npy``) can then never be spelled by a path to plant an answer there."""
    if "%" in text or "?" in text or "|" in text:
        return text.replace("%", "%25").replace("?", "%3F").replace("|", "%7C")
    return text


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no spaces; values JSON cannot hold go by ``repr``."""
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
        )
    except (TypeError, ValueError):  # mixed-type dict keys, circular values
        return repr(value)


def _plain(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return repr(value)
