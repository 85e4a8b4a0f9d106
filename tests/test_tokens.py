"""Tokens for browsers (SPEC §9): ``?token=`` on GET, never logged, never seen by the adaptor;
``--token auto`` makes one and prints the URL that carries it."""

from __future__ import annotations

import re

import httpx
from conftest import b64

TOKEN = "s3cret-t0ken-value"
SHOW_QUERY = "def run(request):\n    return request.full_path\n"


def test_a_token_in_the_query_of_a_get(start_server):
    server = start_server("--token", TOKEN, "-vv")  # -vv: uvicorn's access log too
    params = {"code_b64": b64(SHOW_QUERY), "token": TOKEN, "other": "kept"}
    r = httpx.get(server.url + "/shown", params=params)
    assert r.status_code == 200, r.text
    assert TOKEN not in r.text  # taken out before the adaptor runs
    assert "other=kept" in r.text
    r = httpx.get(server.url + "/_owt/status", params={"token": TOKEN})
    assert r.status_code == 200
    wrong = httpx.get(server.url + "/", params={**params, "token": "guess"})
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "unauthorized", "message": "the credentials are wrong"}
    # On a POST the token goes in the Authorization header; its URL travels further.
    post = httpx.post(server.url + "/", params={"token": TOKEN}, json={"code_b64": b64(SHOW_QUERY)})
    assert post.status_code == 401
    assert post.json()["error"] == "unauthorized"
    assert "only on GET" in post.json()["message"]
    assert "/shown" in server.log  # the access line was written ...
    assert TOKEN not in server.log  # ... without the token


def test_no_token_anywhere_needs_credentials(start_server):
    server = start_server("--token", TOKEN)
    r = httpx.get(server.url + "/", params={"code_b64": b64(SHOW_QUERY)})
    assert r.status_code == 401
    assert "?token=" in r.json()["message"]


def test_token_auto_prints_a_url_with_a_fresh_token(start_server):
    server = start_server("--token", "auto")
    line = next(line for line in server.lines if line.startswith("owt token "))
    match = re.fullmatch(r"owt token (\S+): open (http://\S+/_owt/\?token=(\S+))", line)
    assert match is not None, line
    token = match.group(1)
    assert match.group(3) == token
    assert len(token) >= 32
    assert httpx.get(server.url + "/_owt/status").status_code == 401
    assert httpx.get(server.url + "/_owt/status", params={"token": token}).status_code == 200
    bearer = {"Authorization": f"Bearer {token}"}
    r = httpx.post(server.url + "/", json={"code_b64": b64("def run(): return 1")}, headers=bearer)
    assert r.text == "1"
    other = start_server("--token", "auto")
    assert token not in other.log  # fresh each time
