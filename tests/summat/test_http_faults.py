"""The faults a user met trying summat, through the door they used: a call to a real
``owt serve``, in worker processes and ``--in-process``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import OwtProcess, b64, call


@pytest.fixture(scope="module")
def in_process() -> Iterator[OwtProcess]:
    server = OwtProcess("--in-process", "--timeout", "60")
    yield server
    server.stop()


@pytest.fixture(params=["workers", "in-process"])
def server(request: pytest.FixtureRequest) -> OwtProcess:
    name = "owt_server" if request.param == "workers" else "in_process"
    found: OwtProcess = request.getfixturevalue(name)
    return found


def failed(server: OwtProcess, code: str, **kwargs: Any) -> dict[str, Any]:
    r = call(server.url, code, **kwargs)
    assert r.status_code == 500, r.text
    body: dict[str, Any] = r.json()
    assert body["error"] == "adaptor_error"
    return body


def test_byte_chunks_are_decoded_across_their_boundaries(server: OwtProcess) -> None:
    # 500 UnicodeDecodeError: each chunk was decoded alone.
    chunks = '[b"\\xe4\\xbd", b"\\xa0\\xe5\\xa5\\xbd\\xe3\\x80\\x82", b"Ok."]'
    code = f"const({chunks}).f(iter).sentences()"
    r = call(server.url, code)
    assert (r.status_code, r.text) == (200, "你好。Ok.")


def test_sentences_takes_a_list_of_text_and_refuses_null(owt_server: OwtProcess) -> None:
    # ["['Hello.", "World.', 'Bye.']"] and ["None"]: the repr of what it was given.
    r = call(owt_server.url, 'kwarg("xs").sentences()', xs=["Hello. Wor", "ld. Bye."])
    assert r.json() == ["Hello.", "World.", "Bye."]
    body = failed(owt_server, 'kwarg("xs").sentences()', xs=None)
    assert body["message"].startswith("TypeError: sentences() takes text: a str, UTF-8 bytes")


def test_a_body_that_is_not_the_text_input_expects_is_the_callers_error(
    owt_server: OwtProcess,
) -> None:
    code = 'input("utf-8").sentences()'
    r = httpx.post(
        owt_server.url + "/",
        params={"code_b64": b64(code)},
        content=b"caf\xe9",
        timeout=30,
    )
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "body"
    assert r.json()["message"].startswith("input('utf-8'): the request body is not utf-8 text")


ASYNC_SSE = 'async def g(v):\n    yield v\nrun = pipe().kwarg("x").f(g).sse()'


def test_sse_streams_an_async_generator(server: OwtProcess) -> None:
    # 500 "async_generator is not JSON-able".
    r = call(server.url, ASYNC_SSE, x=2)
    assert r.status_code == 200, r.text
    assert r.text == "id: 1\ndata: 2\n\nid: [DONE]\ndata: [DONE]\n\n"


def test_json_lines_of_an_async_generator(owt_server: OwtProcess) -> None:
    code = 'async def g(v):\n    yield v\n    yield v + 1\nrun = pipe().kwarg("x").f(g).json_out()'
    r = call(owt_server.url, code, x=2)
    assert (r.status_code, r.text) == (200, "2\n3\n")


def test_an_async_def_mid_pipe_says_it_runs_only_last(owt_server: OwtProcess) -> None:
    # "unsupported operand type(s) for +: 'coroutine' and 'int'".
    code = "async def g(v):\n    return v\nrun = pipe().kwarg('x').f(g).f(lambda v: v + 1)"
    message = failed(owt_server, code, x=2)["message"]
    assert message.startswith("TypeError: f(g): g is an async def, and the next step")
    assert "an async def runs only as a pipe's last step" in message


@pytest.mark.parametrize(
    ("code", "kwargs", "message"),
    [
        ('kwarg("xs").map(str.upper)', {"xs": 5}, "map(str.upper): TypeError: 'int' object"),
        ('kwarg("xs").each(str.upper)', {"xs": 5}, "each(str.upper): TypeError: 'int' object"),
        ('kwarg("xs").f(str.upper)', {"xs": 5}, "f(str.upper): TypeError: descriptor 'upper'"),
        ('kwarg("xs").ix("a")', {"xs": [1]}, "ix('a'): TypeError: list indices must be"),
        ('const(b"\\xff").sentences()', {}, "sentences(): UnicodeDecodeError: 'utf-8' codec"),
        ("const([]).shell()", {}, "ValueError: shell(): the command is empty"),
    ],
)
def test_a_steps_failure_names_the_step(
    owt_server: OwtProcess, code: str, kwargs: dict[str, Any], message: str
) -> None:
    body = failed(owt_server, code, **kwargs)
    assert body["message"].startswith(message)
    step = message.partition(": ")[0] if not message.startswith("ValueError") else "shell()"
    assert body["traceback"].endswith(f"(in the pipe's step {step})\n")
    assert "subprocess.py" not in body["traceback"]


def test_a_failure_midway_through_a_stream_names_its_step(owt_server: OwtProcess) -> None:
    code = "def fail(x):\n    if x:\n        raise ValueError(x)\n    return x\n"
    code += "run = pipe().kwarg('xs').each(fail).sse()"
    body = {"code_b64": b64(code), "kwargs": {"xs": [0, 1]}}
    text = ""
    with (
        pytest.raises(httpx.RemoteProtocolError),  # the stream had begun: it is cut
        httpx.stream("POST", owt_server.url + "/", json=body, timeout=30) as r,
    ):
        for chunk in r.iter_text():
            text += chunk
    error = json.loads(text.strip().split("\n\n")[1].splitlines()[2].removeprefix("data: "))
    assert error["message"] == "each(fail): ValueError: 1"


def test_a_stream_as_an_item_of_a_stream_is_named_for_what_it_is(server: OwtProcess) -> None:
    # "cannot pickle 'generator' object", even --in-process where nothing is pickled.
    code = 'kwarg("xs").each(pipe().f(lambda x: iter([x, x])).sse())'
    message = failed(server, code, xs=[1])["message"]
    assert message.startswith("a streamed item cannot be sent: TypeError: a Response is only")
    code = 'kwarg("xs").each(lambda x: (y for y in [x, x]))'
    message = failed(server, code, xs=[1])["message"]
    assert message.startswith(
        "a streamed item cannot be sent: TypeError: a generator is itself a stream"
    )
    assert "flatten it (yield from it) or collect its items with list(...)" in message
    assert "pickle" not in message


def test_megabytes_of_sentences_are_split_within_the_call(in_process: OwtProcess) -> None:
    # 2.1 MB never finished: the call held its thread (and the GIL) past its timeout.
    code = 'kwarg("text").sentences().f(len)'
    r = call(in_process.url, code, timeout=90, text="Ey up. " * 300_000)
    assert (r.status_code, r.text) == (200, "300000")
