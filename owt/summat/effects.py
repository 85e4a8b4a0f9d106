"""Effects: steps that touch the machine — files, modules, packages, processes.

Each one is guarded the way a user would expect of a server: ``open`` stays inside its
``root_dir``, ``installing`` needs a server started with ``--allow-install``, and ``shell``
fails loudly with the command's stderr.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import re
import stat
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any, TypeVar

from owt.core.context import current_call
from owt.core.errors import Forbidden, NoFile
from owt.summat.step import Context, Step

__all__ = [
    "Importing",
    "Installing",
    "Open",
    "Shell",
    "ShellError",
    "read_under",
    "resolve_under",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_IMPORT_SPEC = re.compile(r"\s*([A-Za-z_][\w.]*)(?:\s+as\s+([A-Za-z_]\w*))?\s*")
_BARE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class Open(Step[Any, Any]):
    """``open(root_dir="example")``: the bytes of the file the value names, under ``root_dir``.

    The value is a relative path (str or ``os.PathLike``) or a list of segments (what
    ``path()`` gives). With ``encoding=`` the text is decoded to str. A path that leaves
    ``root_dir`` — by ``..``, by being absolute, or through a symlink, even one swapped in
    while it is opened — is refused with 403 ``forbidden`` (a ``PermissionError``); a missing
    file is 404 ``not_found``. Neither names a path of the server.
    """

    name = "open"

    def __init__(self, root_dir: str | os.PathLike[str] = ".", encoding: str | None = None) -> None:
        self.root_dir = root_dir
        self.encoding = encoding
        self.args = (root_dir,) if encoding is None else (root_dir, encoding)

    def run(self, last: Any, ctx: Context) -> bytes | str:
        data = read_under(self.root_dir, last)
        return data if self.encoding is None else data.decode(self.encoding)

    def __repr__(self) -> str:
        extra = "" if self.encoding is None else f", encoding={self.encoding!r}"
        return f"open(root_dir={os.fspath(self.root_dir)!r}{extra})"


def read_under(root_dir: str | os.PathLike[str], name: Any) -> bytes:
    """The bytes of the regular file ``name`` inside ``root_dir``.

    The path is resolved first (:func:`resolve_under`), then opened as asked, then the
    *opened* file's own path (``/proc/self/fd``) is checked to be inside the root again: a
    symlink swapped in between the two steps cannot lead the read outside. Refusals are 403
    ``forbidden`` (also a ``PermissionError``) and 404 ``not_found``, naming only the
    relative path asked for.
    """
    target = resolve_under(root_dir, name)
    root = os.path.realpath(root_dir)
    asked = _relative(name)
    # Opened by the path as asked, not the resolved one, so the kernel's own rules apply:
    # ``in.txt/`` or ``in.txt/../in.txt`` name no file (realpath would drop the slash).
    try:
        fd = os.open(
            os.path.join(root, asked), os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        )
    except (FileNotFoundError, NotADirectoryError):
        raise NoFile(f"open(): no file {asked!r} under root_dir")
    except OSError as exc:
        raise Forbidden(f"open(): {asked!r} cannot be read ({exc.strerror})")
    try:
        opened = _opened_path(fd, target)
        if opened is None or not _inside(root, opened):
            raise Forbidden(f"open(): {asked!r} is outside root_dir (refused)")
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NoFile(f"open(): {asked!r} is not a file under root_dir")
        file = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with file:
        return file.read()


def _opened_path(fd: int, target: str) -> str | None:
    """Where the open file ``fd`` is, as the kernel sees it (None: it was removed)."""
    try:
        path = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc: the path it was opened by, if it is still that file
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(target))
        except OSError:
            return None
        return os.path.realpath(target) if same else None
    return None if path.endswith(" (deleted)") else path


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _relative(name: Any) -> str:
    if isinstance(name, (list, tuple)):
        return "/".join(str(part) for part in name)
    return os.fspath(name) if isinstance(name, (str, os.PathLike)) else repr(name)


def resolve_under(root_dir: str | os.PathLike[str], name: Any) -> str:
    """The real path of ``name`` inside ``root_dir``; ``Forbidden`` (a ``PermissionError``)
    if it leaves it. Its refusals name the relative path only, never the server's."""
    if isinstance(name, (list, tuple)):
        if not all(isinstance(part, str) for part in name):
            raise TypeError(f"open(): path segments must be str, got {name!r}")
        relative = "/".join(name)
    elif isinstance(name, (str, os.PathLike)):
        relative = os.fspath(name)
    else:
        raise TypeError(f"open(): expected a path or a list of segments, got {type(name).__name__}")
    if not relative or "\x00" in relative:  # a caller's bad path, like a missing file
        raise NoFile(f"open(): no file {relative!r} under root_dir")
    if os.path.isabs(relative) or os.path.splitdrive(relative)[0]:
        raise Forbidden("open(): absolute paths are refused; give a path relative to root_dir")
    root = os.path.realpath(root_dir)
    try:
        target = os.path.realpath(os.path.join(root, relative))
    except OSError:  # a link that vanished or changed kind while it was being read
        raise NoFile(f"open(): no file {relative!r} under root_dir")
    if not _inside(root, target):
        raise Forbidden(f"open(): {relative!r} is outside root_dir (refused)")
    return target


class Importing(Step[T, T]):
    """``importing("numpy as np", "json")``: import modules for the steps that follow.

    Each module is bound like an ``import`` statement binds it (``"os.path"`` binds ``os``,
    ``"os.path as osp"`` binds ``osp``) and becomes visible to later functions twice: as a
    global of a ``def``/``lambda`` (added only where the function's module has no such name)
    and as a required parameter of that name. The value passes through.
    """

    name = "importing"

    def __init__(self, *modules: str) -> None:
        specs = []
        for spec in modules:
            match = _IMPORT_SPEC.fullmatch(spec) if isinstance(spec, str) else None
            if match is None:
                raise ValueError(
                    f"importing(): expected 'module' or 'module as name', got {spec!r}"
                )
            specs.append((match[1], match[2]))
        self.specs = tuple(specs)
        self.args = modules

    def run(self, last: T, ctx: Context) -> T:
        for module, alias in self.specs:
            loaded = importlib.import_module(module)
            if alias is None:
                alias = module.partition(".")[0]
                loaded = sys.modules[alias]
            ctx.modules[alias] = loaded
            ctx.names[alias] = loaded
        return last


class Installing(Step[T, T]):
    """``installing("soundfile==0.12.1")``: pip-install into the running environment.

    Refused with ``PermissionError`` unless the server was started with
    ``--allow-install``. A bare name that is already installed is skipped; a set installed
    once is not installed again by the same pipe. The value passes through.
    """

    name = "installing"
    _lock = threading.Lock()  # one pip at a time per process: pip is not safe in parallel

    def __init__(self, *packages: str) -> None:
        for spec in packages:
            if not isinstance(spec, str) or not spec.strip() or spec.lstrip().startswith("-"):
                raise ValueError(f"installing(): expected a requirement string, got {spec!r}")
        self.packages = packages
        self.args = packages
        self._done = False

    def run(self, last: T, ctx: Context) -> T:
        call = current_call()
        if call is None or not (call.server or {}).get("allow_install"):
            raise PermissionError(
                f"installing({', '.join(map(repr, self.packages))}) is refused: "
                "start owt with --allow-install to let pipes install packages"
            )
        if self._done:
            return last
        with self._lock:
            missing = [spec for spec in self.packages if not _installed(spec)]
            if missing:
                _pip_install(missing)
                importlib.invalidate_caches()
            self._done = True
        return last


def _installed(spec: str) -> bool:
    if not _BARE_NAME.fullmatch(spec):
        return False
    try:
        importlib.metadata.version(spec)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _pip_install(packages: Sequence[str]) -> None:
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *packages]
    logger.info("installing %s", " ".join(packages))
    proc = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise RuntimeError(f"installing {' '.join(packages)} failed:\n{tail}")


class ShellError(subprocess.CalledProcessError):
    """A ``shell()`` command exited non-zero; its message carries the command's stderr."""

    def __str__(self) -> str:
        stderr = self.stderr.decode(errors="replace") if isinstance(self.stderr, bytes) else ""
        return f"{super().__str__()}\nstderr:\n{stderr.strip()[-2000:]}"


class Shell(Step[Any, bytes]):
    """``shell()``: run the value as a command and give its stdout as bytes.

    A str runs through ``/bin/sh``; a list of str runs as an argv without a shell. stdin is
    empty. A non-zero exit raises :class:`ShellError` with the command's stderr.
    """

    name = "shell"

    def __init__(self, *, cwd: str | None = None, timeout: float | None = None) -> None:
        self.cwd = cwd
        self.timeout = timeout

    def run(self, last: Any, ctx: Context) -> bytes:
        if isinstance(last, str):
            command: str | list[str] = last
        elif isinstance(last, (list, tuple)) and all(isinstance(a, str) for a in last):
            command = list(last)
        else:
            raise TypeError(f"shell(): expected a command str or argv list, got {last!r}")
        if not command:
            raise ValueError(
                'shell(): the command is empty; give a command str ("echo hi") or an argv '
                'list that names a program (["echo", "hi"])'
            )
        proc = subprocess.run(
            command,
            shell=isinstance(command, str),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            cwd=self.cwd,
            timeout=self.timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise ShellError(proc.returncode, command, proc.stdout, proc.stderr)
        return proc.stdout

    def __repr__(self) -> str:
        options = {"cwd": self.cwd, "timeout": self.timeout}
        return f"shell({', '.join(f'{k}={v!r}' for k, v in options.items() if v is not None)})"
