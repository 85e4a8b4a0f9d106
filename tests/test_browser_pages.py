"""Browser protection in Debian's chromium: a page of another local origin (a second HTTP
server on another loopback port) tries every request a page can make without asking —
``<img>``, ``<script src>``, a no-cors text/plain POST, a form POST, ``EventSource`` — and no
code runs (the file each adaptor would write never appears), while a page owt serves itself
runs code and streams events. A DNS-rebinding name is refused with 403."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS


def b64(text: str) -> str:
    """URL-safe base64 (owt takes either): it goes into URLs unescaped."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


ATTEMPTS = ("img", "script", "fetch", "form", "eventsource")


def writer(marker: Path) -> str:
    return f"def run(**_):\n    open({str(marker)!r}, 'w').write('ran')\n    return 'ran'\n"


FOREIGN_PAGE = """<!doctype html><html><body>
<iframe name="sink" id="sink"></iframe>
<form id="form" method="POST" target="sink" action="__OWT__/">
  <input type="hidden" name="code_b64" value="__FORM__"></form>
<script>
  window.settled = [];
  const owt = "__OWT__";
  const done = (what) => window.settled.push(what);
  const img = new Image();
  img.onload = img.onerror = () => done("img");
  img.src = owt + "/?code_b64=__IMG__";
  const script = document.createElement("script");
  script.onload = script.onerror = () => done("script");
  script.src = owt + "/?code_b64=__SCRIPT__";
  document.body.appendChild(script);
  fetch(owt + "/", {method: "POST", mode: "no-cors", headers: {"content-type": "text/plain"},
                    body: JSON.stringify({code_b64: "__FETCH__"})})
    .then(() => done("fetch"), () => done("fetch"));
  document.getElementById("sink").onload = () => done("form");
  document.getElementById("form").submit();
  const events = new EventSource(owt + "/?code_b64=__EVENTSOURCE__");
  events.onmessage = () => { events.close(); done("eventsource"); };
  events.onerror = () => { events.close(); done("eventsource"); };
</script></body></html>"""


def foreign_page(owt_url: str, folder: Path) -> str:
    page = FOREIGN_PAGE.replace("__OWT__", owt_url)
    for what in ATTEMPTS:
        page = page.replace(f"__{what.upper()}__", b64(writer(folder / what)))
    return page


@pytest.fixture
def other_origin() -> Iterator[tuple[int, dict[str, str]]]:
    """A second tiny HTTP server on another loopback port: serves ``pages[path]``."""
    pages: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], pages
    server.shutdown()
    server.server_close()
    thread.join(5)


def visit(chromium: Any, url: str) -> list[str]:
    page = chromium.new_page()
    try:
        page.goto(url)
        page.wait_for_function("window.settled && window.settled.length >= 5", timeout=20_000)
        time.sleep(0.5)  # anything still on its way lands now
        return sorted(page.evaluate("window.settled"))
    finally:
        page.close()


@pytest.mark.parametrize("page_host", ["127.0.0.1", "localhost"])  # same-site, cross-site
def test_a_page_of_another_origin_runs_no_code(
    chromium, owt_server, other_origin, tmp_path, page_host
):
    port, pages = other_origin
    pages["/attack.html"] = foreign_page(owt_server.url, tmp_path)
    settled = visit(chromium, f"http://{page_host}:{port}/attack.html")
    assert settled == sorted(ATTEMPTS)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_same_page_runs_code_where_the_operator_allows_it(
    chromium, start_server, other_origin, tmp_path
):
    """The control: with every origin allowed, each attempt above reaches the code — but
    the text/plain POST, whose body is never read as call fields (only a JSON type is)."""
    server = start_server("--cors", "*", "--insecure")
    port, pages = other_origin
    pages["/attack.html"] = foreign_page(server.url, tmp_path)
    visit(chromium, f"http://127.0.0.1:{port}/attack.html")
    ran = sorted(p.name for p in tmp_path.iterdir())
    assert ran == sorted(set(ATTEMPTS) - {"fetch"})


OWN_PAGE = """
def run():
    return '''<!doctype html><html><body><pre id="out"></pre><script>
  const out = document.getElementById("out");
  window.events = [];
  fetch("/write", {method: "POST", headers: {"content-type": "application/json"},
                   body: JSON.stringify({code_b64: "__WRITE__"})})
    .then((r) => r.text()).then((text) => {
      window.wrote = text;
      const events = new EventSource("/stream?code_b64=__STREAM__");
      events.onmessage = (e) => {
        if (e.lastEventId === "[DONE]") { events.close(); window.streamed = true; return; }
        window.events.push(e.data);
      };
    });
</script></body></html>'''
"""

STREAM = """
def run():
    return owt.lib.stream.sse(f"event {i}" for i in range(3))
"""


def test_a_page_owt_serves_runs_code_and_streams(chromium, owt_server, tmp_path):
    marker = tmp_path / "own"
    code = OWN_PAGE.replace("__WRITE__", b64(writer(marker)))
    code = code.replace("__STREAM__", b64("import owt.lib.stream\n" + STREAM))
    page = chromium.new_page()
    try:
        page.goto(f"{owt_server.url}/page?code_b64={b64(code)}")
        page.wait_for_function("window.streamed === true", timeout=20_000)
        assert page.evaluate("window.wrote") == "ran"
        assert page.evaluate("window.events") == ["event 0", "event 1", "event 2"]
    finally:
        page.close()
    assert marker.read_text() == "ran"


def test_under_a_name_that_is_no_secure_context_a_foreign_page_runs_no_code(
    chromium, start_server, other_origin, tmp_path
):
    """``http://owt.test`` (an --allowed-host) is no secure context: Chromium sends no
    Sec-Fetch-Site and, for GETs, no Origin there. A foreign page's attempts still run
    nothing, with its Referer or without; owt's own page under that name still calls it."""
    server = start_server("--allowed-host", "owt.test")
    owt_url = "http://owt.test:" + server.url.rsplit(":", 1)[1]
    port, pages = other_origin
    told, hidden = tmp_path / "told", tmp_path / "hidden"
    told.mkdir(), hidden.mkdir()
    pages["/told.html"] = foreign_page(owt_url, told)
    pages["/hidden.html"] = foreign_page(owt_url, hidden).replace(
        "<body>", '<body><meta name="referrer" content="no-referrer">', 1
    )
    browser = chromium.browser_type.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--host-resolver-rules=MAP owt.test 127.0.0.1, MAP evil.test 127.0.0.1",
        ],
    )
    try:
        for name in ("told", "hidden"):
            assert visit(browser, f"http://evil.test:{port}/{name}.html") == sorted(ATTEMPTS)
        assert [*told.iterdir(), *hidden.iterdir()] == []
        page = browser.new_page()
        page.goto(owt_url + "/_owt/")  # runs no code: opens as typed
        marker = tmp_path / "own"
        answer = page.evaluate(
            "(url) => fetch(url).then((r) => r.text())", f"/?code_b64={b64(writer(marker))}"
        )
        assert answer == "ran" and marker.exists()
    finally:
        browser.close()


def test_a_rebinding_name_is_refused(chromium, owt_server, tmp_path):
    """``evil.example`` resolving to 127.0.0.1, as a DNS-rebinding attack makes it."""
    rebinding = chromium.browser_type.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP evil.example 127.0.0.1"],
    )
    marker = tmp_path / "rebound"
    port = owt_server.url.rsplit(":", 1)[1]
    try:
        page = rebinding.new_page()
        response = page.goto(f"http://evil.example:{port}/?code_b64={b64(writer(marker))}")
        assert response is not None
        assert response.status == 403
        body = json.loads(response.text())
        assert body["error"] == "forbidden_origin"
        assert body["check"] == "host"
    finally:
        rebinding.close()
    assert not marker.exists()


TOKEN_PAGE = """
def run():
    return '''<!doctype html><html><body><script>
  window.events = [];
  const events = new EventSource("/stream?code_b64=__STREAM__&token=__TOKEN__");
  events.onmessage = (e) => {
    if (e.lastEventId === "[DONE]") { events.close(); window.streamed = true; return; }
    window.events.push(e.data);
  };
  events.onerror = () => { events.close(); window.streamed = "error"; };
</script></body></html>'''
"""


def test_a_token_server_streams_to_event_source(chromium, start_server):
    """EventSource cannot send Authorization: with ?token= it works on a --token server."""
    token = "browser-token-123"
    server = start_server("--token", token)
    code = TOKEN_PAGE.replace("__STREAM__", b64("import owt.lib.stream\n" + STREAM))
    code = code.replace("__TOKEN__", token)
    page = chromium.new_page()
    try:
        response = page.goto(f"{server.url}/page?code_b64={b64(code)}&token={token}")
        assert response is not None and response.status == 200
        page.wait_for_function("window.streamed !== undefined", timeout=20_000)
        assert page.evaluate("window.streamed") is True
        assert page.evaluate("window.events") == ["event 0", "event 1", "event 2"]
        refused = page.goto(f"{server.url}/page?code_b64={b64(code)}&token=wrong")
        assert refused is not None and refused.status == 401
    finally:
        page.close()
