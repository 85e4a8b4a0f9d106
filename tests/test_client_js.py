"""``clients/js/owt.js`` in node against a real server: how it fails, and what it reads.

A URL's credentials are the call's auth and never shown in a message; a request that fetch
cannot make is the caller's TypeError, not a connection failure. (The rest of the client:
``node --test`` in clients/js.)
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest
from conftest import OwtProcess
from jsclient import node

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
    }
    got = {name: node(f"return outcome({js});")["error"] for name, js in cases.items()}
    assert "s3cr3t" not in str(got)
    assert got["nowhere"]["kind"] == "connection_failed"
    assert got["nowhere"]["message"].startswith(
        "connection_failed: cannot reach http://127.0.0.1:9"
    )
    for name in ("bad url", "bad endpoint url"):
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
