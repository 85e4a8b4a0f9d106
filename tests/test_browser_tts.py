"""The TTS page in a real browser: Debian's chromium (the ``chromium`` fixture, Playwright
with ``executable_path``, never a downloaded browser) against a real owt. A screenshot lands
in test-artifacts/tts-page.png.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from conftest import ARTIFACTS, ROOT, OwtProcess, require

TEXT = "Hello from the browser. This is the second sentence! And a third one, to finish?"


def page_url(server: OwtProcess, token: str = "") -> str:
    port = server.url.rsplit(":", 1)[1]
    done = subprocess.run(
        ["bash", str(ROOT / "example/tts/open.sh")],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "OWT_PORT": port, "OWT_ADDRESS": "127.0.0.1", "OWT_TOKEN": token},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_speak_streams_sentences_and_offers_the_recording(chromium, owt_server):
    if shutil.which("espeak-ng") is None:
        require("espeak-ng (apt-get install espeak-ng)")
    page = chromium.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    streams: list[str] = []
    page.on(
        "response",
        lambda r: (
            streams.append(r.headers.get("content-type", "")) if r.url.endswith("/tts") else None
        ),
    )
    try:
        page.goto(page_url(owt_server))
        assert page.title() == "owt speaks"
        page.fill("#text", TEXT)
        page.click("#speak")
        page.wait_for_selector("body[data-state=done]", timeout=30_000)

        chunks = page.locator("li.chunk")
        assert chunks.count() == 3
        assert chunks.nth(0).inner_text().startswith("Hello from the browser.")
        assert streams == ["text/event-stream; charset=utf-8"]
        # Each sentence's WAV decoded and was queued for playback as it arrived.
        page.wait_for_function("Number(document.body.dataset.played) === 3", timeout=10_000)

        # The player holds the whole recording and the browser can play it.
        assert page.get_attribute("#player", "src", timeout=1000).startswith("blob:")
        page.wait_for_function(
            "(() => { const a = document.getElementById('player');"
            " return a.readyState >= 1 && a.duration > 2; })()",
            timeout=10_000,
        )
        assert page.evaluate("document.getElementById('player').error") is None
        # ... all of it: the sentences joined in the page (the stream sends each once).
        notes = chunks.locator("small").all_text_contents()
        sizes = [int(note.split("(", 1)[1].split(" bytes", 1)[0]) for note in notes]
        seconds = sum(size - 44 for size in sizes) / (2 * 22050)
        duration = page.evaluate("document.getElementById('player').duration")
        assert abs(duration - seconds) < 0.01, (duration, seconds)
        download = page.locator("#download")
        assert download.is_visible()
        assert download.get_attribute("href").startswith("blob:")
        assert page.text_content("#status") == "3 sentences spoken."
        assert errors == []
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "tts-page.png"), full_page=True)
        page.close()


def test_the_page_speaks_on_a_server_with_a_token(chromium, start_server):
    """open.sh puts OWT_TOKEN in the page's URL, and the page sends it with its call."""
    if shutil.which("espeak-ng") is None:
        require("espeak-ng (apt-get install espeak-ng)")
    server = start_server("--token", "T0ken")
    page = chromium.new_page()
    try:
        page.goto(page_url(server, "T0ken"))
        page.fill("#text", "Just one sentence.")
        page.click("#speak")
        page.wait_for_selector("body[data-state=done]", timeout=30_000)
        assert page.text_content("#status") == "1 sentence spoken."
    finally:
        page.close()
