"""Browser protection (SPEC §9) against a real server: the headers a browser sends for a
foreign page are refused with 403 ``forbidden_origin`` before any code runs; what owt's own
pages, curl and the clients send passes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import b64

from owt.config import Settings
from owt.core.errors import ForbiddenOrigin
from owt.server.browser import check_browser


def marker_code(marker: Path) -> str:
    return f"def run():\n    open({str(marker)!r}, 'w').write('ran')\n    return 'ran'\n"


def attempt(server: Any, marker: Path, method: str = "GET", **kw: Any) -> httpx.Response:
    code = b64(marker_code(marker))
    if method == "GET":
        return httpx.get(server.url + "/", params={"code_b64": code}, **kw)
    return httpx.request(method, server.url + "/", params={"code_b64": code}, **kw)


def host_of(server: Any) -> str:
    return str(server.url.split("//", 1)[1])


def refused(r: httpx.Response, check: str) -> None:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["error"] == "forbidden_origin"
    assert body["check"] == check
    assert body["message"]


FOREIGN = [
    # DNS rebinding: the attacker's name resolves to 127.0.0.1.
    ({"Host": "evil.example:9876"}, "host"),
    ({"Host": "evil.example"}, "host"),
    ({"Host": "127.0.0.1.evil.example"}, "host"),
    # fetch(..., {mode: "no-cors"}) and form posts send the page's Origin.
    ({"Origin": "http://evil.example"}, "origin"),
    ({"Origin": "null"}, "origin"),
    ({"Origin": "http://127.0.0.1:1"}, "origin"),  # another port of this very host
    ({"Origin": "http://localhost:1", "Sec-Fetch-Site": "cross-site"}, "origin"),
    # <img>, <script src>, a followed link: no Origin, but Sec-Fetch-Site says where from.
    ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}, "fetch-site"),
    ({"Sec-Fetch-Site": "same-site", "Sec-Fetch-Dest": "image"}, "fetch-site"),
    ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}, "fetch-site"),
]


@pytest.mark.parametrize(("headers", "check"), FOREIGN)
def test_a_foreign_page_runs_no_code(owt_server, tmp_path, headers, check):
    marker = tmp_path / "ran"
    refused(attempt(owt_server, marker, headers=headers), check)
    assert not marker.exists()


def test_a_text_plain_post_from_another_page_runs_no_code(owt_server, tmp_path):
    marker = tmp_path / "ran"
    body = json.dumps({"code_b64": b64(marker_code(marker))})
    headers = {
        "Content-Type": "text/plain",
        "Origin": "http://evil.example",
        "Sec-Fetch-Site": "cross-site",
    }
    refused(httpx.post(owt_server.url + "/", content=body, headers=headers), "origin")
    assert not marker.exists()


def test_owt_s_own_pages_curl_and_typed_addresses_pass(owt_server, tmp_path):
    own = "http://" + host_of(owt_server)
    for headers in (
        {},  # curl, the clients
        {"Origin": own, "Sec-Fetch-Site": "same-origin"},  # a page owt served
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"},  # typed into the browser
        {"Host": "localhost:" + own.rsplit(":", 1)[1]},
        {"Host": "LOCALHOST"},
        {"Host": "[::1]:9"},
        {"Host": "127.0.0.2"},
    ):
        marker = tmp_path / "ran"
        r = attempt(owt_server, marker, headers=headers)
        assert (r.status_code, r.text) == (200, "ran"), headers
        assert marker.exists()
        marker.unlink()


BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0"}


def test_a_browser_sending_no_fetch_metadata_runs_no_code_for_a_foreign_page(
    start_server, tmp_path
):
    """On a name that is no secure context (``http://owt.lan``) a browser sends neither
    Origin nor Sec-Fetch-Site with an ``<img>``: its Referer names the page, and a page that
    hides it (no-referrer) cannot hide the browser's User-Agent."""
    server = start_server("--allowed-host", "owt.lan")
    own = "owt.lan:" + server.url.rsplit(":", 1)[1]
    host = {"Host": own}
    marker = tmp_path / "ran"
    for headers, check in [
        ({**host, **BROWSER}, "browser"),  # <img referrerpolicy="no-referrer">
        ({**host, **BROWSER, "Referer": "http://evil.example/page"}, "referer"),
        ({**host, "Referer": "http://evil.example/"}, "referer"),  # whoever names a foreign page
        ({**BROWSER, "Referer": "http://127.0.0.1:1/"}, "referer"),  # on loopback too
    ]:
        refused(attempt(server, marker, headers=headers), check)
    assert not marker.exists()
    for headers in [
        host,  # curl, the clients
        {**host, "User-Agent": "python-httpx/0.28"},
        {**host, **BROWSER, "Referer": f"http://{own}/_owt/"},  # a page owt served
        {**host, **BROWSER, "Authorization": "Bearer t"},  # a token no foreign page knows
        BROWSER,  # loopback: browsers send fetch metadata there (none: not a browser's page)
    ]:
        r = attempt(server, marker, headers=headers)
        assert (r.status_code, r.text) == (200, "ran"), headers
        marker.unlink()
    # owt's own pages run no code: they open as typed, and no other page may frame them
    page = httpx.get(server.url + "/_owt/", headers={**host, **BROWSER})
    assert page.status_code == 200
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]


def test_only_a_token_auth_checks_lets_a_bare_browser_request_through(start_server, tmp_path):
    """``token=`` in the query counts only on a server with --token, whose auth then checks
    it: elsewhere any page could write ``&token=x`` (or ``max_token=1``) into its URL."""
    marker = tmp_path / "ran"
    code = b64(marker_code(marker))
    for args in ((), ("--token", "T")):
        server = start_server("--allowed-host", "owt.lan", *args)
        headers = {"Host": "owt.lan:" + server.url.rsplit(":", 1)[1], **BROWSER}
        for token in ("x", "T"):
            r = httpx.get(
                server.url + "/", params={"code_b64": code, "token": token}, headers=headers
            )
            if not args:
                refused(r, "browser")
                assert "start owt with --token" in r.json()["message"]
            elif token == "x":
                assert r.status_code == 401  # auth's to judge, and it says no
            else:
                assert r.text == "ran"
        r = httpx.get(
            server.url + "/", params={"code_b64": code, "max_token": "1"}, headers=headers
        )
        assert r.status_code == (401 if args else 403)


def test_an_img_of_an_allowed_origin_s_page_is_known_by_its_referer(start_server, tmp_path):
    """An ``<img>`` or ``<audio>`` sends no Origin, but Sec-Fetch-Site and its page's Referer."""
    server = start_server("--cors", "http://app.example")
    marker = tmp_path / "ran"
    img = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"}
    r = attempt(server, marker, headers={**img, "Referer": "http://app.example/page"})
    assert r.text == "ran"
    refused(
        attempt(server, marker, headers={**img, "Referer": "http://evil.example/"}), "fetch-site"
    )
    r = attempt(server, marker, headers=img)
    refused(r, "fetch-site")
    assert 'crossorigin="anonymous"' in r.json()["message"]


def test_a_page_with_no_origin_is_not_told_to_ask_for_cors_null(owt_server, tmp_path):
    r = attempt(owt_server, tmp_path / "ran", headers={"Origin": "null"})
    refused(r, "origin")
    assert "--cors null" not in r.json()["message"] and "sandboxed" in r.json()["message"]


def test_options_never_runs_code(owt_server, tmp_path):
    marker = tmp_path / "ran"
    for path in ("/", "/any/path", "/_owt/status"):
        r = httpx.request("OPTIONS", owt_server.url + path, params={"code_b64": "x"})
        assert r.status_code == 204
        assert "POST" in r.headers["allow"]
    r = attempt(owt_server, marker, method="OPTIONS")
    assert r.status_code == 204
    assert r.content == b""
    assert not marker.exists()


def test_owt_routes_are_guarded_too(owt_server):
    r = httpx.get(owt_server.url + "/_owt/status", headers={"Host": "evil.example"})
    refused(r, "host")


def test_the_guard_comes_before_auth(start_server, tmp_path):
    server = start_server("--token", "secret")
    r = attempt(server, tmp_path / "ran", headers={"Host": "evil.example"})
    refused(r, "host")  # not 401: a foreign page learns nothing about the credentials
    r = attempt(server, tmp_path / "ran", headers={"Authorization": "Bearer secret"})
    assert r.text == "ran"


def test_allowed_host_and_cors_origin(start_server, tmp_path):
    server = start_server(
        "--allowed-host", "owt.internal", "--cors", "http://app.example", "--cors", "http://b.ex"
    )
    marker = tmp_path / "ran"
    r = attempt(server, marker, headers={"Host": "owt.internal:8080"})
    assert r.text == "ran"
    headers = {"Origin": "http://app.example", "Sec-Fetch-Site": "cross-site"}
    r = attempt(server, marker, headers=headers)
    assert r.text == "ran"
    assert r.headers["access-control-allow-origin"] == "http://app.example"
    refused(attempt(server, marker, headers={"Host": "other.internal"}), "host")
    refused(attempt(server, marker, headers={"Origin": "http://c.example"}), "origin")
    # A preflight from an allowed origin is CORS's to answer; nothing runs.
    marker.unlink()
    preflight = {"Origin": "http://b.ex", "Access-Control-Request-Method": "POST"}
    r = attempt(server, marker, method="OPTIONS", headers=preflight)
    assert r.status_code == 200
    assert not marker.exists()


def test_a_cors_origin_is_read_as_a_browser_sends_it(start_server, tmp_path):
    """``--cors http://App.example/`` is the origin ``http://app.example``: the guard lets
    its page in, and the browser gets the CORS headers that let it read the answer."""
    server = start_server("--cors", "http://App.example/")
    marker = tmp_path / "ran"
    preflight = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST"}
    r = attempt(server, marker, method="OPTIONS", headers=preflight)
    assert r.status_code == 200 and not marker.exists()
    assert r.headers["access-control-allow-origin"] == "http://app.example"
    r = attempt(server, marker, headers={"Origin": "http://app.example"})
    assert r.text == "ran" and r.headers["access-control-allow-origin"] == "http://app.example"


def test_check_alone():
    settings = Settings(address="0.0.0.0", insecure=True)
    check_browser(settings, {"Host": "192.168.1.20:9876"})  # any IP literal on a wildcard
    with pytest.raises(ForbiddenOrigin) as caught:
        check_browser(settings, {"Host": "rebind.example:9876"})
    assert caught.value.extra == {"check": "host"}
    check_browser(Settings(allowed_host=["*"]), {"Host": "anything.example"})


def test_remembered_verdicts_follow_each_header():
    """The guard remembers a verdict per (Host, Origin, Sec-Fetch-Site): the same headers
    again get the same answer, and a change in any one of them is judged afresh."""
    from owt.server.browser import BrowserGuard

    guard = BrowserGuard(None, Settings())
    own = [(b"host", b"127.0.0.1:9876")]
    foreign = [*own, (b"origin", b"https://evil.example")]
    cross = [*own, (b"sec-fetch-site", b"cross-site")]
    for _ in range(2):  # the second round answers from memory
        assert guard.verdict(own) is None
        assert guard.verdict([(b"user-agent", b"curl"), *own]) is None
        refusal = guard.verdict(foreign)
        assert refusal is not None and refusal.payload()["check"] == "origin"
        refusal = guard.verdict(cross)
        assert refusal is not None and refusal.payload()["check"] == "fetch-site"
        refusal = guard.verdict([(b"host", b"evil.example:9876")])
        assert refusal is not None and refusal.payload()["check"] == "host"
