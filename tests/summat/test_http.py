"""Pipes over HTTP against a real ``owt serve``: all three adaptor shapes, streaming, the
example, and refusals as the errors a client sees."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
from conftest import ROOT, OwtProcess, b64, call

SHOUT = (ROOT / "example" / "summat" / "simple" / "shout.py").read_text()


def get(server: OwtProcess, code: str, path: str = "/", args: object = None) -> httpx.Response:
    params = {"code_b64": b64(code)}
    if args is not None:
        params["kwargs_b64"] = b64(json.dumps(args))
    return httpx.get(server.url + path, params=params, timeout=30)


def post(server: OwtProcess, code: str, **kwargs: object) -> httpx.Response:
    # Not conftest.call: its own ``path`` parameter would swallow the pipe's ``path`` argument.
    body = {"code_b64": b64(code), "kwargs": kwargs}
    return httpx.post(server.url + "/", json=body, timeout=30)


def test_explicit_shape(owt_server: OwtProcess) -> None:
    code = 'run = pipe().kwarg("name").f(lambda name: f"Hello, {name}!")'
    r = call(owt_server.url, code, name="owt")
    assert (r.status_code, r.text) == (200, "Hello, owt!")


def test_explicit_shape_with_done_and_fn_name(owt_server: OwtProcess) -> None:
    code = 'double = pipe().kwarg("n").cast(int).f(lambda n: n * 2).done()'
    r = call(owt_server.url, code, fields={"fn_name": "double"}, n="21")
    assert r.json() == 42


def test_implicit_shape(owt_server: OwtProcess) -> None:
    r = get(owt_server, 'pipe().kwarg("xs").map(str.upper)', args={"xs": ["a", "b"]})
    assert r.json() == ["A", "B"]


def test_terse_shape_reads_the_path(owt_server: OwtProcess) -> None:
    r = get(owt_server, 'path().f(lambda names: f"Hello {names[0]}!")', path="/world")
    assert r.text == "Hello world!"


def test_a_value_that_is_not_a_dict_starts_the_pipe(owt_server: OwtProcess) -> None:
    assert get(owt_server, "pipe().f(lambda x: x * 3)", args=7).text == "21"
    assert get(owt_server, "last().ix(0)", args=["first", "second"]).text == "s"


def test_json_reads_a_posted_calls_extra_fields(owt_server: OwtProcess) -> None:
    body = {"code_b64": b64('json().get("text").sentences()'), "text": "One. Two."}
    r = httpx.post(owt_server.url + "/", json=body, timeout=30)
    assert r.json() == ["One.", "Two."]


def test_query_reads_extra_query_parameters(owt_server: OwtProcess) -> None:
    params = {"code_b64": b64('query().get("q")'), "q": "ey up"}
    assert httpx.get(owt_server.url + "/", params=params, timeout=30).text == "ey up"


def test_sse_pipe_streams_events(owt_server: OwtProcess) -> None:
    code = 'kwarg("text").sentences().each(str.upper).sse()'
    body = {"code_b64": b64(code), "kwargs": {"text": "Ey up. Owt fancy? Aye!"}}
    with httpx.stream("POST", owt_server.url + "/", json=body, timeout=30) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert events == ["data: EY UP.", "data: OWT FANCY?", "data: AYE!", "data: [DONE]"]


def test_read_a_file_and_shout_example(owt_server: OwtProcess) -> None:
    r = post(owt_server, SHOUT, path="summat/simple/owt.txt")
    assert r.status_code == 200
    assert r.text == "SERVE UP OWT YER FANCY ON T'FLY.\n"


def test_escaping_root_dir_is_refused(owt_server: OwtProcess) -> None:
    for name in ("../pyproject.toml", "/etc/passwd"):
        r = post(owt_server, SHOUT, path=name)
        assert r.status_code == 403
        assert r.json()["error"] == "forbidden"
        assert "root_dir" in r.json()["message"]
        assert str(ROOT) not in r.text  # no server path in the refusal
    r = post(owt_server, SHOUT, path="summat/simple/missing.txt")
    assert r.status_code == 404
    assert r.json() == {
        "error": "not_found",
        "message": "open(): no file 'summat/simple/missing.txt' under root_dir",
    }


def test_installing_is_refused_without_allow_install(owt_server: OwtProcess) -> None:
    r = get(owt_server, 'const(1).installing("pip")')
    assert r.status_code == 500
    assert r.json()["type"] == "PermissionError"
    assert "--allow-install" in r.json()["message"]


def test_missing_argument_is_a_bad_request(owt_server: OwtProcess) -> None:
    r = get(owt_server, 'kwarg("name")')
    assert r.status_code == 400
    assert r.json()["error"] == "bad_request"
    assert r.json()["field"] == "name"


def test_wav_pipe_returns_audio_bytes(owt_server: OwtProcess) -> None:
    r = get(owt_server, 'kwarg("samples").wav(8000)', args={"samples": [0.0, 0.5, -0.5]})
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.content[:4] == b"RIFF"


def test_a_forks_tuple_is_sent_as_a_json_array(owt_server: OwtProcess) -> None:
    cases = {
        'kwarg("x").fork(str.upper, len)': ["OWT", 3],
        'kwarg("x").fork(str.upper, lambda s: {"a": s})': ["OWT", {"a": "owt"}],
        'kwarg("x").fork(str.upper, lambda s: 404)': ["OWT", 404],
    }
    for code, expected in cases.items():
        r = post(owt_server, code, x="owt")
        assert (r.status_code, r.json()) == (200, expected), code
        assert "a" not in r.headers


def test_a_pipes_own_function_may_still_answer_a_status(owt_server: OwtProcess) -> None:
    r = post(owt_server, 'kwarg("x").f(lambda s: (s, 404))', x="owt")
    assert (r.status_code, r.text) == (404, "owt")
    r = post(owt_server, "def run(x):\n    return x, 201\n", x="owt")  # a plain adaptor
    assert (r.status_code, r.text) == (201, "owt")


def test_a_pipe_not_named_run_is_named_in_the_error(owt_server: OwtProcess) -> None:
    r = post(owt_server, 'shout = pipe().kwarg("x").f(str.upper)', x="owt")
    assert (r.status_code, r.json()["error"]) == (422, "no_function")
    message = r.json()["message"]
    assert "it defines: shout" in message and "fn_name='shout'" in message


def test_mounted_pipes_read_paths_and_typed_defaults(
    start_server: Callable[..., OwtProcess], tmp_path: Path
) -> None:
    (tmp_path / "openf.py").write_text(
        f'pipe().kwarg("path").open(root_dir={str(ROOT / "example")!r}).bytes()\n'
    )
    (tmp_path / "kwp.py").write_text('kwargs(n=1, name="x").f(lambda n, name: name * n)\n')
    server = start_server(
        *("--mount", f"openf={tmp_path / 'openf.py'}"),
        *("--mount", f"kwp={tmp_path / 'kwp.py'}"),
    )
    url = server.url
    ok = httpx.get(f"{url}/openf", params={"path": "summat/simple/owt.txt"}, timeout=30)
    assert ok.content == b"Serve up owt yer fancy on t'fly.\n"
    for bad in ("", "summat/simple/\x00x", "summat/simple/owt.txt/", "summat"):
        r = httpx.get(f"{url}/openf", params={"path": bad}, timeout=30)
        assert (r.status_code, r.json()["error"]) == (404, "not_found"), bad
        assert str(ROOT) not in r.text
    assert httpx.get(f"{url}/kwp", params={"n": "3"}, timeout=30).text == "xxx"
    assert httpx.get(f"{url}/kwp", params={"n": "2", "name": "ey"}, timeout=30).text == "eyey"
    assert httpx.get(f"{url}/kwp", timeout=30).text == "x"
    r = httpx.get(f"{url}/kwp", params={"n": "many"}, timeout=30)
    assert (r.status_code, r.json()["field"]) == (400, "n")
