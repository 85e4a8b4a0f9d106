"""The state file (``--state-dir``): checked at start, and never the reason a call fails."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest
from conftest import OWT, ROOT, call

from owt.server.statedb import StateDB


def serve_fails(state_dir) -> list[str]:
    """``owt serve`` with this state dir: it must exit at once; its stderr lines."""
    done = subprocess.run(
        [*OWT, "serve", "--port", "0", "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "owt serving on" not in done.stdout
    return done.stderr.strip().splitlines()


def test_a_file_that_is_not_sqlite_stops_the_server(tmp_path):
    path = tmp_path / "owt.sqlite3"
    path.write_bytes(b"this is not a database\n" * 100)
    lines = serve_fails(tmp_path)
    assert len(lines) == 1, lines
    assert str(path) in lines[0]
    assert "not an SQLite database" in lines[0]
    assert "--state-dir" in lines[0]


def test_another_program_s_database_stops_the_server(tmp_path):
    path = tmp_path / "owt.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (name TEXT)")
    db.close()
    lines = serve_fails(tmp_path)
    assert len(lines) == 1, lines
    assert str(path) in lines[0]
    assert "another program" in lines[0]


def test_a_damaged_page_never_fails_a_call(start_server, tmp_path):
    server = start_server("--state-dir", str(tmp_path))
    for i in range(60):  # codes enough to fill many pages
        code = f"def run():\n    return {i}\n#" + "x" * 2000
        assert call(server.url, code).text == str(i)
    server.stop()
    path = tmp_path / "owt.sqlite3"
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 8 * page
    for at in range(3 * page, 6 * page, page):  # pages of the codes table's tree
        data[at : at + page] = b"\xff" * page
    path.write_bytes(bytes(data))

    server = start_server("--state-dir", str(tmp_path))
    for i in range(5):
        code = f"def run():\n    return 'new {i}'\n"
        r = call(server.url, code)
        assert (r.status_code, r.text) == (200, f"new {i}")
    r = call(server.url, "def run(): return 'cached'", fields={"use_cache": True})
    assert r.text == "cached"
    assert "damaged" in server.log or "carrying on" in server.log


def test_statedb_failures_are_warnings(tmp_path, caplog):
    db = StateDB(tmp_path)
    db.execute("CREATE TABLE kv (k TEXT PRIMARY KEY)")
    db.close()
    with pytest.raises(sqlite3.ProgrammingError):  # a closed handle is owt's own bug: it raises
        db._db.execute("SELECT 1")
    db = StateDB(tmp_path)
    assert db.execute("INSERT INTO missing VALUES (1)") == 0
    assert db.query("SELECT * FROM missing") == []
    assert db.failures == 2
    assert "carrying on" in caplog.text
    db.close()
