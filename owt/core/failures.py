"""What user code raising becomes: an ``adaptor_error`` with the adaptor's own frames."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import traceback
from pathlib import Path

from owt.core.errors import AdaptorError, OwtError
from owt.core.libs import FOLDERS
from owt.core.scalars import short_repr

__all__ = [
    "SYNC_USER_ERRORS",
    "TRACEBACK_FRAMES",
    "USER_ERRORS",
    "adaptor_error",
    "hint",
    "name_step",
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


#: Frames a traceback shows at most: a deeper one (a recursion under a raised recursion
#: limit) shows its first and last halves. Reading a million frames' lines took 45 s.
TRACEBACK_FRAMES = 200


def user_traceback(exc: BaseException) -> str:
    """The traceback without owt's own plumbing frames (at most :data:`TRACEBACK_FRAMES`)."""
    tb = exc.__traceback__
    depth = sum(1 for _ in traceback.walk_tb(tb))  # cheap: no source lines read
    lines = ["Traceback (most recent call last):\n"]
    if depth <= TRACEBACK_FRAMES:
        lines += _format(traceback.extract_tb(tb))
    else:
        half = TRACEBACK_FRAMES // 2
        last = tb
        for _ in range(depth - half):
            assert last is not None
            last = last.tb_next
        lines += _format(traceback.extract_tb(tb, limit=half))
        lines.append(f"  ... {depth - 2 * half} frames left out ...\n")
        lines += _format(traceback.extract_tb(last))
    lines.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(lines)


def _format(frames: traceback.StackSummary) -> list[str]:
    """The frames that are the adaptor's: not owt's plumbing, nor the standard library's
    where owt's plumbing called it (``subprocess`` under ``shell()``, ``json`` under the
    encoder); the standard library the adaptor's own code called stays."""
    kept = []
    called_by_adaptor = False
    for frame in frames:
        if frame.filename.startswith(_PLUMBING):
            called_by_adaptor = False
        elif not _in_stdlib(frame.filename):
            called_by_adaptor = True
            kept.append(frame)
        elif called_by_adaptor:
            kept.append(frame)
    return traceback.format_list(kept)


_STDLIB = os.path.dirname(os.__file__) + os.sep


def _in_stdlib(filename: str) -> bool:
    if filename.startswith("<frozen "):  # importlib's bootstrap, frozen into the interpreter
        return True
    return filename.startswith(_STDLIB) and "-packages" not in filename


def hint(exc: BaseException) -> str:
    """What to do about an exception whose cause is usually the call's setup, or ""."""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        wrapper = (
            f"; a wrapper of the --lib folders ({', '.join(FOLDERS)}) must be there as "
            f"{top}.py or {top}/__init__.py"
            if FOLDERS
            else ""
        )
        return (
            f" — the environment that ran the call has no module {top!r}: send "
            f'requirements=["{top}"] (the package that provides it) to have owt install it, '
            "or env=NAME to run in an environment that has it (owt serve --env NAME=PYTHON)"
            + wrapper
        )
    return ""


#: Where :func:`name_step` keeps the pipe step an exception came out of.
_STEP = "_owt_step"


def name_step(exc: BaseException, step: object) -> None:
    """Note that ``exc`` came out of the pipe step ``step`` (shown by its ``repr``, such as
    ``map(str.upper)``), so that its ``adaptor_error`` names it. The innermost step wins: a
    step of a nested pipe names itself before the step that holds the pipe. owt's own
    errors say what they are already.
    """
    if isinstance(exc, OwtError) or getattr(exc, _STEP, None) is not None:
        return
    shown = short_repr(step)
    try:
        setattr(exc, _STEP, shown)
    except (AttributeError, TypeError):  # an exception type that takes no attributes
        return
    add_note = getattr(exc, "add_note", None)
    if add_note is not None:  # Python 3.11+: the traceback (and a REPL) shows it too
        add_note(f"(in the pipe's step {shown})")


def adaptor_error(exc: BaseException) -> AdaptorError:
    try:
        text = str(exc)
    except Exception:  # its own __str__ fails: the type says what there is to say
        text = "(its message could not be read: its __str__ raised)"
    step = getattr(exc, _STEP, None)
    # "map(str.upper): TypeError: ...", unless the message names its step already ("ix(5): ...").
    named = f"{step}: " if isinstance(step, str) and not text.startswith(_called(step)) else ""
    return AdaptorError(
        f"{named}{type(exc).__name__}: {text}{hint(exc)}",
        type=type(exc).__name__,
        traceback=user_traceback(exc),
    )


def _called(step: str) -> str:
    return step.partition("(")[0] + "("


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
