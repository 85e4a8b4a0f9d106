"""A requirements build's progress before a call's result (``X-Owt-Progress: 1``), read and shown.

The server sends ``progress`` events while it builds the environment a call's
``requirements`` ask for, then ``result`` (the call's status and content type) and the call's
own body, or ``error`` (owt.server.progress). No I/O here: the clients feed the bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from owt.client.wire import OwtError

__all__ = ["ProgressLine", "ProgressReader", "step_text"]


class ProgressReader:
    """The head of a response marked ``X-Owt-Progress: 1``: the build's ``progress`` events,
    then ``result`` (the call's status and content type) or ``error`` (its JSON error).

    Feed it the body's bytes until ``head`` or ``error`` is set; ``rest`` holds the bytes
    after the ``result`` event, the start of the call's own body.
    """

    def __init__(self, on_progress: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.on_progress = on_progress
        self.head: dict[str, Any] | None = None
        self.error: OwtError | None = None
        self.rest = b""
        self._buffer = b""
        self._name = "message"
        self._data: list[str] = []

    @property
    def finished(self) -> bool:
        return self.head is not None or self.error is not None

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        while not self.finished and b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            self._line(line.decode("utf-8", "replace").rstrip("\r"))
        if self.finished:
            self.rest, self._buffer = self._buffer, b""

    def end(self) -> None:
        """The body ended: without a result, that is the server's failure."""
        if not self.finished:
            self.error = OwtError(
                502, {"error": "http_error", "message": "the call ended before its result"}
            )

    def _line(self, line: str) -> None:
        if line.startswith("event:"):
            self._name = line[6:].strip()
        elif line.startswith("data:"):
            self._data.append(line[5:].removeprefix(" "))
        elif not line and self._data:
            try:
                data = json.loads("\n".join(self._data))
            except ValueError:
                data = {}
            name, self._name, self._data = self._name, "message", []
            if not isinstance(data, dict):
                return
            if name == "progress" and self.on_progress is not None:
                self.on_progress(data)
            elif name == "result":
                self.head = data
            elif name == "error":
                self.error = OwtError(int(data.pop("status", 500)), data)


def step_text(event: Mapping[str, Any]) -> str:
    """A progress event's phase and detail in words, the phase said once: a detail that
    starts with it (``creating the virtualenv``, uv's ``Downloading torch (800.0MiB)``) is
    the step itself; any other is the phase's detail, in brackets.

    >>> step_text({"phase": "downloading", "detail": "Downloading torch (800.0MiB)"})
    'downloading torch (800.0MiB)'
    >>> step_text({"phase": "resolving", "detail": "numpy==2.1"})
    'resolving (numpy==2.1)'
    """
    phase, detail = str(event.get("phase") or ""), str(event.get("detail") or "").strip()
    first, _, rest = detail.partition(" ")
    if first.lower() == phase.lower():
        return f"{phase} {rest}".strip()
    return f"{phase} ({detail})" if detail else phase


class ProgressLine:
    """Shows a build's progress events as one line on a terminal (``stream``: stderr).

    ``owt: building the environment: downloading torch (800.0MiB) 12.4s``
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.shown = False
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._phase: Any = None

    def __call__(self, event: Mapping[str, Any]) -> None:
        text = f"owt: building the environment: {step_text(event)}"
        text = f"{text[:100]} {event.get('elapsed', 0)}s"
        if event.get("total_mb"):
            text += f" ({event.get('downloaded_mb', 0)} of {event['total_mb']} MB)"
        if self.tty:
            self.stream.write("\r\x1b[K" + text)
        elif event.get("phase") != self._phase:  # a log gets a line per phase, not per second
            self.stream.write(text + "\n")
        self._phase = event.get("phase")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown and self.tty:
            self.stream.write("\n")
            self.stream.flush()
        self.shown = False
