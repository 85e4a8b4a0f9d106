"""SPEC §9 against a real server: basic auth and bearer tokens on every route but health,
CORS only when asked (preflight without credentials), the public-bind guard."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import httpx
import pytest
from conftest import OWT, OwtProcess, b64, wait_until

from owt.server.protocol import sha256_of

PASSWORD = "s3cret-Passw0rd"
TOKEN = "tok-7f3a9c1e5b"
ORIGIN = "https://app.example"
HELLO = "def run(name='owt'): return f'Hello, {name}!'"


@pytest.fixture(scope="module")
def guarded() -> Iterator[OwtProcess]:
    server = OwtProcess(
        "--auth", f"alice:{sha256_of(PASSWORD)}", "--token", TOKEN, "--cors", ORIGIN, "-vv"
    )
    yield server
    server.stop()


def body() -> dict:
    return {"code_b64": b64(HELLO)}


def assert_refused(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "unauthorized"
    challenges = r.headers.get_list("www-authenticate")
    assert any(c.startswith("Basic ") for c in challenges)
    assert any(c.startswith("Bearer ") for c in challenges)


def test_calls_and_admin_routes_need_credentials(guarded):
    assert_refused(httpx.post(guarded.url + "/", json=body()))
    assert_refused(httpx.get(guarded.url + "/any/path", params=body()))
    assert_refused(httpx.get(guarded.url + "/_owt/status"))
    assert_refused(httpx.delete(guarded.url + "/_owt/cache"))
    assert_refused(httpx.get(guarded.url + "/_owt/no-such-route"))


def test_health_is_open_and_says_only_ok(guarded):
    r = httpx.get(guarded.url + "/_owt/health")
    assert r.status_code == 200
    assert r.text == "ok"


def test_basic_auth_accepted(guarded):
    auth = ("alice", PASSWORD)
    r = httpx.post(guarded.url + "/", json=body(), auth=auth)
    assert r.status_code == 200
    assert r.text == "Hello, owt!"
    status = httpx.get(guarded.url + "/_owt/status", auth=auth)
    assert status.status_code == 200
    assert "cache" in status.json()


def test_bearer_token_accepted(guarded):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.post(guarded.url + "/", json=body(), headers=headers).text == "Hello, owt!"
    assert httpx.get(guarded.url + "/_owt/status", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Basic " + b64(f"alice:{PASSWORD}x"),  # wrong password
        "Basic " + b64(f"bob:{PASSWORD}"),  # unknown user
        "Basic " + b64(f"alice:{sha256_of(PASSWORD)}"),  # the hash is not the password
        "Basic not-base64!",
        "Basic " + b64("no-colon"),
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        "Bearer",
        f"Token {TOKEN}",
        TOKEN,
    ],
)
def test_wrong_credentials_refused(guarded, header):
    r = httpx.post(guarded.url + "/", json=body(), headers={"Authorization": header})
    assert_refused(r)
    assert r.json()["message"] == "the credentials are wrong"


def test_credentials_never_reach_the_log(guarded):
    httpx.post(guarded.url + "/", json=body(), auth=("alice", PASSWORD))
    httpx.post(guarded.url + "/", json=body(), auth=("alice", PASSWORD + "x"))
    httpx.post(guarded.url + "/", json=body(), headers={"Authorization": f"Bearer {TOKEN}"})
    httpx.post(guarded.url + "/", json=body(), headers={"Authorization": f"Bearer {TOKEN}x"})
    # Refused before auth reads them (a foreign page's request), or spelled another way.
    foreign = {"Origin": "http://evil.example"}
    httpx.get(guarded.url + "/x", params={"token": TOKEN, "a": "1"}, headers=foreign)
    httpx.get(f"{guarded.url}/x?%74oken={TOKEN}x&a=1", headers=foreign)
    # A WebSocket handshake is plain HTTP to owt: no layer that logs its query and headers.
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    r = httpx.get(guarded.url + "/ws", params={"token": TOKEN + "y"}, headers=upgrade)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    r = httpx.get(guarded.url + "/ws", auth=("alice", PASSWORD), headers=upgrade)
    assert r.status_code == 400 and r.json()["error"] == "missing_code"  # in, as any call
    assert wait_until(lambda: "GET /ws 400" in guarded.log, 5)  # the last line is written
    log = guarded.log
    assert "401" in log  # it does log refusals (at -vv), just not what was sent
    for secret in (PASSWORD, TOKEN, sha256_of(PASSWORD), b64(f"alice:{PASSWORD}")):
        assert secret not in log
    assert log.count("oken=hidden&a=1") == 2  # token=, %74oken=
    assert "WebSocket library" not in log  # nor uvicorn's advice to install one


def test_cors_preflight_needs_no_credentials(guarded):
    r = httpx.options(
        guarded.url + "/",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    assert "POST" in r.headers["access-control-allow-methods"]


def test_cors_headers_on_answers_and_refusals(guarded):
    ok = httpx.post(
        guarded.url + "/", json=body(), auth=("alice", PASSWORD), headers={"Origin": ORIGIN}
    )
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    refused = httpx.post(guarded.url + "/", json=body(), headers={"Origin": ORIGIN})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == ORIGIN  # a page can read the 401
    other = httpx.post(
        guarded.url + "/",
        json=body(),
        auth=("alice", PASSWORD),
        headers={"Origin": "https://evil.example"},
    )
    assert other.status_code == 403
    assert "access-control-allow-origin" not in other.headers


def test_no_cors_headers_unless_asked(owt_server):
    r = httpx.post(owt_server.url + "/", json=body(), headers={"Origin": ORIGIN})
    assert r.status_code == 403  # a foreign page without --cors runs nothing
    assert r.json()["error"] == "forbidden_origin"
    assert not any(h.startswith("access-control-") for h in r.headers)
    pre = httpx.options(
        owt_server.url + "/",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in pre.headers


def test_env_credentials_comma_separated(start_server):
    server = start_server(
        env={"OWT_AUTH": f"alice:{sha256_of('one')},bob:{sha256_of('two')}", "OWT_TOKEN": "t1, t2"}
    )
    for auth in (("alice", "one"), ("bob", "two")):
        assert httpx.post(server.url + "/", json=body(), auth=auth).status_code == 200
    for token in ("t1", "t2"):
        r = httpx.post(server.url + "/", json=body(), headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
    assert httpx.post(server.url + "/", json=body(), auth=("bob", "one")).status_code == 401


def test_a_malformed_auth_flag_refuses_to_start():
    r = subprocess.run(
        [*OWT, "serve", "--port", "0", "--auth", "alice:secret"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode != 0
    assert "USER:SHA256HEX" in r.stderr
    assert "owt serving" not in r.stdout


def test_public_address_without_credentials_refuses_with_one_line():
    r = subprocess.run(
        [*OWT, "serve", "--address", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--auth" in lines[0] and "--token" in lines[0]


def test_public_address_with_a_token_starts(start_server):
    server = start_server("--address", "0.0.0.0", "--token", TOKEN)
    assert server.url.startswith("http://0.0.0.0:")
    local = server.url.replace("0.0.0.0", "127.0.0.1")
    assert httpx.post(local + "/", json=body()).status_code == 401
    r = httpx.post(local + "/", json=body(), headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.text == "Hello, owt!"
