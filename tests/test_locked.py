"""``--locked`` (SPEC §9): only endpoints and ``--allow``'ed code run; arguments are data."""

from __future__ import annotations

import json
import re
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
    planted = {"code_b64": b64(MOUNTED), "use_cache": True, "cache_key_override": "/landing"}
    r = httpx.put(server.url + "/_owt/endpoints/other", json=planted)
    assert (r.status_code, r.json()["field"]) == (403, "cache_key_override")
    private = MOUNTED + "\ndef _x():\n    return 'private'\n"
    r = httpx.put(
        server.url + "/_owt/endpoints/priv", json={"code_b64": b64(private), "fn_name": "_x"}
    )
    assert r.status_code == 201  # registered, but a locked server never calls _x
    r = httpx.get(server.url + "/priv")
    assert (r.status_code, r.json()["error"], r.json()["fn_name"]) == (403, "locked", "_x")


ALLOWED_WITH_ADMIN = """
def run(name="owt"):
    return f"public {name}"

def report():
    return "report"

def _admin():
    return "admin ran"
"""


@pytest.fixture(scope="module")
def holding(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("holding")
    (folder / "adaptor.py").write_text(ALLOWED_WITH_ADMIN)
    (folder / "mounted.py").write_text(MOUNTED)
    server = OwtProcess(
        "--locked",
        *("--allow", str(folder / "adaptor.py")),
        *("--allow-fn", "report"),
        *("--mount", f"tens={folder / 'mounted.py'}"),
    )
    yield server
    server.stop()


def test_only_run_and_allowed_functions_are_called(holding: Any) -> None:
    sha = sha256_of(ALLOWED_WITH_ADMIN)
    assert httpx.post(holding.url + "/", json={"code_sha256": sha}).text == "public owt"
    r = httpx.post(holding.url + "/", json={"code_sha256": sha, "fn_name": "report"})
    assert r.text == "report"
    for fields in (
        {"code_sha256": sha, "fn_name": "_admin"},
        {"code_b64": b64(ALLOWED_WITH_ADMIN), "fn_name": "_admin"},
    ):
        r = httpx.post(holding.url + "/", json=fields)
        assert r.status_code == 403
        assert r.json()["error"] == "locked"
        assert r.json()["fn_name"] == "_admin"
    r = httpx.get(holding.url + "/", params={"code_sha256": sha, "fn_name": "_admin"})
    assert (r.status_code, r.json()["error"]) == (403, "locked")
    # An endpoint's function is the endpoint's: a caller's fn_name is refused, never called.
    r = httpx.get(holding.url + "/tens", params={"n": 2, "fn_name": "_admin"})
    assert (r.status_code, r.json()["error"], r.json()["field"]) == (400, "bad_request", "fn_name")
    # and it offers nothing a locked server refuses (other code, cache keys)
    assert not {"code_b64", "cache_key_override"} & set(re.findall(r"\w+", r.json()["message"]))
    assert httpx.get(holding.url + "/tens", params={"n": 2}).text == "20"


def test_callers_cannot_choose_cache_keys(holding: Any) -> None:
    sha = sha256_of(ALLOWED_WITH_ADMIN)
    planted = {"code_sha256": sha, "use_cache": True, "cache_key_override": "/landing.html"}
    r = httpx.post(holding.url + "/", json=planted)
    assert r.status_code == 403
    assert r.json() == {
        "error": "locked",
        "message": "this server is locked: callers cannot choose cache keys (cache_key_override)",
        "field": "cache_key_override",
    }
    r = httpx.get(holding.url + "/tens", params={"use_cache": 1, "cache_key_override": "/x"})
    assert (r.status_code, r.json()["field"]) == (403, "cache_key_override")
    # Cached at a path, an allowed call's reply is keyed by its code too: no pinned page.
    r = httpx.post(holding.url + "/landing.html", json={"code_sha256": sha, "use_cache": True})
    assert r.text == "public owt"
    again = httpx.post(holding.url + "/landing.html", json={"code_sha256": sha, "use_cache": 1})
    assert again.headers.get("x-owt-cache") == "hit"
    pinned = httpx.get(holding.url + "/landing.html")
    assert (pinned.status_code, pinned.json()["error"]) == (400, "missing_code")


def test_a_callers_cached_answer_goes_to_no_caller_of_other_arguments(holding: Any) -> None:
    """One caller's choice to cache (without cache_kwargs) does not make its answer, shaped
    by its arguments, the answer of everyone at that path: a locked server keys it by them."""
    sha = sha256_of(ALLOWED_WITH_ADMIN)
    for path, params in [
        ("/tens", {"n": 6}),
        ("/page", {"code_sha256": sha, "kwargs": '{"name": "<script>"}'}),
    ]:
        planted = httpx.get(holding.url + path, params={**params, "use_cache": 1})
        assert planted.status_code == 200 and "x-owt-cache" not in planted.headers
        fair = (
            {**params, "use_cache": 1, "n": 7}
            if path == "/tens"
            else {**params, "use_cache": 1, "kwargs": '{"name": "alice"}'}
        )
        r = httpx.get(holding.url + path, params=fair)
        assert r.text in ("70", "public alice") and "x-owt-cache" not in r.headers
        again = httpx.get(holding.url + path, params={**params, "use_cache": 1})
        assert again.text == planted.text and again.headers.get("x-owt-cache") == "hit"


def test_status_shows_no_function_names_when_locked(holding: Any, owt_server: Any) -> None:
    sha = sha256_of(ALLOWED_WITH_ADMIN)
    assert httpx.post(holding.url + "/", json={"code_sha256": sha}).status_code == 200
    text = httpx.get(holding.url + "/_owt/status").text
    for name in ("_admin", "report", "tens", '"run"'):
        assert name not in text
    status = httpx.get(holding.url + "/_owt/status").json()
    assert status["endpoints"] == 1
    assert call(owt_server.url, ALLOWED_WITH_ADMIN).status_code == 200  # unlocked: all shown
    assert '"run"' in httpx.get(owt_server.url + "/_owt/status").text


def test_allow_fn_takes_no_private_names(start_server: Any) -> None:
    with pytest.raises(RuntimeError, match="--allow-fn '_admin'"):
        start_server("--locked", "--allow-fn", "_admin")


def test_a_path_cannot_spell_another_callers_key(holding: Any) -> None:
    """A path holding ``?ARGUMENTS`` or ``|npy`` (percent-encoded) is its own key: it cannot
    plant an answer under another caller's arguments, or for callers that prefer .npy."""
    sha = sha256_of(ALLOWED_WITH_ADMIN)
    planted = httpx.get(
        holding.url + "/p%3F%7B%22name%22%3A%22bob%22%7D",
        params={"code_sha256": sha, "use_cache": 1, "kwargs": '{"name": "mallory"}'},
    )
    assert planted.text == "public mallory"
    fair = {"code_sha256": sha, "use_cache": 1, "cache_kwargs": 1, "kwargs": '{"name": "bob"}'}
    r = httpx.get(holding.url + "/p", params=fair)
    assert r.text == "public bob" and "x-owt-cache" not in r.headers
    r = httpx.get(holding.url + "/tens/a%3F%7B%22n%22%3A2%7D", params={"n": 9, "use_cache": 1})
    assert r.text == "90"
    r = httpx.get(holding.url + "/tens/a", params={"n": 2, "use_cache": 1, "cache_kwargs": 1})
    assert r.text == "20" and "x-owt-cache" not in r.headers


def test_a_locked_server_shows_neither_its_files_nor_callers_keys(holding: Any) -> None:
    """Where the operator's files are, and the cache keys (they hold callers' arguments),
    are not for callers of a locked server; the counts are."""
    sha = sha256_of(ALLOWED_WITH_ADMIN)
    kept = {"code_sha256": sha, "use_cache": 1, "cache_kwargs": 1, "kwargs": '{"name": "zed"}'}
    assert httpx.get(holding.url + "/k", params=kept).text == "public zed"
    cache = httpx.get(holding.url + "/_owt/cache").json()
    assert "keys" not in cache and cache["entries"] >= 1
    listing = httpx.get(holding.url + "/_owt/endpoints").json()["endpoints"]
    shown = httpx.get(holding.url + "/_owt/endpoints/tens").json()
    document = httpx.get(holding.url + "/_owt/openapi.json").text
    for text in (json.dumps(listing), json.dumps(shown), document):
        assert "mounted.py" not in text and "holding" not in text
