"""What user code raising becomes: an ``adaptor_error`` with the adaptor's own frames."""

from __future__ import annotations

import asyncio
import concurrent.futures
import traceback
from pathlib import Path

from owt.core.errors import AdaptorError

__all__ = [
    "SYNC_USER_ERRORS",
    "USER_ERRORS",
    "adaptor_error",
    "hint",
    "raised_by_adaptor",
    "user_traceback",
]

_OWT_DIR = Path(__file__).parent.parent
#: owt's plumbing around user code: the runner, the pipe DSL's steps, the SSE wrapper, and the
#: futures a ``@batch`` caller waits on. Their frames say nothing about the adaptor (the ready
#: adaptors of owt.lib keep theirs).
_PLUMBING = (
    str(_OWT_DIR / "core"),
    str(_OWT_DIR / "summat"),
    str(_OWT_DIR / "lib" / "stream.py"),
    str(Path(concurrent.futures.__file__).parent),
)


def user_traceback(exc: BaseException) -> str:
    """The traceback without owt's own plumbing frames."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_PLUMBING)
    ]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(lines)


def hint(exc: BaseException) -> str:
    """What to do about an exception whose cause is usually the call's setup, or ""."""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        return (
            f" — the environment that ran the call has no module {top!r}: send "
            f'requirements=["{top}"] (the package that provides it) to have owt install it, '
            "or env=NAME to run in an environment that has it (owt serve --env NAME=PYTHON)"
        )
    return ""


def adaptor_error(exc: BaseException) -> AdaptorError:
    try:
        text = str(exc)
    except Exception:  # its own __str__ fails: the type says what there is to say
        text = "(its message could not be read: its __str__ raised)"
    return AdaptorError(
        f"{type(exc).__name__}: {text}{hint(exc)}",
        type=type(exc).__name__,
        traceback=user_traceback(exc),
    )


#: What user code may raise that must cost one call, not the process. Cancellation
#: (``asyncio.CancelledError``) and ``GeneratorExit`` are deliberately not here: where user
#: code runs on a thread nothing cancels it, so there every ``BaseException`` is the
#: adaptor's (:data:`SYNC_USER_ERRORS`); on a loop, :func:`raised_by_adaptor` tells them apart.
USER_ERRORS = (Exception, SystemExit, KeyboardInterrupt)
SYNC_USER_ERRORS = BaseException


def raised_by_adaptor(exc: BaseException) -> bool:
    """For a ``CancelledError`` or ``GeneratorExit`` out of user code on a loop: True when
    the adaptor raised it itself, False when it is the call being cancelled (owt cancels a
    call's task). Python 3.10 cannot tell: there it is taken for a cancellation."""
    if not isinstance(exc, asyncio.CancelledError):
        return isinstance(exc, GeneratorExit)
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return cancelling is not None and cancelling() == 0
