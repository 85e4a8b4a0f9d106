"""Code the server has seen, by sha256, so later calls may send just ``code_sha256``."""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["CodeStore"]


class CodeStore:
    """A bounded LRU of code text by its sha256 (hex)."""

    def __init__(self, max_codes: int = 1024) -> None:
        self.max_codes = max_codes
        self._codes: OrderedDict[str, str] = OrderedDict()

    def add(self, sha256: str, code: str) -> None:
        self._codes[sha256] = code
        self._codes.move_to_end(sha256)
        while len(self._codes) > self.max_codes:
            self._codes.popitem(last=False)

    def get(self, sha256: str) -> str | None:
        code = self._codes.get(sha256.lower())
        if code is not None:
            self._codes.move_to_end(sha256.lower())
        return code

    def __len__(self) -> int:
        return len(self._codes)
