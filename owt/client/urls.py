"""The URLs the client sends: a server's address, and a query that fits in one.

A server's address without a scheme (``127.0.0.1:9876``) is plain HTTP, for the clients and
``owt call`` alike. A query longer than ``httpx`` sends (:data:`MAX_QUERY` characters: a GET
call's code and arguments, an upload's) is an :class:`OwtError` of kind ``too_long_for_url``
saying what to send instead, raised before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from owt.client.errors import OwtError

__all__ = ["MAX_QUERY", "checked_query", "get_too_long", "server_url"]

#: The longest query ``httpx`` sends (its limit on one component of a URL).
MAX_QUERY = 65536


def server_url(url: str) -> str:
    """The address of an owt server as a URL: ``http://`` added when it names no scheme
    (``localhost:9876``); one of another scheme is a ``ValueError``."""
    text = url.strip()
    full = text if "://" in text else f"http://{text}"
    try:
        parts = urlsplit(full)
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a server's URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{url!r} is not an http:// or https:// URL (owt serves HTTP: "
            "http://127.0.0.1:9876, or host:port)"
        )
    return full


def checked_query(
    path: str, params: Mapping[str, Any], too_long: Callable[[int], str], *, via: str = "GET"
) -> Mapping[str, Any]:
    """``params``, when ``path`` with them as its query is a URL httpx sends; else an
    ``OwtError`` ``too_long_for_url`` whose message is ``too_long(length of the query)`` and
    whose ``payload["via"]`` is ``via`` (``GET``, ``upload``)."""
    try:
        httpx.URL(path).copy_merge_params(dict(params))
    except httpx.InvalidURL:
        length = len(str(httpx.QueryParams(dict(params)))) + len(urlsplit(path).query)
        message = too_long(length)
        payload = {"error": "too_long_for_url", "message": message, "length": length, "via": via}
        raise OwtError(0, payload)
    return params


def get_too_long(params: Mapping[str, Any]) -> Callable[[int], str]:
    """What to do when a GET call is too long for a URL: send it as a POST."""

    def message(length: int) -> str:
        code = len(str(params.get("code_b64") or ""))
        what = "code and arguments" if code else "arguments"
        share = f" (its code {code} of them)" if code else ""
        return (
            f"a GET call carries its {what} in the URL, and this one's query is {length} "
            f"characters{share}, more than the {MAX_QUERY} httpx sends: send it as a POST "
            '(leave out method="GET"), whose body carries them'
        )

    return message
