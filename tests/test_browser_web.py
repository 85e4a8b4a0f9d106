"""example/web in a real browser: the page an adaptor serves calls owt itself."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess

import pytest
from conftest import ARTIFACTS, ROOT


@pytest.mark.parametrize("token", [None, "T0ken"])  # a server with --token too
def test_page_calls_owt_from_the_browser(owt_server, start_server, chromium, token):
    server = start_server("--token", token) if token else owt_server
    port = server.url.rsplit(":", 1)[1]
    url = subprocess.run(
        ["bash", str(ROOT / "example/web/open.sh")],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "OWT_PORT": port, "OWT_ADDRESS": "127.0.0.1", "OWT_TOKEN": token or ""},
        check=True,
    ).stdout.strip()
    assert url.endswith(f"&token={token}") if token else "token" not in url
    page = chromium.new_page()
    # No request of the page fails. (A browser's /favicon.ico goes without the token, a 401:
    # headless chromium asks for none, so test_examples.py checks the page's icon link.)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else 0)
    try:
        page.goto(url)
        page.fill("#name", "chromium")
        page.click("#go")
        page.wait_for_selector("#out[data-done='1']", timeout=15_000)
        assert page.text_content("#out") == "Hello, chromium!"
        page.wait_for_timeout(500)
        assert not failed
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "example-web.png"))
    finally:
        page.close()


def test_a_page_uploads_a_file_the_adaptor_reads_as_it_arrives(owt_server, chromium):
    """owt.js in a page: a 3 MiB File as the raw body of a call (``options.body``)."""
    b64 = base64.urlsafe_b64encode
    module = (
        f"def run():\n    text = open({str(ROOT / 'clients/js/owt.js')!r}).read()\n"
        "    return text, {'content-type': 'text/javascript'}\n"
    )
    page_code = "def run():\n    return '<!doctype html><title>upload</title>'\n"
    digest = (
        "import hashlib\n"
        "def run(request, label):\n"
        "    digest, chunks = hashlib.sha256(), 0\n"
        "    for chunk in request.stream():\n"
        "        digest.update(chunk)\n"
        "        chunks += 1\n"
        "    return {'label': label, 'sha': digest.hexdigest(), 'chunks': chunks,\n"
        "            'type': request.content_type}\n"
    )
    size = 3 * 1024 * 1024
    expected = hashlib.sha256(bytes(i % 251 for i in range(size))).hexdigest()
    page = chromium.new_page()
    try:
        page.goto(f"{owt_server.url}/upload.html?code_b64={b64(page_code.encode()).decode()}")
        got = page.evaluate(
            """async ([moduleUrl, code, size]) => {
                const { call } = await import(moduleUrl);
                const bytes = new Uint8Array(size).map((_, i) => i % 251);
                const file = new File([bytes], "take.wav", { type: "audio/wav" });
                return await call(location.origin, code, { label: "page" }, { body: file });
            }""",
            [f"/owt.js?code_b64={b64(module.encode()).decode()}", digest, size],
        )
    finally:
        page.close()
    assert got["sha"] == expected and got["label"] == "page" and got["chunks"] > 1
    assert got["type"] == "audio/wav"
