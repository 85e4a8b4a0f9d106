"""Where calls run, chosen by name and imported only when chosen.

EXECUTORS = {"thread": ..., "process": ..., "ray": ...}
executor_class = load_executor("process")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from owt.executors.base import Executor

__all__ = ["EXECUTORS", "load_executor"]

EXECUTORS: dict[str, str] = {
    "thread": "owt.executors.thread:ThreadExecutor",
    "process": "owt.executors.process.executor:ProcessExecutor",
    "ray": "owt.executors.ray.executor:RayExecutor",
}

_EXTRAS = {"ray": "ray"}


def load_executor(name: str) -> type[Executor]:
    """The executor class registered as ``name``; a missing extra says how to install it."""
    try:
        module_name, _, attr = EXECUTORS[name].partition(":")
    except KeyError:
        raise ValueError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}") from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        extra = _EXTRAS.get(name)
        if extra and exc.name and exc.name.split(".")[0] == extra:
            raise ImportError(
                f"the {name} executor needs an extra: pip install 'owt[{extra}]'"
            ) from exc
        raise
    cls: type[Executor] = getattr(module, attr)
    return cls
