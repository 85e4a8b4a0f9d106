"""The playground's doors without a browser: the page, its files, ``/`` and ``/favicon.ico``."""

from __future__ import annotations

import httpx
from conftest import call

from owt.server.web import ASSETS

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8


def test_a_browser_at_root_without_code_is_sent_to_the_playground(start_server):
    # A server of its own: on the shared one another test may have pinned "/" in the cache.
    owt_server = start_server()
    r = httpx.get(owt_server.url + "/", headers={"accept": "text/html,*/*"})
    assert r.status_code == 307 and r.headers["location"] == "/_owt/"
    page = httpx.get(owt_server.url + "/", headers={"accept": "text/html"}, follow_redirects=True)
    assert page.status_code == 200 and "<title>owt playground</title>" in page.text
    # Not a browser, or not /: the error a client can act on.
    assert httpx.get(owt_server.url + "/").json()["error"] == "missing_code"
    other = httpx.get(owt_server.url + "/x", headers={"accept": "text/html"})
    assert other.json()["error"] == "missing_code"
    assert httpx.get(owt_server.url + "/_owt", follow_redirects=True).url.path == "/_owt/"


def test_the_page_files_are_served_from_the_package(owt_server):
    for name, content_type in ASSETS.items():
        r = httpx.get(f"{owt_server.url}/_owt/web/{name}")
        assert r.status_code == 200 and r.headers["content-type"] == content_type
        assert r.content
    assert httpx.get(owt_server.url + "/_owt/web/nope.js").json()["error"] == "not_found"


def test_favicon_is_owts_own_until_one_is_pinned(start_server):
    server = start_server()
    icon = httpx.get(server.url + "/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    pin = call(
        server.url,
        f"def run(): return ({PNG!r}, {{'content-type': 'image/png'}})",
        path="/favicon.ico",
        fields={"use_cache": True},
    )
    assert pin.status_code == 200
    pinned = httpx.get(server.url + "/favicon.ico")
    assert pinned.content == PNG and pinned.headers["content-type"] == "image/png"


def test_the_page_is_public_but_what_it_fetches_is_not(start_server):
    server = start_server("--token", "t0k")
    assert httpx.get(server.url + "/_owt/").status_code == 200
    assert httpx.get(server.url + "/_owt/web/playground.js").status_code == 200
    assert httpx.get(server.url + "/_owt/status").status_code == 401
    assert httpx.get(server.url + "/favicon.ico").status_code == 401
    assert httpx.get(server.url + "/", headers={"accept": "text/html"}).status_code == 401


def test_the_pages_own_requests_get_no_basic_challenge(start_server):
    server = start_server("--auth", "alice:" + "0" * 64, "--token", "t0k")
    plain = httpx.get(server.url + "/_owt/status")
    assert any(v.startswith("Basic") for v in plain.headers.get_list("www-authenticate"))
    page = httpx.get(server.url + "/_owt/status", headers={"x-requested-with": "XMLHttpRequest"})
    assert page.status_code == 401
    assert page.headers.get_list("www-authenticate") == ['Bearer realm="owt"']
