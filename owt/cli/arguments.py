"""What the client commands take from the shell: arguments, checked, and Ctrl-C.

``NAME=text``, ``NAME:=json`` (strict: no NaN or infinity), ``NAME=@path`` (the file's
bytes), ``NAME=@@text`` (the text ``@text``); seconds that a clock can wait; text that can
travel in a request (UTF-8, or printable ASCII for a header). Ctrl-C ends a command with the
status a shell expects of it (130).
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

__all__ = ["HEADER_TEXT", "SECONDS", "TEXT", "checked_text", "interruptible", "parse_arguments"]


def parse_arguments(items: tuple[str, ...]) -> dict[str, Any]:
    """``name=owt`` → ``{"name": "owt"}``; ``n:=3`` → ``{"n": 3}`` (the value is JSON);
    ``image=@cat.png`` → the file's bytes (an open in-memory file named ``cat.png``)."""
    kwargs: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        is_path = value.startswith("@") and not value.startswith("@@")
        try:  # a file's path is the file system's, whatever its bytes
            checked_text(name if is_path else item)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="ARGS")
        if not sep or not name or name == ":":
            raise click.BadParameter(f"{item!r} is not NAME=text or NAME:=json", param_hint="ARGS")
        if name.endswith(":"):
            name = name[:-1]
            try:
                kwargs[name] = _strict_json(value)
            except ValueError as exc:
                raise click.BadParameter(f"{item!r}: the value is not JSON ({exc})")
        elif value.startswith("@@"):
            kwargs[name] = value[1:]
        elif value.startswith("@"):
            kwargs[name] = _file_argument(value[1:], item)
        else:
            kwargs[name] = value
    return kwargs


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name}: JSON has no NaN or infinity")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999: too large for a float, it would be inf
        raise ValueError(f"{text} is too large for a number JSON can carry")
    return number


def _strict_json(text: str) -> Any:
    """JSON as it is sent: Python's ``json`` reads ``NaN`` and ``Infinity`` (and ``1e999`` as
    infinity), which no JSON reader takes back; refused here, where the argument is named."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)


class _Seconds(click.ParamType):
    """A positive, finite number of seconds (``float`` takes ``nan`` and ``inf``, which no
    clock waits for)."""

    name = "seconds"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds <= 0:
            self.fail(f"{value!r} is not a positive, finite number of seconds", param, ctx)
        return seconds


SECONDS = _Seconds()


class _Text(click.ParamType):
    """Text that can travel: UTF-8 (a shell hands Python bytes that are not as lone
    surrogates, which no request can carry), or printable ASCII for an HTTP header."""

    name = "text"

    def __init__(self, header: bool = False) -> None:
        self.header = header

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        try:
            return checked_text(str(value), header=self.header)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def checked_text(value: str, *, header: bool = False) -> str:
    if header and not (value.isascii() and value.isprintable()):
        raise ValueError(f"{value!r} is not printable ASCII, which an HTTP header needs")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{value!r} is not UTF-8 text") from None
    return value


TEXT = _Text()
HEADER_TEXT = _Text(header=True)


def _file_argument(path: str, item: str) -> io.BytesIO:
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"{item!r}: cannot read {path}: {exc.strerror}")
    part = io.BytesIO(data)
    # The part's file name: a name the file system holds in bytes that are not UTF-8 is sent
    # with those bytes replaced (a multipart header is text).
    name = os.fsencode(os.path.basename(path)).decode("utf-8", "replace")
    part.name = name
    return part


def interruptible(fn: Callable[..., None]) -> Callable[..., None]:
    """Ctrl-C ends a client command with the shell's status for it, 130 (click would print
    ``Aborted!`` and exit 1, which reads as the call's failure)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except KeyboardInterrupt:
            sys.exit(130)

    return run
