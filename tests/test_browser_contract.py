"""The contract at its edges, in a real browser (Debian's chromium): a streamed text tab shows
chunks as they come, an ``EventSource`` stops after ``sse()``'s last event, a page of another
origin reads the headers its adaptor exposes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from conftest import b64


def _url(base: str, code: str, **kwargs: Any) -> str:
    query = {"code_b64": b64(code), "kwargs_b64": b64(json.dumps(kwargs))}
    return f"{base}/?{urlencode(query)}"


SLOW_TEXT = """
import time
def run():
    yield "first chunk\\n"
    time.sleep(8)
    yield "last chunk\\n"
"""


def test_a_streamed_text_tab_shows_chunks_as_they_come(owt_server, chromium):
    page = chromium.new_page()
    try:
        page.goto(_url(owt_server.url, SLOW_TEXT), wait_until="commit")
        page.wait_for_function(
            "document.body && document.body.innerText.includes('first chunk')", timeout=6000
        )
        assert "last chunk" not in page.inner_text("body")  # shown while it streams
    finally:
        page.close()


COUNTED_SSE = """
def run(path):
    with open(path, "a") as f:
        f.write("run\\n")
    return sse(["a", "b"])
"""

PAGE = """
def run(sse_url):
    return '''<!doctype html><body><pre id="out"></pre><script>
    const source = new EventSource(%s);
    source.onmessage = (e) => { document.getElementById("out").textContent += e.data + ";"; };
    </script></body>''' % repr(sse_url)
"""


def test_event_source_runs_the_adaptor_once(owt_server, chromium, tmp_path: Path):
    runs = tmp_path / "runs.txt"
    sse_url = _url(owt_server.url, COUNTED_SSE, path=str(runs))
    page = chromium.new_page()
    try:
        # The page does not close the EventSource on [DONE]: the browser reconnects, owt
        # answers 204, and the browser stops.
        page.goto(_url(owt_server.url, PAGE, sse_url=sse_url))
        page.wait_for_function("document.getElementById('out').textContent.includes('[DONE]')")
        time.sleep(5)  # a browser retries after ~3 s
        assert page.text_content("#out") == "a;b;[DONE];"
        assert runs.read_text() == "run\n"
        assert page.evaluate("() => source.readyState") == 2  # CLOSED
    finally:
        page.close()


EXPOSING = """
def run():
    return "pcm", {"X-Sample-Rate": "24000", "Access-Control-Expose-Headers": "X-Sample-Rate"}
"""


def test_a_page_of_another_origin_reads_exposed_headers(start_server, chromium):
    server = start_server("--cors", "*", "--insecure")
    other = server.url.replace("127.0.0.1", "localhost")  # same server, another origin
    fetch_page = """
def run(target):
    return '''<!doctype html><body><pre id="out"></pre><script>
    fetch(%s).then((r) => {
      document.getElementById("out").textContent =
        r.headers.get("x-sample-rate") + " " + r.headers.get("x-owt-cache");
    });
    </script></body>''' % repr(target)
"""
    page = chromium.new_page()
    try:
        page.goto(_url(other, fetch_page, target=_url(server.url, EXPOSING)))
        page.wait_for_function("document.getElementById('out').textContent !== ''")
        assert page.text_content("#out") == "24000 null"
    finally:
        page.close()
