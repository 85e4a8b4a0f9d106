"""The one home of persistent state: a SQLite file under ``--state-dir``.

Each feature keeps its own tables in the same file (``owt.sqlite3``): registered endpoints,
code by hash, the response cache. One connection, serialised by a lock: writes are small and
rare next to the calls they serve.

    db = StateDB(Path(".owt"))
    db.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB)")
    db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", ("a", b"1"))
    db.query("SELECT v FROM kv WHERE k = ?", ("a",))  # [(b"1",)]
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["StateDB"]

FILENAME = "owt.sqlite3"


class StateDB:
    """A thread-safe SQLite database at ``state_dir/owt.sqlite3``."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / FILENAME
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        with self._lock:
            return self._db.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock:
            self._db.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()
