"""example/web in a real browser: the page an adaptor serves calls owt itself."""

from __future__ import annotations

import os
import subprocess

from conftest import ARTIFACTS, ROOT


def test_page_calls_owt_from_the_browser(owt_server, chromium):
    port = owt_server.url.rsplit(":", 1)[1]
    url = subprocess.run(
        ["bash", str(ROOT / "example/web/open.sh")],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "OWT_PORT": port, "OWT_ADDRESS": "127.0.0.1"},
        check=True,
    ).stdout.strip()
    page = chromium.new_page()
    try:
        page.goto(url)
        page.fill("#name", "chromium")
        page.click("#go")
        page.wait_for_selector("#out[data-done='1']", timeout=15_000)
        assert page.text_content("#out") == "Hello, chromium!"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "example-web.png"))
    finally:
        page.close()
