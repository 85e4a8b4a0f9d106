"""``clients/js/owt.js`` in node against a real server: how it fails, and what it reads.

Every road that reads a body (``call``, ``stream``, ``decode(send())``, ``endpoint``,
``endpointStream``, ``decode(sendEndpoint())``, by POST and GET) turns a body that ends early
into ``OwtError`` ``stream_failed`` and an SSE body's ``event: error`` into the server's own
error; a URL's credentials are the call's auth and never shown; the ``[DONE]`` item of an
``sse()`` stream is data. (The rest of the client: ``node --test`` in clients/js.)
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import OwtProcess
from jsclient import node

MIDWAY = 'def run(s: str):\n    yield s\n    raise ValueError("mid")\n'
SSE_MIDWAY = (
    "def items(s):\n    yield s\n    raise ValueError('sse mid')\n"
    "def run(s: str):\n    return sse(items(s))\n"
)

# Each road to a body, as JavaScript: S is the server, CODE the adaptor, PATH its endpoint.
ROADS = {
    "call": "owt.call(S, CODE, { s: 'x' })",
    "call GET": "owt.call(S, CODE, { s: 'x' }, { method: 'GET' })",
    "stream": "owt.stream(S, CODE, { s: 'x' })",
    "decode(send())": "owt.send(S, CODE, { s: 'x' }).then(owt.decode)",
    "endpoint": "owt.endpoint(S + PATH, { s: 'x' })",
    "endpoint GET": "owt.endpoint(S + PATH, { s: 'x' }, { method: 'GET' })",
    "endpointStream": "owt.endpointStream(S + PATH, { s: 'x' })",
    "endpointStream GET": "owt.endpointStream(S + PATH, { s: 'x' }, { method: 'GET' })",
    "decode(sendEndpoint())": "owt.sendEndpoint(S + PATH, { s: 'x' }).then(owt.decode)",
}
STREAMS = {"stream", "endpointStream", "endpointStream GET"}


def road(name: str) -> str:
    """JavaScript that makes the call of road ``name`` and returns what came of it."""
    expression = ROADS[name]
    return f"return {'collect' if name in STREAMS else 'outcome'}({expression});"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwtProcess]:
    folder = tmp_path_factory.mktemp("adaptors")
    (folder / "midway.py").write_text(MIDWAY)
    (folder / "sse_midway.py").write_text("from owt.lib.stream import sse\n" + SSE_MIDWAY)
    server = OwtProcess(
        "--timeout", "10", "--mount", f"midway={folder / 'midway.py'}",
        "--mount", f"sse-midway={folder / 'sse_midway.py'}",
    )  # fmt: skip
    yield server
    server.stop()


@pytest.mark.parametrize("name", ROADS)
def test_a_body_cut_midway_is_stream_failed_on_every_road(server: OwtProcess, name: str) -> None:
    got = node(road(name), S=server.url, CODE=MIDWAY, PATH="/midway")
    error = got["error"]
    assert (error["name"], error["kind"], error["status"]) == ("OwtError", "stream_failed", 200)
    assert error["message"].startswith("stream_failed (200): the response ended early (")
    assert (
        "the server stopped, the connection was cut, or the adaptor failed midway"
        in (error["message"])
    )
    assert error["cause"]  # fetch's own error
    if name in STREAMS:
        assert got["items"] == ["x"]  # what came before the cut


@pytest.mark.parametrize("name", ROADS)
def test_an_sse_event_error_is_the_servers_error_on_every_road(
    server: OwtProcess, name: str
) -> None:
    got = node(road(name), S=server.url, CODE=SSE_MIDWAY, PATH="/sse-midway")
    error = got["error"]
    assert (error["kind"], error["status"]) == ("adaptor_error", 200)
    assert error["message"] == "adaptor_error (200): ValueError: sse mid"
    assert "raise ValueError('sse mid')" in error["traceback"]
    if name in STREAMS:
        assert "".join(got["items"]).startswith("id: 1\ndata: x\n\nevent: error\n")


def test_events_throw_the_servers_error(server: OwtProcess) -> None:
    for method in ("POST", "GET"):
        got = node(
            "return collect(owt.events(S, CODE, { s: 'x' }, { method: M }));",
            S=server.url,
            CODE=SSE_MIDWAY,
            M=method,
        )
        assert got["items"] == ["x"]
        assert (got["error"]["kind"], got["error"]["message"]) == (
            "adaptor_error",
            "adaptor_error (200): ValueError: sse mid",
        )


# -- a server that stops midway: no event: error came, so the message claims no cause -------

KILLED = """
import os, signal, time
from owt.lib.stream import sse

def items():
    yield "a"
    time.sleep(0.5)  # "a" reaches the client first
    os.kill(os.getpid(), signal.SIGKILL)  # --in-process: this is the server
    yield "b"

def run(as_events: bool = False):
    return sse(items()) if as_events else items()
"""
STOPPED = {
    "call": ("return outcome(owt.call(S, CODE));", None),
    "stream": ("return collect(owt.stream(S, CODE));", ["a"]),
    "events": ("return collect(owt.events(S, CODE, { as_events: true }));", ["a"]),
    "call of events": ("return outcome(owt.call(S, CODE, { as_events: true }));", None),
}


@pytest.mark.parametrize("name", STOPPED)
def test_a_server_that_stops_midway_is_a_stream_that_ended_early(
    start_server: Any, name: str
) -> None:
    server = start_server("--in-process")
    body, items = STOPPED[name]
    got = node(body, S=server.url, CODE=KILLED)
    error = got["error"]
    assert (error["kind"], error["status"]) == ("stream_failed", 200)
    assert "ended early" in error["message"]
    assert "the server stopped, the connection was cut, or the adaptor failed" in error["message"]
    assert "most likely" not in error["message"]
    if items is not None:
        assert got["items"] == items


# -- credentials in the URL -----------------------------------------------------------------

PASSWORD = "p@ss:wörd"  # percent-encoded in a URL
IN_URL = "p%40ss%3Aw%C3%B6rd"


@pytest.fixture(scope="module")
def guarded() -> Iterator[OwtProcess]:
    digest = hashlib.sha256(PASSWORD.encode()).hexdigest()
    server = OwtProcess("--timeout", "10", "--auth", f"alice:{digest}")
    yield server
    server.stop()


CREDENTIAL_ROADS = {
    "call": "owt.call(U, 'def run(): return 1')",
    "call GET": "owt.call(U + '/p', 'def run(): return 1', {}, { method: 'GET' })",
    "stream": "owt.stream(U, 'def run(): return 1').next().then((r) => r.value)",
    "upload": "owt.call(U, 'def run(request): return len(request.data)', {}, { body: 'ab' })",
    "endpoint": "owt.endpoint(U + '/_owt/status', {}, { method: 'GET' }).then((s) => 'ok')",
}


@pytest.mark.parametrize("name", CREDENTIAL_ROADS)
def test_credentials_in_the_url_are_the_calls_auth(guarded: OwtProcess, name: str) -> None:
    with_credentials = guarded.url.replace("http://", f"http://alice:{IN_URL}@")
    got = node(f"return outcome({CREDENTIAL_ROADS[name]});", U=with_credentials)
    assert got.get("value") in ("1", "2", "ok"), got
    refused = node(f"return outcome({CREDENTIAL_ROADS[name]});", U=guarded.url)
    assert refused["error"]["kind"] == "unauthorized"


def test_the_options_auth_beats_the_urls(guarded: OwtProcess) -> None:
    wrong = guarded.url.replace("http://", "http://alice:wrong@")
    got = node(
        "return outcome(owt.call(U, 'def run(): return 1', {}, { auth: ['alice', P] }));",
        U=wrong,
        P=PASSWORD,
    )
    assert got == {"value": "1"}


def test_fetch_never_sees_the_credentials(guarded: OwtProcess) -> None:
    with_credentials = guarded.url.replace("http://", f"http://alice:{IN_URL}@")
    got = node(
        "const sent = [];\n"
        "const fetch = (address, init) => {\n"
        "  sent.push([address, init.headers.get('authorization')]);\n"
        "  return globalThis.fetch(address, init);\n"
        "};\n"
        "await owt.call(U, 'def run(): return 1', {}, { fetch, reuse: false });\n"
        "return sent;",
        U=with_credentials,
    )
    [(address, authorization)] = got
    assert address == guarded.url + "/"
    assert authorization == "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


def test_wrong_credentials_are_unauthorized_and_never_shown(guarded: OwtProcess) -> None:
    wrong = guarded.url.replace("http://", "http://alice:s3cr3t@")
    got = node("return outcome(owt.call(U, 'def run(): return 1'));", U=wrong)
    assert (got["error"]["kind"], got["error"]["status"]) == ("unauthorized", 401)
    assert "s3cr3t" not in str(got)


def test_no_message_shows_a_urls_credentials() -> None:
    cases = {
        # no server there: the network's failure, naming the server without its credentials
        "nowhere": "owt.call('http://alice:s3cr3t@127.0.0.1:9/', 'def run(): return 1')",
        # not a URL at all
        "bad url": "owt.call('http://alice:s3cr3t@[bad', 'def run(): return 1')",
        "bad endpoint url": "owt.endpoint('http://alice:s3cr3t@[bad')",
        "unencoded": "owt.call('http://alice:s3/cr@3t@[bad', 'def run(): return 1')",
    }
    got = {name: node(f"return outcome({js});")["error"] for name, js in cases.items()}
    assert not any(secret in str(got) for secret in ("s3cr3t", "s3/cr", "cr@3t")), got
    assert got["nowhere"]["kind"] == "connection_failed"
    assert got["nowhere"]["message"].startswith(
        "connection_failed: cannot reach http://127.0.0.1:9"
    )
    for name in ("bad url", "bad endpoint url", "unencoded"):
        assert got[name]["name"] == "TypeError"
        assert got[name]["message"] == (
            '"http://***@[bad" is not a URL: give the server\'s address, such as '
            '"http://127.0.0.1:9876" (or a path below it)'
        )


def test_a_request_fetch_cannot_make_is_a_typeerror_not_a_connection_failure(
    owt_server: OwtProcess,
) -> None:
    cases = {
        "header name": "owt.call(S, 'def run(): return 1', {}, { headers: { 'x\\n': '1' } })",
        "header value": "owt.endpoint(S + '/e', {}, { headers: [['x-a', 'a\\nb']] })",
        "method": "owt.call(S, 'def run(): return 1', {}, { method: 'GE T' })",
        "stream in use": (
            "(() => { const body = new ReadableStream(); body.getReader();"
            " return owt.call(S, 'def run(): return 1', {}, { body }); })()"
        ),
    }
    for name, js in cases.items():
        error = node(f"return outcome({js});", S=owt_server.url)["error"]
        assert error["name"] == "TypeError", (name, error)
        assert error["kind"] is None, name
    error = node(f"return outcome({cases['method']});", S=owt_server.url)["error"]
    assert error["message"] == "this request cannot be sent: 'GE T' is not a valid HTTP method."
    error = node(f"return outcome({cases['header value']});", S=owt_server.url)["error"]
    assert error["message"].startswith("this request cannot be sent: ")
    assert "a header of options.headers, or options.token, holds a line break" in error["message"]


# -- the end of an event stream --------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_an_item_that_is_the_text_done_is_data(owt_server: OwtProcess, method: str) -> None:
    code = "def run():\n    return sse(['x', '[DONE]', 'y'])\n"
    got = node(
        "return collect(owt.events(S, CODE, {}, { method: M }));",
        S=owt_server.url,
        CODE=code,
        M=method,
    )
    assert got == {"items": ["x", "[DONE]", "y"]}


def test_the_event_parser_ends_at_the_done_id() -> None:
    got = node(
        """
        const parse = (...texts) => {
          const parser = new owt.EventParser();
          const events = texts.flatMap((text) => parser.feed(text));
          return [events.concat(parser.end()), parser.done];
        };
        return [
          parse("id: 1\\ndata: [DONE]\\n\\nid: 2\\ndata: 2\\n\\n",
                "id: [DONE]\\ndata: [DONE]\\n\\nid: 3\\ndata: 3\\n\\n"),
          parse("data: a\\n\\ndata: [DONE]\\n\\ndata: b\\n\\n"),  // no ids: not sse()'s
          parse("id: [DONE]\\n\\ndata: after\\n\\n"),
          parse("data: a\\r", "", "\\ndata: b\\r\\n\\r\\n"),  // a CRLF split between reads
          parse("data: 1\\n\\ndata: 2"),  // the last event ends with the text
        ];
        """
    )
    assert got == [
        [["[DONE]", 2], True],
        [["a"], True],
        [[], True],
        [["a\nb"], False],
        [[1, 2], False],
    ]


def test_a_large_event_in_many_reads_takes_linear_time() -> None:
    # Each read was searched again with all the event's text before it: 16 MB took 19 s.
    got = node(
        """
        const parser = new owt.EventParser();
        const piece = "a".repeat(16384);
        const start = performance.now();
        parser.feed("id: 1\\ndata: ");
        for (let i = 0; i < 1024; i++) parser.feed(piece);
        const [event] = parser.feed("\\n\\n");
        return [event.length, performance.now() - start];
        """
    )
    assert got[0] == 16 * 1024 * 1024
    assert got[1] < 3000
