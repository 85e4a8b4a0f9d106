"""How a worker process sets itself up: its pipes, limits, descriptors and log. Stdlib only,
Python >= 3.10 (see :mod:`owt.core.worker`)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

from owt.core.context import current_request_id
from owt.core.logtext import one_entry

__all__ = [
    "LIMITED_THREAD_STACK",
    "PIPE_BYTES",
    "claim_stdio",
    "close_inherited",
    "die_with_parent",
    "exit_naming_the_call",
    "limit_memory",
    "log_to_stderr",
    "widen_pipe",
    "yield_to_server",
]

#: How much a pipe to or from the server holds, where the system allows (Linux's
#: /proc/sys/fs/pipe-max-size is 1 MiB by default; the default pipe holds 64 KiB).
PIPE_BYTES = 1024 * 1024


def log_to_stderr(log_format: str) -> None:
    """The worker's own log lines on stderr (the server's log): text, or JSON as the
    server's own lines with ``--log-format json``."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(_JsonLines())
    else:
        handler.setFormatter(
            _TextLines("%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
        )
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


class _TextLines(logging.Formatter):
    """A line logged while a call runs starts with ``[REQUEST_ID]``, as the server's do; an
    entry stays one entry (:func:`one_entry`)."""

    def format(self, record: logging.LogRecord) -> str:
        return one_entry(super().format(record))

    def formatMessage(self, record: logging.LogRecord) -> str:
        request_id = current_request_id()
        if request_id != "-":
            record.message = f"[{request_id}] {record.message}"
        return super().formatMessage(record)


def claim_stdio() -> tuple[int, int]:
    """Keep the pipes for frames; fd 0 reads nothing, fd 1 writes to stderr."""
    fd_in, fd_out = os.dup(0), os.dup(1)
    for fd in (fd_in, fd_out):
        widen_pipe(fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return fd_in, fd_out


class _JsonLines(logging.Formatter):
    """One JSON object per line, the fields of the server's own JSON lines and the pid."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id != "-":
            data["request_id"] = request_id
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def close_inherited(*keep: int) -> None:
    """Close every descriptor above stdio but the frame pipes: what the server's own parent
    left open and inheritable (a shell's) is no business of adaptors."""
    bound = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 4096
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, max(low, bound))


def widen_pipe(fd: int) -> None:
    """Linux: let a pipe hold :data:`PIPE_BYTES`, so a big result or chunk crosses in one
    write rather than 64 KiB at a time, each waiting for the server to wake and read."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):  # not Linux, or over pipe-max-size
        pass


def yield_to_server() -> None:
    """Linux: run this worker (and the threads and processes it starts) under
    ``SCHED_BATCH``, so that its wake-ups do not preempt the server's event loop; the
    server's wake-ups still preempt the worker. Each frame the server writes wakes a worker
    thread, which, woken on the server's core, took that core mid-``write()`` (25–33 µs of
    the loop's time per write on average, 2.5–3 µs without). A worker busy with a model
    gets its fair share of the CPU as before."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux, or not allowed here
        pass


_M_ARENA_MAX = -8  # glibc's mallopt() parameter

#: A thread's stack under ``--worker-max-memory`` (else the system's, often 8 MiB): the
#: limit counts address space, and ~20 threads' stacks would take half of a 300 MB one.
#: Python's default recursion limit needs well under 1 MiB of it.
LIMITED_THREAD_STACK = 4 * 1024 * 1024


def limit_memory(limit: int) -> None:
    """``--worker-max-memory``: cap the address space (RLIMIT_AS), and reserve little of it
    for owt's own threads, so that the limit is the adaptor's: one malloc arena for all
    threads (glibc reserves 64 MiB of address space for each arena it adds, one per thread
    that allocates, up to 8 per core) and :data:`LIMITED_THREAD_STACK` per thread. Call it
    before any thread starts."""
    import resource

    threading.stack_size(LIMITED_THREAD_STACK)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 1)  # glibc; a no-op elsewhere
        except (OSError, AttributeError):
            pass
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this worker if the server dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if parent and os.getppid() != parent:  # the server died before we asked
        os._exit(1)


def exit_naming_the_call(
    exit: Callable[[int], NoReturn],
    call_here: Callable[[], tuple[str, str] | None],
    send: Callable[[tuple[Any, ...]], None],
    process: str = "worker",
) -> Callable[[int], NoReturn]:
    """``os._exit`` for adaptors: the server first hears which call (and code file) ended
    the process, and its exit code — ``("dying", message, call_id, code_file, code)`` — so it
    can run the calls of other code that were beside it again. Not in a forked child
    (``multiprocessing`` ends its children with ``os._exit``)."""
    pid = os.getpid()

    def _exit(code: int) -> NoReturn:
        culprit = call_here() if os.getpid() == pid else None
        if culprit is not None:
            with contextlib.suppress(Exception):
                message = f"the adaptor called os._exit({code}), ending its {process}"
                send(("dying", message, *culprit, code))
        exit(code)

    return _exit
