"""Warm objects shared by every adaptor in one process. Stdlib only.

``keep("model", load_model)`` builds the object once per process, even when calls race for
it, and hands the same object to every later call — also to calls of *other* code, so an
edited adaptor reuses the model its previous version loaded::

    model = keep("bark", lambda: load_bark("large"))
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Keeper", "keep"]

T = TypeVar("T")


class Keeper:
    """A per-process registry of named objects, each built once."""

    def __init__(self) -> None:
        self._objects: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def __call__(self, name: str, factory: Callable[[], T]) -> T:
        try:
            return self._objects[name]
        except KeyError:
            pass
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._objects:
                self._objects[name] = factory()
            return self._objects[name]

    def drop(self, name: str) -> bool:
        """Forget ``name`` (the object is freed once nothing else holds it)."""
        with self._guard:
            self._locks.pop(name, None)
            return self._objects.pop(name, None) is not None

    def names(self) -> list[str]:
        """The names kept, as plain text: a name may be any hashable (an enum member, a
        tuple), and what is reported must be plain ``str`` to cross to the server."""
        return sorted(_shown(name) for name in list(self._objects))

    def __contains__(self, name: object) -> bool:
        return name in self._objects


#: The process's keeper: one per process by design, like ``sys.modules``.
keep = Keeper()


def _shown(name: object) -> str:
    if type(name) is str:
        return name
    if isinstance(name, str):  # a str subclass (a str enum's member): its text
        return str.__str__(name)
    try:
        return repr(name)
    except Exception:  # its own __repr__ fails: say what it is
        return f"<a {type(name).__name__}>"
