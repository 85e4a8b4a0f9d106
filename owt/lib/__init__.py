"""Ready adaptors and helpers: streaming (``stream``), audio (``audio``), sentence splitting
(``text``), text to speech (``tts``), embeddings (``embed``) and Bark (``bark``).

Submodules load on first use; the stdlib ones work in any worker environment.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["stream"]


def __getattr__(name: str) -> Any:
    try:
        return importlib.import_module(f"owt.lib.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"owt.lib.{name}":
            raise AttributeError(f"module 'owt.lib' has no attribute {name!r}") from None
        raise
