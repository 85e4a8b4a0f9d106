"""``--locked`` (SPEC §9): only endpoints and ``--allow``'ed code run; arguments are data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import OwtProcess, b64, call

from owt.server.protocol import sha256_of

ALLOWED_BY_HASH = 'def run(name="owt"):\n    return f"allowed {name}"\n'
ALLOWED_FILE = 'def run(name="file"):\n    return f"from the file, {name}"\n'
MOUNTED = "def run(n: int = 1):\n    return n * 10\n"
ELSE = "def run():\n    return 'should not run'\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("locked")
    (folder / "allowed.py").write_text(ALLOWED_FILE)
    (folder / "mounted.py").write_text(MOUNTED)
    return folder


@pytest.fixture(scope="module")
def locked(folder: Path) -> Any:
    server = OwtProcess(
        "--locked",
        *("--allow", sha256_of(ALLOWED_BY_HASH).upper()),
        *("--allow", str(folder / "allowed.py")),
        *("--mount", f"tens={folder / 'mounted.py'}"),
    )
    yield server
    server.stop()


def test_arbitrary_code_is_refused(locked: Any) -> None:
    for method in ("POST", "GET"):
        r = call(locked.url, ELSE, method=method)
        assert r.status_code == 403
        assert r.json()["error"] == "locked"
    r = httpx.get(locked.url + "/", params={"code_sha256": sha256_of(ELSE)})
    assert r.status_code == 403
    assert r.json()["error"] == "locked"


def test_mounted_endpoints_are_served(locked: Any) -> None:
    assert httpx.get(locked.url + "/tens?n=4").text == "40"


def test_allowed_hash_runs(locked: Any) -> None:
    r = call(locked.url, ALLOWED_BY_HASH, name="you")
    assert r.status_code == 200, r.text
    assert r.text == "allowed you"
    r = httpx.get(locked.url + "/", params={"code_sha256": sha256_of(ALLOWED_BY_HASH)})
    assert r.text == "allowed owt"  # sent once above, now known by its hash


def test_allowed_file_runs_by_hash_without_being_sent(locked: Any) -> None:
    r = httpx.post(
        locked.url + "/", json={"code_sha256": sha256_of(ALLOWED_FILE), "kwargs": {"name": "x"}}
    )
    assert r.status_code == 200, r.text
    assert r.text == "from the file, x"
    assert call(locked.url, ALLOWED_FILE).text == "from the file, file"


def test_arguments_are_never_evaluated(locked: Any, owt_server: Any) -> None:
    expression = b64("dict(name='evaluated')")
    fields = {"code_b64": b64(ALLOWED_BY_HASH), "kwargs_b64": expression}
    assert httpx.get(owt_server.url + "/", params=fields).text == "allowed evaluated"  # unlocked
    r = httpx.get(locked.url + "/", params=fields)
    assert r.status_code == 400
    assert r.json()["field"] == "kwargs_b64"
    r = httpx.get(locked.url + "/tens", params={"kwargs_b64": b64("dict(n=2 + 3)")})
    assert r.status_code == 400
    # Literals are data, not code: they still work.
    fields["kwargs_b64"] = b64("{'name': 'literal'}")
    assert httpx.get(locked.url + "/", params=fields).text == "allowed literal"


def test_registration_is_refused(locked: Any) -> None:
    r = httpx.put(locked.url + "/_owt/endpoints/mine", json={"code_b64": b64(ELSE)})
    assert r.status_code == 403
    assert r.json()["error"] == "locked"
    assert httpx.delete(locked.url + "/_owt/endpoints/tens").status_code == 403
    assert httpx.get(locked.url + "/mine").json()["error"] == "missing_code"


def test_allow_register_lets_registered_endpoints_run(start_server: Any) -> None:
    server = start_server("--locked", "--allow-register")
    r = httpx.put(server.url + "/_owt/endpoints/mine", json={"code_b64": b64(MOUNTED)})
    assert r.status_code == 201, r.text
    assert httpx.get(server.url + "/mine?n=2").text == "20"
    assert call(server.url, MOUNTED).status_code == 403  # the same code, as a generic call
    shown = httpx.get(server.url + "/_owt/endpoints/mine").json()
    assert "code" not in shown  # a locked server does not hand out its code
