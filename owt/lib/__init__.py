"""Ready adaptors and helpers: streaming (``stream``), audio (``audio``), sentence splitting
(``text``), text to speech (``tts``), embeddings (``embed``) and Bark (``bark``).

Submodules load on first use; the stdlib ones work in any worker environment.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["import_model_package", "stream"]


def import_model_package(name: str, install: str) -> ModuleType:
    """Import a model's package, or say what to install (and that ``env=`` can pick a
    worker environment that has it) when it, or something it needs, is missing."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            f"{exc.name} is not installed in this environment ({install}); "
            "run the call in an environment that has it (env=...)"
        ) from exc


def __getattr__(name: str) -> Any:
    try:
        return importlib.import_module(f"owt.lib.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"owt.lib.{name}":
            raise AttributeError(f"module 'owt.lib' has no attribute {name!r}") from None
        raise
