"""SPEC §7 against real servers: mounted files, registered endpoints, code by hash."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import OWT, ROOT, OwtProcess, b64, call, wait_until

SQUARE = "def run(n: int) -> int:\n    return n * n\n"


@pytest.fixture(scope="module")
def mounted(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("mounts")
    (folder / "hello.py").write_text('def run(name: str = "owt"):\n    return f"v1 {name}"\n')
    (folder / "where.py").write_text(
        "def run(request, x: int = 0):\n"
        "    return {'path': request.path, 'x': x, 'args': dict(request.args)}\n"
    )
    (folder / "boom.py").write_text("def run():\n    raise ValueError('bad luck')\n")
    (folder / "total.py").write_text(
        "def run(numbers: list[int]) -> int:\n    return sum(numbers)\n"
    )
    server = OwtProcess(
        *("--mount", f"total={folder / 'total.py'}"),
        *("--mount", f"hello={folder / 'hello.py'}"),
        *("--mount", f"where={folder / 'where.py'}"),
        *("--mount", f"boom={folder / 'boom.py'}"),
    )
    server.folder = folder  # type: ignore[attr-defined]
    yield server
    server.stop()


def test_mounted_file_answers_at_its_name(mounted: Any) -> None:
    r = httpx.get(mounted.url + "/hello?name=there")
    assert r.status_code == 200, r.text
    assert r.text == "v1 there"
    assert httpx.get(mounted.url + "/hello").text == "v1 owt"
    assert httpx.get(mounted.url + "/b64/hello").text == "v1 owt"


def test_paths_below_the_name_reach_it(mounted: Any) -> None:
    r = httpx.get(mounted.url + "/where/deeper/still?x=4&extra=kept")
    assert r.status_code == 200, r.text
    assert r.json() == {"path": "/where/deeper/still", "x": 4, "args": {"x": "4", "extra": "kept"}}


def test_a_json_body_that_is_no_object_is_named_when_arguments_are_missing(mounted: Any) -> None:
    assert httpx.post(mounted.url + "/total", json={"numbers": [1, 2]}).text == "3"
    r = httpx.post(mounted.url + "/total", json=[1, 2])
    assert r.status_code == 400
    message = r.json()["message"]
    assert "missing required parameter 'numbers'" in message
    assert "the JSON body is an array" in message and '{"name": value' in message
    r = httpx.post(mounted.url + "/total", json="1, 2")
    assert "the JSON body is a string" in r.json()["message"]  # as JSON names it


@pytest.mark.parametrize("field", ["env", "fn_name", "requirements", "num_gpus"])
def test_fields_the_endpoint_fixes_are_refused_not_dropped(mounted: Any, field: str) -> None:
    r = httpx.get(mounted.url + f"/hello?name=there&{field}=1")
    assert r.status_code == 400, r.text
    assert (r.json()["error"], r.json()["field"]) == ("bad_request", field)
    assert "kwargs" in r.json()["message"]  # how to pass an argument of that name
    r = httpx.post(mounted.url + "/hello", json={"name": "there", field: "1"})
    assert (r.status_code, r.json()["field"]) == (400, field)
    r = httpx.get(mounted.url + "/hello?name=there&timeout=5&use_cache=false")
    assert r.text == "v1 there"  # the caller's own fields are still the caller's


def test_editing_a_mounted_file_changes_the_next_response(mounted: Any) -> None:
    path = mounted.folder / "hello.py"
    url = mounted.url + "/hello"
    assert httpx.get(url).text == "v1 owt"
    for version in ("v2", "v3"):  # v3 lands in the same mtime tick as v2 would: texts compared
        path.write_text(f'def run(name: str = "owt"):\n    return f"{version} {{name}}"\n')
        started = time.monotonic()
        assert wait_until(lambda v=version: httpx.get(url).text == f"{v} owt", timeout=1.0)
        assert time.monotonic() - started < 1.0


def test_an_edit_that_keeps_size_and_mtime_is_seen(mounted: Any) -> None:
    """``cp -p``, ``rsync -t``, ``touch -d`` keep or reset the mtime; the ctime still moves."""
    path = mounted.folder / "hello.py"
    url = mounted.url + "/hello"
    long_ago = 978_307_200_000_000_000  # 2001: out of the window where stamps are not trusted
    path.write_text('def run(name: str = "owt"):\n    return f"aa {name}"\n')
    os.utime(path, ns=(long_ago, long_ago))
    assert wait_until(lambda: httpx.get(url).text == "aa owt", timeout=1.0)
    path.write_text('def run(name: str = "owt"):\n    return f"bb {name}"\n')  # same size
    os.utime(path, ns=(long_ago, long_ago))  # as touch -d 2001-01-01 leaves it
    assert wait_until(lambda: httpx.get(url).text == "bb owt", timeout=1.0)


def test_a_broken_save_answers_422_not_the_old_version(mounted: Any) -> None:
    path = mounted.folder / "hello.py"
    url = mounted.url + "/hello"
    good = 'def run(name: str = "owt"):\n    return f"good {name}"\n'
    path.write_text(good)
    assert wait_until(lambda: httpx.get(url).text == "good owt", timeout=1.0)
    path.write_text("def run(name:\n    return 1\n")
    r = httpx.get(url)
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "compile_error"
    assert body["line"] == 1
    assert str(path) in body["traceback"]
    path.write_text(good)
    assert wait_until(lambda: httpx.get(url).status_code == 200, timeout=1.0)


def test_a_missing_mounted_file_answers_422(mounted: Any) -> None:
    path = mounted.folder / "hello.py"
    text = path.read_text()
    path.unlink()
    try:
        r = httpx.get(mounted.url + "/hello")
        assert r.status_code == 422
        assert "cannot be read" in r.json()["message"]
    finally:
        path.write_text(text)


def test_tracebacks_show_the_real_file(mounted: Any) -> None:
    r = httpx.get(mounted.url + "/boom")
    assert r.status_code == 500
    body = r.json()
    assert body["error"] == "adaptor_error"
    assert f'File "{mounted.folder / "boom.py"}", line 2' in body["traceback"]
    assert "raise ValueError('bad luck')" in body["traceback"]


def test_explicit_code_wins_over_the_endpoint(mounted: Any) -> None:
    r = call(mounted.url, "def run(request): return 'mine at ' + request.path", path="/hello")
    assert r.text == "mine at /hello"


def test_mounts_are_listed_and_shown(mounted: Any) -> None:
    listing = httpx.get(mounted.url + "/_owt/endpoints").json()["endpoints"]
    assert [e["name"] for e in listing] == ["boom", "hello", "total", "where"]
    assert {e["kind"] for e in listing} == {"mounted"}
    one = httpx.get(mounted.url + "/_owt/endpoints/where").json()
    assert one["file"] == str(mounted.folder / "where.py")
    assert one["code"].startswith("def run(request")
    r = httpx.delete(mounted.url + "/_owt/endpoints/hello")
    assert r.status_code == 400
    r = httpx.put(mounted.url + "/_owt/endpoints/hello", json={"code_b64": b64(SQUARE)})
    assert r.status_code == 400
    assert r.json()["field"] == "name"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--mount", "nofile"], "is not NAME=path"),
        (["--mount", "x=/no/such/file.py"], "no such file"),
        (["--mount", "_owt=pyproject.toml"], "one path segment"),
        (["--mount", "a/b=pyproject.toml"], "one path segment"),
        (["--allow", "not-a-hash-or-file"], "neither a sha256"),
    ],
)
def test_bad_mounts_refuse_to_start(args: list[str], words: str) -> None:
    done = subprocess.run(
        [*OWT, "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert done.returncode == 2
    assert words in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# -- registered endpoints --------------------------------------------------------------------


def register(url: str, name: str, **fields: Any) -> httpx.Response:
    return httpx.put(f"{url}/_owt/endpoints/{name}", json=fields)


def test_register_call_show_list_delete(owt_server: Any) -> None:
    url = owt_server.url
    r = register(url, "square", code_b64=b64(SQUARE))
    assert r.status_code == 201, r.text
    assert r.json()["path"] == "/square"
    assert httpx.get(url + "/square?n=7").text == "49"
    assert httpx.get(url + "/square/any/thing?n=3").text == "9"

    r = register(url, "square", code_b64=b64(SQUARE.replace("n * n", "n * n * n")))
    assert r.status_code == 200  # replaced
    assert httpx.get(url + "/square?n=2").text == "8"

    shown = httpx.get(url + "/_owt/endpoints/square").json()
    assert shown["kind"] == "registered"
    assert "n * n * n" in shown["code"]
    names = [e["name"] for e in httpx.get(url + "/_owt/endpoints").json()["endpoints"]]
    assert "square" in names
    assert "square" in httpx.get(url + "/_owt/status").json()["endpoints"]

    assert httpx.delete(url + "/_owt/endpoints/square").status_code == 200
    r = httpx.get(url + "/_owt/endpoints/square")
    assert r.status_code == 404
    assert r.json()["error"] == "unknown_endpoint"
    assert httpx.delete(url + "/_owt/endpoints/square").json()["error"] == "unknown_endpoint"
    assert httpx.get(url + "/square?n=2").json()["error"] == "missing_code"


def test_registration_keeps_call_fields(owt_server: Any) -> None:
    code = "def shout(word: str, times: int = 1, end: str = '.'):\n    return word * times + end\n"
    r = register(
        owt_server.url,
        "shout",
        code_b64=b64(code),
        fn_name="shout",
        kwargs={"times": 2, "end": "!"},
        timeout=5,
    )
    assert r.status_code == 201, r.text
    assert r.json()["timeout"] == 5
    assert httpx.get(owt_server.url + "/shout?word=ha").text == "haha!"
    # The caller's parameters win over the defaults; fn_name stays the endpoint's.
    assert httpx.get(owt_server.url + "/shout?word=ha&times=3").text == "hahaha!"
    refused = httpx.get(owt_server.url + "/shout?word=ha&fn_name=run")
    assert (refused.status_code, refused.json()["field"]) == (400, "fn_name")
    assert "it is 'shout' there" in refused.json()["message"]
    httpx.delete(owt_server.url + "/_owt/endpoints/shout")


def test_an_endpoints_fields_hold_for_each_call_and_a_callers_for_its_own(owt_server):
    # An endpoint's call is worked out once per version and copied per request: what one
    # caller sends (timeout) must not stick to the endpoint's calls after it.
    nap = "import time\ndef run(s: float = 0.5):\n    time.sleep(s)\n    return 'rested'\n"
    r = register(owt_server.url, "nap", code_b64=b64(nap), timeout=0.2)
    assert r.status_code == 201, r.text
    url = owt_server.url + "/nap"
    try:
        for _ in range(2):
            assert httpx.get(url).status_code == 504
            assert httpx.get(url + "?s=0").text == "rested"
            assert httpx.get(url + "?timeout=3").text == "rested"
    finally:
        httpx.delete(owt_server.url + "/_owt/endpoints/nap")


@pytest.mark.parametrize(
    ("name", "fields", "status", "kind"),
    [
        ("ok", {}, 400, "bad_request"),
        ("ok", {"code_b64": "%%%"}, 400, "bad_request"),
        ("ok", {"code_b64": b64("def run(:\n")}, 422, "compile_error"),
        ("ok", {"code_sha256": "0" * 64}, 404, "unknown_code"),
        ("ok", {"code_b64": b64(SQUARE), "kwargs": [1]}, 400, "bad_request"),
        ("ok", {"code_b64": b64(SQUARE), "fn_name": "not a name"}, 400, "bad_request"),
        # each of its calls would fail: said when it is registered (it was a 201)
        ("ok", {"code_b64": b64(SQUARE), "fn_name": "nope"}, 422, "no_function"),
        ("ok", {"code_b64": b64(SQUARE), "env": "nowhere"}, 400, "unknown_env"),
        ("ok", {"code_b64": b64(SQUARE), "requirements": ["-e ."]}, 400, "bad_request"),
        ("ok", {"code_b64": b64(SQUARE), "requirements": {"a": 1}}, 400, "bad_request"),
        ("ok", {"code_b64": b64(SQUARE), "requirements": ["<2"]}, 400, "bad_request"),
        ("ok", {"code_b64": b64(SQUARE), "requirements": ["six"], "env": "main2"}, 400, None),
        ("b64", {"code_b64": b64(SQUARE)}, 400, "bad_request"),
        ("a.b~c-d", {"code_b64": b64(SQUARE)}, 201, None),
    ],
)
def test_bad_registrations(owt_server: Any, name: str, fields: dict, status: int, kind: Any):
    r = register(owt_server.url, name, **fields)
    assert r.status_code == status, r.text
    if kind:
        assert r.json()["error"] == kind
    if status >= 400:  # nothing of it was kept
        assert httpx.get(f"{owt_server.url}/_owt/endpoints/{name}").status_code == 404
    else:
        httpx.delete(f"{owt_server.url}/_owt/endpoints/{name}")


def test_register_by_hash_of_code_sent_before(owt_server: Any) -> None:
    code = "def run(x: float): return x / 2\n"
    assert call(owt_server.url, code, x=1).status_code == 200
    sha = hashlib.sha256(code.encode()).hexdigest()
    assert register(owt_server.url, "half", code_sha256=sha).status_code == 201
    assert httpx.get(owt_server.url + "/half?x=3").text == "1.5"
    httpx.delete(owt_server.url + "/_owt/endpoints/half")


# -- code by hash ----------------------------------------------------------------------------


def test_code_sha256_after_the_code_was_sent_once(owt_server: Any) -> None:
    code = 'def run(name): return f"hash {name}"\n'
    sha = hashlib.sha256(code.encode()).hexdigest()
    assert call(owt_server.url, code, name="a").text == "hash a"
    r = httpx.post(owt_server.url + "/", json={"code_sha256": sha.upper(), "kwargs": {"name": "b"}})
    assert r.text == "hash b"
    r = httpx.get(owt_server.url + "/", params={"code_sha256": "f" * 64})
    assert r.status_code == 404
    assert r.json()["error"] == "unknown_code"


# -- across a restart ------------------------------------------------------------------------


def test_registered_endpoints_and_codes_survive_a_restart(start_server: Any, tmp_path: Path):
    flags = ("--state-dir", str(tmp_path), "--max-codes", "2")
    first = start_server(*flags)
    assert register(first.url, "square", code_b64=b64(SQUARE), kwargs={"n": 5}).status_code == 201
    forgotten, code = "def run(): return 'old'\n", "def run(): return 'remembered'\n"
    for sent in (forgotten, "x = 1\ndef run(): pass\n", code):
        assert call(first.url, sent).status_code == 200
    assert first.stop() == 0

    second = start_server(*flags)
    assert httpx.get(second.url + "/square").text == "25"
    assert httpx.get(second.url + "/square?n=4").text == "16"
    sha = hashlib.sha256(code.encode()).hexdigest()
    assert httpx.get(second.url + "/", params={"code_sha256": sha}).text == "remembered"
    old = hashlib.sha256(forgotten.encode()).hexdigest()
    r = httpx.get(second.url + "/", params={"code_sha256": old})  # over --max-codes: dropped
    assert r.json()["error"] == "unknown_code"
    assert httpx.delete(second.url + "/_owt/endpoints/square").status_code == 200
    assert second.stop() == 0

    third = start_server("--state-dir", str(tmp_path))
    assert httpx.get(third.url + "/_owt/endpoints").json() == {"endpoints": []}


def test_codes_on_disk_are_bounded(tmp_path: Path) -> None:
    from owt.server.codes import CodeStore
    from owt.server.statedb import StateDB

    codes = {hashlib.sha256(c.encode()).hexdigest(): c for c in map("x = {}\n".format, range(5))}
    db = StateDB(tmp_path)
    store = CodeStore(3, db)
    for sha, code in codes.items():
        store.add(sha, code)
    assert len(store) == 3
    fresh = CodeStore(3, db)  # as after a restart: only the database remembers
    first, *_, last = codes
    assert fresh.get(first) is None
    assert fresh.get(last) == codes[last]
    db.close()


# -- the example -----------------------------------------------------------------------------


def test_example_script_against_a_mounting_server(start_server: Any) -> None:
    server = start_server("--mount", "greet=example/endpoints/greet.py")
    port = server.url.rsplit(":", 1)[1]
    done = subprocess.run(
        ["bash", str(ROOT / "example/endpoints/run.sh")],
        capture_output=True,
        text=True,
        env={**os.environ, "OWT_PORT": port, "OWT_ADDRESS": "127.0.0.1"},
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:5] == [
        "Hello, owt!",
        "HELLO, OWT!",
        "HELLO, OWT!",
        "Hello, owt! #python #http",
        "Hello, JSON!",
    ]
    assert "parameter 'times' expects an integer" in lines[5]
