"""Code the server has seen, by sha256, so later calls may send just ``code_sha256``.

With ``--state-dir`` the codes also live in the state database (table ``codes``), so a hash
keeps working after a restart. Both are bounded by ``--max-codes``, least recently used out.
The database is written only when a code is new to this process, never on a warm call.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from owt.server.statedb import StateDB

__all__ = ["CodeStore"]


class CodeStore:
    """A bounded LRU of code text by its sha256 (hex), optionally backed by SQLite."""

    def __init__(self, max_codes: int = 1024, db: StateDB | None = None) -> None:
        self.max_codes = max_codes
        self._codes: OrderedDict[str, str] = OrderedDict()
        self.db = db
        if db is not None:
            db.execute(
                "CREATE TABLE IF NOT EXISTS codes "
                "(sha256 TEXT PRIMARY KEY, code TEXT NOT NULL, used REAL NOT NULL)"
            )

    def add(self, sha256: str, code: str) -> None:
        if sha256 in self._codes:  # a warm call: just mark it recently used
            self._codes.move_to_end(sha256)
            return
        self._remember(sha256, code)
        if self.db is not None:
            self.db.execute(
                "INSERT OR REPLACE INTO codes VALUES (?, ?, ?)", (sha256, code, time.time())
            )
            self.db.execute(
                "DELETE FROM codes WHERE sha256 IN "
                "(SELECT sha256 FROM codes ORDER BY used DESC LIMIT -1 OFFSET ?)",
                (self.max_codes,),
            )

    def get(self, sha256: str) -> str | None:
        sha256 = sha256.lower()
        code = self._codes.get(sha256)
        if code is not None:
            self._codes.move_to_end(sha256)
            return code
        if self.db is None:
            return None
        rows = self.db.query("SELECT code FROM codes WHERE sha256 = ?", (sha256,))
        if not rows:
            return None
        self.db.execute("UPDATE codes SET used = ? WHERE sha256 = ?", (time.time(), sha256))
        self._remember(sha256, rows[0][0])
        return str(rows[0][0])

    def _remember(self, sha256: str, code: str) -> None:
        self._codes[sha256] = code
        self._codes.move_to_end(sha256)
        while len(self._codes) > self.max_codes:
            self._codes.popitem(last=False)

    def __len__(self) -> int:
        if self.db is not None:
            rows = self.db.query("SELECT COUNT(*) FROM codes")
            if rows:  # none when the state file could not be read: count what memory holds
                return int(rows[0][0])
        return len(self._codes)
