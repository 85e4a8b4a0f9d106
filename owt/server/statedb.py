"""The one home of persistent state: a SQLite file under ``--state-dir``.

Each feature keeps its own tables in the same file (``owt.sqlite3``): registered endpoints,
code by hash, the response cache. One connection, serialised by a lock: writes are small and
rare next to the calls they serve.

    db = StateDB(Path(".owt"))
    db.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB)")
    db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", ("a", b"1"))
    db.query("SELECT v FROM kv WHERE k = ?", ("a",))  # [(b"1",)]

The file is checked before the server starts (:func:`check_state_file`): one that is not
owt's SQLite database stops it with one line naming the file. Once running, the state is a
copy of what memory holds: a statement that fails (a full disk, a damaged page) logs a
warning and does nothing, so a call never fails because its state could not be written.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["FILENAME", "OWT_TABLES", "StateDB", "check_state_file"]

log = logging.getLogger(__name__)

FILENAME = "owt.sqlite3"
#: The tables owt keeps; a database holding tables but none of these belongs to something else.
OWT_TABLES = frozenset({"endpoints", "codes", "response_cache"})
_SQLITE_HEADER = b"SQLite format 3\x00"


def check_state_file(state_dir: Path) -> str | None:
    """ValueError (one line, naming the file and what to do) when ``state_dir`` holds a file
    that is not owt's database; a warning text when it is owt's but damaged; else None."""
    path = Path(state_dir).expanduser() / FILENAME
    advice = "move it away (owt makes a new one) or pick another --state-dir"
    try:
        with open(path, "rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"the state file {path} cannot be read ({exc.strerror}); {advice}")
    if header and header != _SQLITE_HEADER:
        raise ValueError(f"the state file {path} is not an SQLite database; {advice}")
    damaged = f"the state file {path} is damaged (%s); what cannot be read is skipped"
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as exc:  # an SQLite header, but pages that cannot be read
        return damaged % exc
    if tables and not tables & OWT_TABLES:
        raise ValueError(
            f"the state file {path} is another program's SQLite database "
            f"(tables {', '.join(sorted(tables)[:5])}); {advice}"
        )
    if verdict != "ok":
        return damaged % verdict
    return None


class StateDB:
    """A thread-safe SQLite database at ``state_dir/owt.sqlite3`` whose failures are warnings."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / FILENAME
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self.failures = 0
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._guarded(lambda: self._db.execute("PRAGMA journal_mode=WAL"), "PRAGMA")
        self._guarded(lambda: self._db.execute("PRAGMA synchronous=NORMAL"), "PRAGMA")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed (0 when it failed)."""
        with self._lock:
            cursor = self._guarded(lambda: self._db.execute(sql, params), sql)
            return 0 if cursor is None else int(cursor.rowcount)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock:
            self._guarded(lambda: self._db.executemany(sql, rows), sql)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of a query ([] when it failed)."""
        with self._lock:
            rows = self._guarded(lambda: self._db.execute(sql, params).fetchall(), sql)
            return [] if rows is None else list(rows)

    def _guarded(self, run: Any, sql: str) -> Any:
        try:
            return run()
        except sqlite3.Error as exc:
            self.failures += 1
            what = f"{sql.split(None, 1)[0].upper()}: {exc}"
            if what not in self._warned:  # once per kind of failure, not once per call
                self._warned.add(what)
                log.warning("state file %s: %s failed (%s); carrying on", self.path, sql[:40], exc)
            return None

    def close(self) -> None:
        with self._lock:
            self._db.close()
