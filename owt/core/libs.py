"""Wrapper libraries (``owt serve --lib DIR``): modules in scope in adaptors by name. Stdlib only.

Write a wrapper once, in ``lib/sota.py``::

    def hard_task(prompt):
        return f"solved: {prompt}"

and every adaptor may name it without an import: ``f(sota.hard_task)``. When an adaptor is
compiled, each name it reads that is a module in a lib folder (``DIR/NAME.py`` or
``DIR/NAME/__init__.py``) is imported and put in its namespace. The folders are appended to
``sys.path`` (so a lib module may import its neighbours, and never shadows an installed
package or the standard library). An edited module is picked up on the next call: an adaptor
that names it is compiled again, against the module reloaded.

The server hands the folders to the places that run calls in the ``OWT_LIB_PATH`` variable
(absolute paths joined by ``os.pathsep``): worker processes inherit it, Ray actors get it in
their ``runtime_env``; :class:`~owt.core.runner.Runner` reads it when not given folders.
"""

from __future__ import annotations

import contextlib
import dis
import importlib
import importlib.util
import logging
import os
import sys
import threading
import types
from collections.abc import Iterable, Sequence

__all__ = ["FOLDERS", "LIB_ENV", "Library", "LibraryError", "lib_environ"]

log = logging.getLogger(__name__)

#: The variable that carries the lib folders to worker processes and Ray actors.
LIB_ENV = "OWT_LIB_PATH"

#: A module's file and its modification time when it was loaded.
Stamp = tuple[str, str, int]


def lib_environ(dirs: Iterable[str]) -> dict[str, str]:
    """``{OWT_LIB_PATH: ...}`` for these folders (empty when there are none)."""
    paths = [os.path.abspath(os.path.expanduser(d)) for d in dirs]
    return {LIB_ENV: os.pathsep.join(paths)} if paths else {}


#: Every lib folder of this process, for error messages (a missing module may be a wrapper).
FOLDERS: list[str] = []


class LibraryError(Exception):
    """A lib module that cannot be used: it raised when imported (or read again after an
    edit), or its file is gone. The server's file is at fault, not the adaptor that names
    it; the message says which file, and the exception it raised is the ``__cause__``."""

    @classmethod
    def raised(cls, name: str, path: str, exc: BaseException, when: str) -> LibraryError:
        if isinstance(exc, SyntaxError):
            what = f"does not compile: {exc.msg} (line {exc.lineno})"
        else:
            what = f"raised {type(exc).__name__}: {exc}"
        return cls(
            f"the --lib module {name} ({path}) {what}, {when}; fix that file (it is read "
            "again on the next call): the adaptor that names it is not at fault"
        )

    @classmethod
    def gone(cls, name: str, path: str) -> LibraryError:
        return cls(
            f"{name} was the --lib module {path}, which has been removed: put the file back, "
            f"or stop naming {name} in the code"
        )


class Library:
    """The lib folders of one place that runs calls, and the modules loaded from them."""

    def __init__(self, dirs: Sequence[str] | None = None) -> None:
        if dirs is None:
            dirs = [d for d in os.environ.get(LIB_ENV, "").split(os.pathsep) if d]
        self.dirs = [os.path.abspath(os.path.expanduser(d)) for d in dirs]
        FOLDERS.extend(d for d in self.dirs if d not in FOLDERS)
        for folder in self.dirs:
            if folder not in sys.path:
                sys.path.append(folder)
        self._loaded: dict[str, tuple[str, int]] = {}  # file → module name, version loaded
        self._gone: dict[str, str] = {}  # module name → its file, removed since it was loaded
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.dirs)

    def find(self, name: str) -> str | None:
        """The file of lib module ``name``, or None."""
        for folder in self.dirs:
            for path in (
                os.path.join(folder, name + ".py"),
                os.path.join(folder, name, "__init__.py"),
            ):
                if os.path.isfile(path):
                    return path
        return None

    def bind(self, code: types.CodeType, namespace: dict[str, object]) -> tuple[Stamp, ...]:
        """Import the lib modules the code names into ``namespace``; the stamps of every lib
        module loaded here (an edit to any of them, a neighbour too, compiles it again)."""
        with self._lock:
            self._refresh()
            for name in sorted(_free_names(code) - namespace.keys()):
                path = self.find(name)
                if path is None:
                    if name in self._gone:
                        raise LibraryError.gone(name, self._gone[name])
                    continue
                self._gone.pop(name, None)
                module = self._load(name, path)
                if module is not None:
                    namespace[name] = module
            self._track()
            return tuple((name, path, version) for path, (name, version) in self._loaded.items())

    def stale(self, stamps: tuple[Stamp, ...]) -> bool:
        """True when a module these stamps name was edited (or removed) since."""
        return any(_version(path) != version for _, path, version in stamps)

    def _refresh(self) -> None:
        """Reload every lib module edited since it was loaded, in the order they came, and
        forget the removed ones (an adaptor that still names one hears so from :meth:`bind`)."""
        for path, (name, version) in list(self._loaded.items()):
            module = sys.modules.get(name)
            now = _version(path)
            if now == version:
                continue
            if not os.path.exists(path):
                del self._loaded[path]
                if module is not None and _same_file(getattr(module, "__file__", None), path):
                    del sys.modules[name]
                self._gone[name] = path
                continue
            if module is None:
                continue
            _drop_bytecode(path)  # its .pyc trusts mtime and size, which an edit may keep
            try:
                importlib.reload(module)  # a broken save raises, and again until it is fixed
            except Exception as exc:
                raise LibraryError.raised(name, path, exc, "read again after an edit") from exc
            self._loaded[path] = (name, now)

    def _load(self, name: str, path: str) -> types.ModuleType | None:
        module = sys.modules.get(name)
        if module is None or not _same_file(getattr(module, "__file__", None), path):
            importlib.invalidate_caches()  # a file added since the folder was last read
            version = _version(path)
            try:
                module = importlib.import_module(name)
            except Exception as exc:
                raise LibraryError.raised(name, path, exc, "when it was imported") from exc
            if _same_file(getattr(module, "__file__", None), path):
                self._loaded.setdefault(path, (name, version))
        if not _same_file(getattr(module, "__file__", None), path):
            log.warning(
                "lib module %s is shadowed by %s: rename %s so that it is found",
                name,
                getattr(module, "__file__", "a built-in module"),
                path,
            )
            return None
        return module

    def _track(self) -> None:
        """Note the lib modules that others imported (``import wrap`` in ``later.py``)."""
        roots = tuple(folder + os.sep for folder in self.dirs)
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if file and file.startswith(roots) and file not in self._loaded:
                self._loaded[file] = (name, _version(file))


def _free_names(code: types.CodeType) -> set[str]:
    """Names the code reads as globals and never assigns: candidates for lib modules.

    Read from the compiled code (its nested functions too), so code compiled in another
    process (owt.core.compiling) is bound the same way.
    """
    loads: set[str] = set()
    stores: set[str] = set()
    todo = [code]
    while todo:
        current = todo.pop()
        for ins in dis.get_instructions(current):
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                loads.add(str(ins.argval))
            elif ins.opname in ("STORE_GLOBAL", "STORE_NAME"):
                stores.add(str(ins.argval))
        todo += [c for c in current.co_consts if isinstance(c, types.CodeType)]
    return loads - stores


def _version(path: str) -> int:
    """Changes whenever the file does: its ctime moves on every write, even one that keeps
    or resets its mtime (``cp -p``, ``rsync -t``, ``touch -d``)."""
    try:
        st = os.stat(path)
    except OSError:
        return 0
    return hash((st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino))


def _same_file(a: str | None, b: str) -> bool:
    return a is not None and os.path.realpath(a) == os.path.realpath(b)


def _drop_bytecode(path: str) -> None:
    with contextlib.suppress(OSError, NotImplementedError, ValueError):
        os.unlink(importlib.util.cache_from_source(path))
