"""The errors the Python client raises: the server's JSON errors and the client's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ClientTimeout", "ConnectionFailed", "NotEventStream", "OwtError", "StreamFailed"]


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
    """The server could not be reached (kind ``connection_failed``, status 0)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, {"error": "connection_failed", "message": message})


class ClientTimeout(OwtError):
    """No answer within the client's own ``timeout`` (kind ``client_timeout``, status 0)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, {"error": "client_timeout", "message": message})


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
    """A response that started well and then failed: the server cut the body short, or an
    SSE stream sent ``event: error``. The kind is the server's (``adaptor_error``, with its
    ``traceback``) when it said one, else ``stream_failed``."""
