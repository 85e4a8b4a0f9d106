"""The playground at /_owt/ in Debian's chromium (the ``chromium`` fixture), against a real owt.

Screenshots land in test-artifacts/playground-*.png.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import shlex
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import ARTIFACTS, ROOT, OwtProcess, make_slow_project, require, wait_until

TOKEN = "pl4yground-t0ken"


@pytest.fixture(scope="module")
def server() -> Iterator[OwtProcess]:
    process = OwtProcess("--timeout", "20", "--mount", "greet=example/endpoints/greet.py")
    yield process
    process.stop()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()


def open_playground(page: Any, url: str) -> None:
    page.goto(url + "/_owt/")
    page.wait_for_selector("body[data-ready='1']")


def run_example(page: Any, example: str, args: dict[str, Any] | None = None) -> None:
    page.select_option("#examples", example)
    if args is not None:
        page.fill("#args", json.dumps(args))
    page.click("#run")


def finished(page: Any, timeout: float = 30_000) -> str:
    page.wait_for_selector("body[data-state=done], body[data-state=failed]", timeout=timeout)
    return page.get_attribute("body", "data-state")


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"playground-{name}.png"), full_page=True)


def snippet(page: Any, lang: str) -> str:
    page.click(f".copy button[data-lang={lang}]")
    page.wait_for_selector(f"#snippet[data-lang={lang}]")
    return page.text_content("#snippet")


def run_shell(command: str, cwd: Any = ROOT) -> str:
    done = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=60, cwd=cwd
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_run_an_echo_and_see_its_request_id_in_the_access_log(server, page):
    open_playground(page, server.url)
    run_example(page, "echo", {"name": "chromium"})
    assert finished(page) == "done"
    assert page.text_content("#output pre.text") == "Hello, chromium!"
    summary = page.text_content("#summary")
    assert summary.startswith("200 OK")
    request_id = summary.rsplit("request ", 1)[1]
    assert wait_until(
        lambda: any(request_id in line and "owt.access" in line for line in server.lines)
    )
    shot(page, "echo")
    assert page.errors == []


def test_a_stream_shows_its_chunks_in_order_before_it_ends(server, page):
    open_playground(page, server.url)
    run_example(page, "stream", {"n": 4, "pause": 0.6})
    page.wait_for_function("() => document.querySelectorAll('#chunks li.chunk').length >= 2")
    assert page.get_attribute("body", "data-state") == "running"  # still streaming
    shot(page, "stream-running")
    assert finished(page) == "done"
    chunks = page.locator("#chunks li.chunk").all_text_contents()
    assert "".join(chunks) == "chunk 0\nchunk 1\nchunk 2\nchunk 3\n"
    assert [c.strip() for c in chunks if c.strip()] == [f"chunk {i}" for i in range(4)]
    shot(page, "stream-done")


def test_speech_plays_each_sentence_as_it_arrives(server, page):
    if shutil.which("espeak-ng") is None:
        require("espeak-ng (apt-get install espeak-ng)")
    open_playground(page, server.url)
    run_example(page, "tts", {"text": "Hello from the playground. A second sentence."})
    assert finished(page) == "done"
    assert page.locator("#chunks li.chunk").count() == 2
    assert "Hello from the playground." in page.text_content("#chunks")
    page.wait_for_function("() => Number(document.body.dataset.played) === 2", timeout=15_000)
    assert page.get_attribute("#player", "src").startswith("blob:")
    page.wait_for_function(
        "() => { const a = document.getElementById('player');"
        " return a.readyState >= 1 && a.duration > 1; }"
    )
    # The player holds both sentences, joined in the page: longer than either alone.
    clips = page.evaluate(
        "() => [...document.querySelectorAll('#chunks li.chunk')].map((li) =>"
        " Number(li.textContent.match(/UklGR.*?\\((\\d+) WAV/)[1]))"
    )
    seconds = sum(len_b64 * 3 // 4 - 44 for len_b64 in clips) / (2 * 22050)
    duration = page.evaluate("() => document.getElementById('player').duration")
    assert abs(duration - seconds) < 0.01, (duration, seconds)
    shot(page, "tts")
    assert page.errors == []


def test_a_stream_that_fails_midway_shows_the_error_panel(server, page):
    open_playground(page, server.url)
    run_example(page, "fail")
    assert finished(page) == "failed"
    assert page.is_visible("#error")
    kind = page.text_content("#error .kind")
    # The server sends `event: error` (the adaptor's error, shown) and then ends the stream
    # without its final chunk, which the page does not let hide the explanation.
    assert kind == "adaptor_error"
    assert "the stream broke midway" in page.text_content("#error")
    assert page.locator("#chunks li.chunk").all_text_contents()[:2] == ["first", "second"]
    shot(page, "failed-stream")


def test_an_error_answer_shows_kind_message_and_traceback(server, page):
    open_playground(page, server.url)
    page.fill("#code", "def run():\n    return 1 / 0\n")
    page.fill("#args", "{}")
    page.click("#run")
    assert finished(page) == "failed"
    assert page.text_content("#error .kind") == "adaptor_error"
    assert "ZeroDivisionError" in page.text_content("#error .message")
    assert "return 1 / 0" in page.text_content("#error .traceback")
    assert page.text_content("#summary").startswith("500")
    shot(page, "error")


def test_json_html_and_images_are_shown_for_what_they_are(server, page):
    open_playground(page, server.url)
    run_example(page, "json", {"n": 3})
    finished(page)
    assert json.loads(page.text_content("#output pre.json")) == {
        "squares": [0, 1, 4],
        "path": "/",
    }
    assert "\n  " in page.text_content("#output pre.json")  # pretty
    run_example(page, "html")
    finished(page)
    frame = page.locator("#output iframe.html")
    assert frame.get_attribute("sandbox") == ""
    assert page.frame_locator("#output iframe.html").locator("h1").text_content() == (
        "Hello from owt"
    )
    run_example(page, "image", {"size": 90})
    finished(page)
    page.wait_for_function("() => document.querySelector('#output img.image').naturalWidth === 90")
    shot(page, "image")


def test_a_mounted_endpoint_through_its_generated_form(server, page):
    open_playground(page, server.url)
    form = page.locator("form.endpoint[data-path='/greet']")
    form.wait_for()
    assert form.locator("select[name=style] option").all_text_contents()[1:] == [
        "plain",
        "shout",
    ]
    # The call's options are folded away apart from the function's arguments.
    assert form.locator("details.options input[name=timeout]").count() == 1
    assert not form.locator("details.options").evaluate("d => d.open")
    assert form.locator("details.options input[name=name]").count() == 0
    form.locator("input[name=name]").fill("form")
    form.locator("input[name=times]").fill("2")
    form.locator("select[name=style]").select_option("shout")
    form.locator("button[type=submit]").click()
    assert finished(page) == "done"
    assert page.text_content("#output pre.text") == "HELLO, FORM!\nHELLO, FORM!\n"
    assert run_shell(snippet(page, "curl")) == "HELLO, FORM!\nHELLO, FORM!\n"
    shot(page, "endpoint")


def test_copy_as_curl_shell_python_and_javascript_give_the_same_answer(server, page, tmp_path):
    open_playground(page, server.url)
    run_example(page, "echo", {"name": 'snippet\'s "quotes"'})
    finished(page)
    answer = page.text_content("#output pre.text")
    assert answer == 'Hello, snippet\'s "quotes"!'
    assert run_shell(snippet(page, "curl")) == answer
    shell = snippet(page, "sh").replace(
        "source clients/sh/owt.sh", f"source {ROOT}/clients/sh/owt.sh"
    )
    assert run_shell(shell, cwd=tmp_path) == answer
    python = tmp_path / "call.py"
    python.write_text(snippet(page, "python"))
    assert run_shell(f"{sys.executable} {python}").rstrip("\n") == answer
    if shutil.which("node"):
        shutil.copy(ROOT / "clients/js/owt.js", tmp_path / "owt.js")
        (tmp_path / "call.mjs").write_text(snippet(page, "js"))
        assert run_shell("node call.mjs", cwd=tmp_path).rstrip("\n") == answer
    haskell = snippet(page, "haskell")
    assert "mkOwtClient" in haskell and "owt @POST" in haskell
    page.select_option("#method", "GET")
    page.fill("#path", "/get/here")
    page.click("#run")
    finished(page)
    assert run_shell(snippet(page, "curl")) == page.text_content("#output pre.text")
    shot(page, "copy-as")


def test_the_status_panel_shows_warm_adaptors_and_the_cache(server, page):
    open_playground(page, server.url)
    run_example(page, "echo")
    page.check("#use_cache")
    page.click("#run")
    finished(page)
    page.click("#refresh")
    page.wait_for_function(
        "() => document.getElementById('status-panel').textContent.includes('explicit')"
    )
    text = page.text_content("#status-panel")
    assert "Environments and workers" in text and "main" in text and "greet" in text
    shot(page, "status")


@pytest.fixture(scope="module")
def token_server() -> Iterator[OwtProcess]:
    process = OwtProcess("--timeout", "20", "--token", TOKEN)
    yield process
    process.stop()


def test_a_token_server_asks_for_the_token_once(token_server, page):
    open_playground(page, token_server.url)
    page.wait_for_selector("#auth[open]")
    shot(page, "token-asked")
    page.fill("#credential", TOKEN)
    page.click("#auth-save")
    page.wait_for_selector("#auth[open]", state="detached")
    run_example(page, "echo", {"name": "token"})
    assert finished(page) == "done"
    assert page.text_content("#output pre.text") == "Hello, token!"
    assert page.locator("#auth[open]").count() == 0  # asked once
    command = snippet(page, "curl")
    assert f"authorization: Bearer {TOKEN}" in command
    assert run_shell(command) == "Hello, token!"
    shot(page, "token")
    # The header's Metrics link opens the metrics, with the credential the page holds.
    with page.context.expect_page() as opened:
        page.click("nav a[href='/_owt/metrics']")
    metrics = opened.value
    metrics.wait_for_function("() => document.body && document.body.innerText.includes('owt_')")
    assert "owt_calls_total" in metrics.inner_text("body")
    metrics.close()


@pytest.mark.parametrize("path", ["/_owt/", "/_owt"])  # typed without its slash too
def test_a_token_in_the_address_is_taken_and_hidden(token_server, page, path):
    page.goto(f"{token_server.url}{path}?token={TOKEN}")
    page.wait_for_selector("body[data-ready='1']")
    assert "token" not in page.url
    run_example(page, "echo", {"name": "url"})
    assert finished(page) == "done"
    assert page.locator("#auth[open]").count() == 0
    assert page.text_content("#output pre.text") == "Hello, url!"


class BreakingProxy:
    """A TCP proxy to owt that cuts the connection where the answer says ``BREAK``: what a
    client sees when a failed stream ends without its final chunk."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").rsplit(":", 1)
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, answers: bool) -> None:
        try:
            while data := source.recv(65536):
                if answers and b"BREAK" in data:
                    # The connection ends here, its chunked body unfinished.
                    sink.sendall(data[: data.index(b"BREAK")])
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)  # wakes the other direction's recv too
                s.close()

    def close(self) -> None:
        self.listener.close()


BREAKING = """import time

def run():
    yield "first\\n"
    time.sleep(0.3)
    yield "second\\n"
    time.sleep(0.3)
    yield "BREAK"
"""

SSE_ERROR = """import json, time
from owt import Response

def events():
    yield "data: first\\n\\n"
    time.sleep(0.2)
    error = {"error": "adaptor_error", "message": "ValueError: boom", "type": "ValueError",
             "traceback": "Traceback (most recent call last):\\nValueError: boom\\n"}
    yield "event: error\\ndata: " + json.dumps(error) + "\\n\\n"

def run():
    return Response(events(), 200, {"content-type": "text/event-stream"})
"""


def test_a_stream_cut_midway_shows_what_arrived_and_the_error(server, page):
    proxy = BreakingProxy(server.url)
    try:
        open_playground(page, proxy.url)
        page.fill("#code", BREAKING)
        page.fill("#args", "{}")
        page.click("#run")
        assert finished(page) == "failed"
        assert page.text_content("#error .kind") == "stream_broken"
        assert "stopped after" in page.text_content("#error .message")
        assert page.locator("#chunks li.chunk").all_text_contents()[:2] == ["first\n", "second\n"]
        shot(page, "stream-broken")
    finally:
        proxy.close()


def test_an_sse_error_event_fills_the_error_panel(server, page):
    open_playground(page, server.url)
    page.fill("#code", SSE_ERROR)
    page.fill("#args", "{}")
    page.click("#run")
    assert finished(page) == "failed"
    assert page.text_content("#error .kind") == "adaptor_error"
    assert page.text_content("#error .message") == "ValueError: boom"
    assert "Traceback" in page.text_content("#error .traceback")
    assert page.locator("#chunks li.chunk").all_text_contents() == ["first"]
    shot(page, "sse-error")


DONE_ITEM = """from owt.lib.stream import sse

def items():
    yield "a"
    yield "[DONE]"  # an item like any other: the event whose id is [DONE] ends the stream
    yield "b"

def run():
    return sse(items())
"""

BARE_DONE = """from owt import Response

def events():  # a stream without ids (not sse()'s) ends at data: [DONE]
    yield "data: a\\n\\n"
    yield "data: [DONE]\\n\\n"
    yield "data: late\\n\\n"

def run():
    return Response(events(), 200, {"content-type": "text/event-stream"})
"""


@pytest.mark.parametrize(
    ("code", "chunks"), [(DONE_ITEM, ["a", "[DONE]", "b"]), (BARE_DONE, ["a"])]
)
def test_an_item_that_is_the_text_done_is_shown_like_any_other(server, page, code, chunks):
    open_playground(page, server.url)
    page.fill("#code", code)
    page.fill("#args", "{}")
    page.click("#run")
    assert finished(page) == "done"
    assert page.locator("#chunks li.chunk").all_text_contents() == chunks
    assert page.errors == []


BUILDING = {
    "version": "0",
    "environments": {"main": {"executor": "thread", "threads": {"max": 4, "busy": 1}}},
    "requirements": {
        "environments": {
            "cp3.11-0123456789abcdef": {
                "requirements": ["soundfile==0.12.1"],
                "state": "building",
                "phase": "installing",
                "elapsed": 4.2,
                "last_line": "Downloading soundfile-0.12.1.tar.gz",
            }
        }
    },
    "cache": {"entries": 0, "bytes": 0, "max_bytes": 1, "hits": 0, "misses": 0, "evictions": 0},
    "concurrency": {},
    "endpoints": [],
}


def test_requirements_that_fail_to_install_show_their_log(start_server, tmp_path, page):
    server = start_server("--state-dir", str(tmp_path))
    open_playground(page, server.url)
    page.fill("#requirements", str(tmp_path / "no-such-package"))
    page.fill("#args", "{}")
    page.click("#run")
    assert finished(page) == "failed"
    assert page.text_content("#error .kind") == "install_failed"
    assert "no-such-package" in page.text_content("#error .traceback")  # the build's log tail
    page.click("#refresh")
    page.wait_for_function(
        "() => document.getElementById('status-panel').textContent.includes('failed')"
    )
    shot(page, "install-failed")


def test_a_call_whose_environment_builds_shows_the_build_then_its_answer(
    start_server, tmp_path, page
):
    """A call with requirements asks for the build's progress: the summary line shows its
    phase while it builds, and the answer after it is shown as any other."""
    requirement = make_slow_project(tmp_path, "owt_watched")
    slow = {"UV_NO_INDEX": "1", "UV_OFFLINE": "1", "UV_NO_CACHE": "1"}
    server = start_server(
        "--state-dir", str(tmp_path / "state"), env={**slow, "OWT_TEST_BUILD_SECONDS": "4"}
    )
    open_playground(page, server.url)
    page.fill(
        "#code", "import owt_watched\n\ndef run():\n    return {'answer': owt_watched.ANSWER}\n"
    )
    page.fill("#requirements", requirement)
    page.fill("#args", "{}")
    page.click("#run")
    page.wait_for_function(
        "() => document.getElementById('summary').textContent.includes('building its environment')"
    )
    assert finished(page, timeout=120_000) == "done", page.text_content("#error")
    assert json.loads(page.text_content("#output pre.json")) == {"answer": 1}
    assert page.text_content("#summary").startswith("200")
    assert not page.errors


def test_a_build_in_progress_shows_its_phase_and_log_tail(server, page):
    page.route(
        "**/_owt/status",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(BUILDING)
        ),
    )
    open_playground(page, server.url)
    page.wait_for_function(
        "() => document.getElementById('status-panel').textContent.includes('building')"
    )
    text = page.text_content("#status-panel")
    assert "soundfile==0.12.1" in text and "installing" in text
    assert "Downloading soundfile-0.12.1.tar.gz" in text


def test_an_auth_server_asks_for_user_and_password_once(start_server, page):
    digest = hashlib.sha256(b"s3cret").hexdigest()
    server = start_server("--auth", f"alice:{digest}")
    page.goto(server.url + "/_owt/")
    page.wait_for_selector("#auth[open]")
    page.check("input[name=auth-kind][value=basic]")
    page.fill("#credential", "alice:s3cret")
    page.click("#auth-save")
    page.wait_for_selector("#auth[open]", state="detached")
    run_example(page, "echo", {"name": "alice"})
    assert finished(page) == "done"
    assert page.text_content("#output pre.text") == "Hello, alice!"
    assert run_shell(snippet(page, "curl")) == "Hello, alice!"
    python = snippet(page, "python")
    assert 'auth=("alice", "s3cret")' in python


def test_stream_and_event_snippets_stream_too(server, page, tmp_path):
    open_playground(page, server.url)
    run_example(page, "stream", {"n": 3, "pause": 0.05})
    assert finished(page) == "done"
    python = tmp_path / "stream.py"
    python.write_text(snippet(page, "python"))
    assert "adaptor.stream(" in python.read_text()
    assert run_shell(f"{sys.executable} {python}") == "chunk 0\nchunk 1\nchunk 2\n"
    run_example(page, "sse", {"words": "a b"})
    assert finished(page) == "done"
    assert " 2 events " in page.text_content("#summary")  # events, not the reads carrying them
    python.write_text(snippet(page, "python"))
    events = run_shell(f"{sys.executable} {python}").splitlines()
    assert events == ["{'index': 0, 'word': 'a'}", "{'index': 1, 'word': 'b'}"]
    if shutil.which("node"):
        shutil.copy(ROOT / "clients/js/owt.js", tmp_path / "owt.js")
        (tmp_path / "events.mjs").write_text(snippet(page, "js"))
        out = run_shell("node events.mjs", cwd=tmp_path)
        assert "word: 'a'" in out and "word: 'b'" in out


def test_a_whole_wav_plays_in_the_player(server, page):
    if shutil.which("espeak-ng") is None:
        require("espeak-ng (apt-get install espeak-ng)")
    open_playground(page, server.url)
    run_example(page, "tts", {"text": "A whole file.", "format": "wav"})
    assert finished(page) == "done"
    assert page.is_visible("#player")
    page.wait_for_function(
        "() => { const a = document.getElementById('player');"
        " return a.readyState >= 1 && a.duration > 0.3; }"
    )
    shot(page, "wav")


def test_a_registered_endpoint_gets_a_form_too(server, page):
    code = "def run(word: str, times: int = 1) -> str:\n    return word * times\n"
    put = httpx.put(
        server.url + "/_owt/endpoints/repeat",
        json={"code_b64": base64.b64encode(code.encode()).decode()},
    )
    assert put.status_code in (200, 201), put.text
    open_playground(page, server.url)
    form = page.locator("form.endpoint[data-path='/repeat']")
    form.wait_for()
    form.locator("input[name=word]").fill("ab")
    form.locator("input[name=times]").fill("3")
    form.locator("button[type=submit]").click()
    assert finished(page) == "done"
    assert page.text_content("#output pre.text") == "ababab"
    assert httpx.delete(server.url + "/_owt/endpoints/repeat").status_code in (200, 204)


HASKELL_CLIENT = ROOT / "clients/haskell/src"


def test_the_haskell_snippet_runs_with_the_haskell_client(server, page, tmp_path):
    if not (HASKELL_CLIENT / "Owt.hs").exists():
        pytest.skip("the Haskell client (clients/haskell) is not in this tree")
    if shutil.which("runghc") is None:
        require("ghc (apt-get install ghc libghc-http-client-dev libghc-aeson-dev ...)")
    open_playground(page, server.url)
    run_example(page, "echo", {"name": 'Haskell "quoted" ü'})
    page.fill("#path", "/from/haskell")
    page.fill("#timeout", "15")
    page.click("#run")
    assert finished(page) == "done"
    answer = page.text_content("#output pre.text")
    (tmp_path / "call.hs").write_text(snippet(page, "haskell"))
    assert run_shell(f"runghc -i{HASKELL_CLIENT} {tmp_path / 'call.hs'}") == answer
    run_example(page, "stream", {"n": 2, "pause": 0.05})
    assert finished(page) == "done"
    (tmp_path / "stream.hs").write_text(snippet(page, "haskell"))
    assert "owtStream @POST" in (tmp_path / "stream.hs").read_text()
    assert run_shell(f"runghc -i{HASKELL_CLIENT} {tmp_path / 'stream.hs'}") == "chunk 0\nchunk 1\n"
    # An event stream's snippet: a lambda in Haskell (its backslash survives the template)
    run_example(page, "sse", {"words": "a b"})
    assert finished(page) == "done"
    (tmp_path / "events.hs").write_text(snippet(page, "haskell"))
    assert "(\\e -> putBS" in (tmp_path / "events.hs").read_text()
    out = run_shell(f"runghc -i{HASKELL_CLIENT} {tmp_path / 'events.hs'}")
    assert '"word": "a"' in out and '"word": "b"' in out, out


def test_the_requirements_field_splits_as_the_server_does(server, page):
    """Spaces inside a requirement, a version range and a URL stay one requirement each."""
    open_playground(page, server.url)
    page.fill("#requirements", "six >= 1, <2, pkg @ file:///tmp/pkg, numpy; python_version > '3'")
    words = shlex.split(snippet(page, "curl").replace("\\\n", " "))
    body = json.loads(words[words.index("--data-binary") + 1])
    assert body["requirements"] == [
        "six >= 1, <2",
        "pkg @ file:///tmp/pkg",
        "numpy; python_version > '3'",
    ]
