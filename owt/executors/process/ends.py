"""How a worker process ended, and which calls it can tell ended it.

A worker that dies takes the calls running in it. When owt can tell which call did it, the
others were only beside it and may run again on the replacement (see the executor):

- an adaptor that calls ``os._exit`` names its call and code file first (a ``dying``
  frame);
- a crash (a segfault, an abort) writes Python's fault report (:mod:`faulthandler`) to a
  :class:`CrashReport` file; the adaptor file names in the crashing thread's traceback
  (``<owt:SHA12>``, or a mounted endpoint's path) tell which code crashed.

Calls of the code that ended it are not spared either: they would likely end the next
worker too.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import tempfile

from owt.core.errors import WorkerDied

__all__ = ["CrashReport", "WorkerLost", "describe_exit", "not_started"]

_FILE = re.compile(r'File "([^"]+)"')


class WorkerLost(Exception):
    """The worker process is gone (or never became ready); ``exit_code`` says how it ended."""

    def __init__(
        self,
        message: str,
        exit_code: int | None,
        culprits: frozenset[str] = frozenset(),
        crashed_in: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.culprits = culprits  # the calls the worker named as ending it (os._exit)
        # the code files that ended it: of the crashing thread's traceback, of an os._exit
        self.crashed_in = crashed_in

    def spares(self, call_id: str, filename: str) -> bool:
        """Whether this call (of the adaptor ``filename``) was only beside what ended the
        worker: owt knows what did, and it was not this call nor its code."""
        if call_id in self.culprits or filename in self.crashed_in:
            return False
        return bool(self.culprits or self.crashed_in)

    def error(self) -> WorkerDied:
        return WorkerDied(self.message, exit_code=self.exit_code)


def not_started(python: str, how: OSError | int, advice: str) -> WorkerLost:
    """A worker that never became ready: ``python`` could not be run (``how`` is the
    OSError), or it exited with the code ``how`` first. ``advice`` says what to do."""
    if isinstance(how, OSError):
        missing = " (there is no such file)" if isinstance(how, FileNotFoundError) else ""
        return WorkerLost(
            f"cannot start the interpreter {python}{missing}: {how.strerror or how}; {advice}",
            None,
        )
    return WorkerLost(
        f"{python} exited with code {how} before it was ready: is it a Python >= 3.10 "
        f"interpreter? ({advice}; what it printed, if anything, is in the server's log just "
        "above)",
        how,
    )


def describe_exit(code: int | None) -> str:
    if code is None:
        return "the worker process stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the worker process was killed by {name} during the call"
    return f"the worker process exited with code {code} during the call"


class CrashReport:
    """The file one worker's fault handler writes to (``--fault-fd``), read once it ended.

    The file has no name from the start (an unnamed temporary file): the worker inherits its
    descriptor, so nothing is left behind on disk however either process ends.
    """

    LIMIT = 1024 * 1024  # a fault report is a few KiB: tracebacks of the threads

    def __init__(self) -> None:
        self.fd = _unnamed_file()

    def read(self) -> frozenset[str]:
        """The file names in the crashing thread's traceback (none if it did not crash); the
        report itself goes to the server's log, where the worker's stderr goes."""
        try:
            text = os.pread(self.fd, self.LIMIT, 0).decode(errors="replace")
        except OSError:
            return frozenset()
        finally:
            self.close()
        if not text:
            return frozenset()
        sys.stderr.write(text)
        sys.stderr.flush()
        _, _, current = text.partition("Current thread")
        return frozenset(_FILE.findall(current.split("\n\n", 1)[0]))

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


def _unnamed_file() -> int:
    """A descriptor of a temporary file that never had a name (or lost it at once)."""
    with tempfile.TemporaryFile() as file:
        return os.dup(file.fileno())
