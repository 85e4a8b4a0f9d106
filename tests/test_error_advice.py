"""Errors that say what to do (SPEC §8): each names the likely cause and the fix."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import b64, call

from owt.client import AsyncClient, Client, OwtError


def test_no_function_lists_the_functions_the_code_defines(owt_server: Any) -> None:
    code = "import json\ndef main(name):\n    return name\ndef helper():\n    pass\n"
    r = call(owt_server.url, code, name="owt")
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "no_function"
    assert "main, helper" in body["message"] or "helper, main" in body["message"]
    assert "fn_name=" in body["message"]
    assert "json" not in body["message"] and "pipe" not in body["message"]
    r = call(owt_server.url, "x = 1\n")
    assert "defines no function at all" in r.json()["message"]


def test_one_expression_that_is_no_function_says_how_to_make_it_one(owt_server: Any) -> None:
    r = call(owt_server.url, "1+1")
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "no_function"
    assert body["message"].startswith("the code is one expression whose value is 2 (an int)")
    assert "lambda: ..." in body["message"] and "def run(" in body["message"]


def test_a_pipe_step_that_is_also_a_helper_says_how_to_call_the_helper(owt_server: Any) -> None:
    # sse(...) alone reads as a terse pipe (pipe().sse(...)), whose step takes no items
    r = call(owt_server.url, "sse(range(3))")
    assert r.status_code == 422
    assert "to call the sse() helper" in r.json()["message"]
    assert "lambda: sse(range(3))" in r.json()["message"]
    r = call(owt_server.url, "lambda: sse(range(3))")  # as the message says
    assert r.status_code == 200 and "data: 0\n" in r.text


def test_a_misspelled_code_field_is_named_with_the_field_meant(start_server: Any) -> None:
    server = start_server()  # its own: a shared server may replay a cached path with no code
    code = b64("def run(): return 1")
    for r in (
        httpx.post(server.url + "/", json={"code": code}),
        httpx.get(server.url + "/misspelled", params={"code_64": code, "name": "owt"}),
    ):
        body = r.json()
        assert r.status_code == 400 and body["error"] == "missing_code", r.text
        assert "(did you mean code_b64?)" in body["message"]
        assert "name" not in body["message"].split("sent", 1)[1]  # an argument is no typo


def test_unknown_env_says_how_to_add_one(owt_server: Any) -> None:
    r = call(owt_server.url, "def run(): return 1", fields={"env": "ml"})
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "unknown_env" and body["known"] == ["main"]
    assert "--env ml=" in body["message"] and "requirements=" in body["message"]


def test_a_call_field_sent_as_an_argument_says_where_it_goes(owt_server: Any) -> None:
    # `owt call URL spin.py timeout:=1` makes timeout an argument of run().
    r = call(owt_server.url, "def run(n=1): return n", fields={"kwargs": {"timeout": 1}})
    assert r.status_code == 400
    message = r.json()["message"]
    assert "unexpected argument(s) 'timeout'" in message
    assert "'timeout' is a field of the call" in message and "--timeout" in message
    assert "client.adaptor(code, timeout=...)" in message  # owt.call(code, timeout=1)
    other = call(owt_server.url, "def run(n=1): return n", colour="red").json()["message"]
    assert "field of the call" not in other


def test_a_missing_module_suggests_requirements_or_env(owt_server: Any) -> None:
    r = call(owt_server.url, "def run():\n    import owt_no_such_module.sub\n")
    assert r.status_code == 500
    message = r.json()["message"]
    assert 'requirements=["owt_no_such_module"]' in message and "env=" in message
    r = call(owt_server.url, "import owt_no_such_module\ndef run():\n    pass\n")
    assert r.status_code == 422
    assert 'requirements=["owt_no_such_module"]' in r.json()["message"]


def test_a_path_that_is_no_endpoint_lists_the_endpoints(start_server: Any, tmp_path: Path) -> None:
    (tmp_path / "greet.py").write_text("def run(name='owt'):\n    return name\n")
    server = start_server("--mount", f"greet={tmp_path / 'greet.py'}")
    r = httpx.get(server.url + "/greeet")
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "missing_code"
    assert "/greeet is not an endpoint" in body["message"] and "/greet" in body["message"]


def test_a_mounted_file_without_run_is_told_what_its_owner_can_do(
    start_server: Any, tmp_path: Path
) -> None:
    (tmp_path / "greet.py").write_text("def greet(name='owt'):\n    return name\n")
    server = start_server("--mount", f"greet={tmp_path / 'greet.py'}")
    body = httpx.get(server.url + "/greet").json()
    assert body["error"] == "no_function"
    assert "it defines: greet" in body["message"]
    assert "send fn_name" not in body["message"]  # an endpoint's caller cannot choose it
    assert "\"fn_name\": 'greet'" in body["message"] and "/_owt/endpoints/" in body["message"]


def test_a_path_on_a_server_without_endpoints(start_server: Any) -> None:
    server = start_server()
    message = httpx.get(server.url + "/nothing").json()["message"]
    assert "/nothing is not an endpoint" in message and "code_b64" in message
    assert "endpoint" not in httpx.get(server.url + "/").json()["message"]


def test_client_call_of_a_missing_file_says_so(owt_server: Any, tmp_path: Path) -> None:
    with Client(owt_server.url) as client:
        with pytest.raises(FileNotFoundError, match=r"no file 'helo\.py'"):
            client.call("helo.py", name="owt")
        with pytest.raises(FileNotFoundError, match="no file"):
            client.call(str(tmp_path / "sub dir" / "hello.py"))
        # Code that merely ends in ".py" is still code: it reaches the server.
        with pytest.raises(OwtError, match="has no attribute 'py'"):
            client.call("lambda x: x.py", x=None)


REMOTE_MODULE_LEVEL = json  # imported at the top of this file, as users do


def test_remote_with_a_module_level_import_says_to_import_inside(owt_server: Any) -> None:
    with Client(owt_server.url) as client:

        @client.remote
        def dumps(value: int) -> str:
            return json.dumps(value)

        with pytest.raises(OwtError) as caught:
            dumps(1)
        assert "import it inside dumps()" in caught.value.message
        assert caught.value.kind == "adaptor_error"

    async def main() -> None:
        async with AsyncClient(owt_server.url) as client:

            @client.remote
            def adumps(value: int) -> str:
                return json.dumps(value)

            with pytest.raises(OwtError, match="import it inside adumps"):
                await adumps(1)

    asyncio.run(main())


def test_base64_wrapped_kwargs_in_a_body(owt_server: Any) -> None:
    wrapped = b64("x" * 100)
    wrapped = wrapped[:76] + "\n" + wrapped[76:]
    body = '{"code_b64": "' + b64("def run(): pass") + '", "kwargs_b64": "' + wrapped + '"}'
    r = httpx.post(owt_server.url + "/", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "tr -d" in r.json()["message"]
