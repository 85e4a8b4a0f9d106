"""What a response means, without any I/O: its result decoded by content type, or its error.

>>> decode_body("application/json", b'{"n": 1}')
{'n': 1}
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from owt.client.errors import OwtError, bad_result, redirected

__all__ = [
    "decode_body",
    "error_for",
    "is_text",
    "is_unknown_code",
    "keeps_code",
    "media_type",
]


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_text(content_type: str | None) -> bool:
    """Whether a body of this type is text (``str`` chunks) rather than bytes."""
    media = media_type(content_type)
    return (
        media.startswith("text/")
        or media in ("application/json", "application/x-ndjson", "application/xml")
        or media.endswith(("+json", "+xml"))
    )


def _charset(content_type: str | None) -> str:
    """The body's charset; UTF-8 when it names none, or one Python does not know."""
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            try:
                return codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                break
    return "utf-8"


def decode_body(content_type: str | None, content: bytes, *, status: int = 200) -> Any:
    """A result by its content type: JSON decoded, NDJSON as a list, text as ``str``, an
    empty untyped body as ``None``, anything else as ``bytes``.

    A body that is not the JSON its content type says raises :class:`OwtError` of kind
    ``bad_result`` (with ``status``, the response's)."""
    media = media_type(content_type)
    if not media:
        return content or None
    try:
        if media == "application/json" or media.endswith("+json"):
            return json.loads(content) if content.strip() else None
        if media == "application/x-ndjson":
            return [json.loads(line) for line in content.splitlines() if line.strip()]
    except ValueError as exc:  # not JSON, or not UTF-8
        raise bad_result(status, content_type, exc) from None
    if is_text(content_type):
        return content.decode(_charset(content_type), "replace")
    return content


def error_for(
    status: int, content_type: str | None, content: bytes, location: str | None = None
) -> OwtError:
    """The ``OwtError`` for an error response, or a redirect (``location``: where to)."""
    if 300 <= status < 400:
        return redirected(status, location)
    payload: dict[str, Any] | None = None
    if "json" in media_type(content_type) or content.lstrip()[:1] == b"{":
        try:
            parsed = json.loads(content)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            payload = parsed
    if payload is None:
        text = content.decode(_charset(content_type), "replace").strip()
        payload = {"error": "http_error", "message": text[:2000] or f"HTTP {status}"}
    return OwtError(status, payload)


def is_unknown_code(status: int, content: bytes) -> bool:
    """The server does not hold the code whose hash was sent: send the code itself."""
    if status != 404:
        return False
    try:
        payload = json.loads(content)
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("error") == "unknown_code"


def keeps_code(status: int) -> bool:
    """Whether the server holds the code after answering with ``status``.

    It stores code once the call is resolved, so also after compile and runtime errors;
    errors before that (bad request, auth, size, busy) may leave it without.
    """
    return status < 400 or status in (422, 424, 500, 502, 504)
