"""Writing log lines: :class:`BatchingHandler` writes the server's lines from a thread of its
own, in batches."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import IO

__all__ = ["BatchingHandler"]


class BatchingHandler(logging.Handler):
    """Formats on the caller's thread, writes from its own: at most every ``interval`` s.

    Busy servers write hundreds of lines per write; an idle one writes a line within
    ``interval``. ``flush()`` (and ``close()``, at exit) writes whatever is pending.
    """

    def __init__(self, stream: IO[str] | None = None, interval: float = 0.05) -> None:
        super().__init__()
        self.stream = stream or sys.stderr
        self.interval = interval
        self._pending: list[str] = []
        self._wake = threading.Event()
        self._closed = False
        self._writer = threading.Thread(target=self._run, name="owt-log", daemon=True)
        self._writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.write_line(line)

    def write_line(self, line: str) -> None:
        """Queue a formatted line (the access log's own lines come here directly)."""
        with self.lock:  # type: ignore[union-attr]
            self._pending.append(line)
            first = len(self._pending) == 1
        if first:
            self._wake.set()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait()
            time.sleep(self.interval)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            self.stream.write("\n".join(pending) + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # the stream is gone (shutdown): nothing to do
            pass

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self.flush()
        super().close()
