"""The errors the Python client raises: the server's JSON errors and the client's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ClientTimeout",
    "ConnectionFailed",
    "NotEventStream",
    "OwtError",
    "StreamFailed",
    "bad_result",
    "redirected",
]


class OwtError(Exception):
    """An error response: ``status`` (HTTP), ``kind`` (SPEC §8, e.g. ``adaptor_error``),
    ``message`` and the whole JSON ``payload`` (``traceback``, ``field``, ...).

    A non-owt error response (a proxy's 502 page, an adaptor's own ``("no", 404)``) has the
    kind ``http_error`` and its text as the message.
    """

    def __init__(self, status: int, payload: Mapping[str, Any]) -> None:
        self.status = status
        self.payload = dict(payload)
        self.kind = str(self.payload.get("error") or "http_error")
        self.message = str(self.payload.get("message") or "")
        # Status 0: the client's own failure, no HTTP status to show.
        super().__init__(
            f"{self.kind} ({status}): {self.message}" if status else f"{self.kind}: {self.message}"
        )

    @property
    def traceback(self) -> str | None:
        """The adaptor's traceback, when the server sent one."""
        value = self.payload.get("traceback")
        return value if isinstance(value, str) else None


class ConnectionFailed(OwtError):
    """The server could not be reached (kind ``connection_failed``, status 0), or closed the
    connection before it answered (kind ``connection_lost``)."""

    def __init__(self, message: str, kind: str = "connection_failed") -> None:
        super().__init__(0, {"error": kind, "message": message})


class ClientTimeout(OwtError):
    """No answer within the client's own ``timeout`` (kind ``client_timeout``, status 0;
    ``payload["timeout"]`` is that timeout)."""

    def __init__(self, message: str, timeout: float | None = None) -> None:
        super().__init__(0, {"error": "client_timeout", "message": message, "timeout": timeout})


class NotEventStream(OwtError):
    """``events()`` on a call that answered something else than server-sent events (kind
    ``not_event_stream``, the response's status; ``payload["content_type"]`` is what it
    answered): its body has no events to give, so it is not read — call the adaptor for it."""

    def __init__(self, status: int, content_type: str | None) -> None:
        what = content_type or "none"
        message = (
            f"the answer is not an event stream (its content type is {what}, not "
            "text/event-stream): call it for its result, or stream it for its chunks"
        )
        payload = {"error": "not_event_stream", "message": message, "content_type": content_type}
        super().__init__(status, payload)


class StreamFailed(OwtError):
    """A response that started well and then failed: an SSE stream sent ``event: error``, or
    the body was cut short. The kind is the server's (``adaptor_error`` with its
    ``traceback``, ``timeout``) when it said one; else ``stream_failed`` when the server still
    answers (it ended the call itself: its log has why, under ``payload["request_id"]``), or
    ``connection_lost`` when it no longer does (it stopped, or the network failed)."""


def bad_result(status: int, content_type: str | None, exc: Exception) -> OwtError:
    """A body that is not what its content type says (``{bad`` as ``application/json``)."""
    media = (content_type or "").split(";", 1)[0].strip()
    message = (
        f"the result is not valid JSON, though its content type is {media} ({exc}): the "
        "adaptor returned text under that content type; return the value itself (owt encodes "
        "it as JSON), or the text as text/plain"
    )
    return OwtError(status, {"error": "bad_result", "message": message})


def redirected(status: int, location: str | None) -> OwtError:
    """A redirect, which owt's clients do not follow: a call answers with its own result."""
    where = f"to {location}" if location else "without a Location"
    message = (
        f"the call answered {status}, a redirect {where}, which the client does not follow: "
        "request that URL yourself, or have the adaptor return the result itself"
    )
    return OwtError(status, {"error": "redirect", "message": message, "location": location})
