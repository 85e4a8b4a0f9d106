"""The example folders run as written against a real server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from conftest import ROOT, OwtProcess


def run_script(server: OwtProcess, script: str, *args: str, **env: str) -> str:
    result = script_run(server, script, *args, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def script_run(
    server: OwtProcess, script: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    port = server.url.rsplit(":", 1)[1]
    return subprocess.run(
        ["bash", str(ROOT / script), *args],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "OWT_PORT": port, "OWT_ADDRESS": "127.0.0.1", "OWT_TOKEN": "", **env},
    )


def test_echo_self_contained(owt_server):
    assert run_script(owt_server, "example/echo/echo.sh", "alice") == "Hello, alice!"


def test_echo_post_json(owt_server):
    out = json.loads(run_script(owt_server, "example/echo/post_json.sh", "bob"))
    assert out == {"greeting": "Hello, bob!", "extra": {"n": 3}}


def test_echo_get(owt_server):
    out = json.loads(run_script(owt_server, "example/echo/get.sh", "carol"))
    assert out["greeting"] == "Hello, carol!"


def test_echo_request_path(owt_server):
    out = run_script(
        owt_server, "example/echo/get.sh", ADAPTOR="echo_path.py", REQUEST_PATH="/greet/dave"
    )
    assert json.loads(out)["greeting"] == "Hello, dave!"


def test_echo_server_sing(owt_server):
    out = run_script(owt_server, "example/echo/post_json.sh", "erin", ADAPTOR="echo_sing.py")
    host_port = owt_server.url.removeprefix("http://")
    assert out == f"Hello, erin, from owt at {host_port}!"


def test_web_page_and_its_call(owt_server):
    page = run_script(owt_server, "example/web/open.sh", "--fetch")
    assert page.startswith("<!doctype html>")
    url = run_script(owt_server, "example/web/open.sh")
    r = httpx.get(url)
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    # The page's own adaptor, as its script sends it.
    greeter = page.split('type="text/x-python">', 1)[1].split("</script>", 1)[0]
    import base64

    body = {"code_b64": base64.b64encode(greeter.encode()).decode(), "kwargs": {"name": "web"}}
    assert httpx.post(owt_server.url + "/greet", json=body).json()["greeting"] == "Hello, web!"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(120)
def test_meta_three_deep(owt_server):
    out = json.loads(run_script(owt_server, "example/meta/run.sh", "3", "parcel"))
    assert out["payload"] == "parcel"
    levels = out["levels"]
    assert [level["depth"] for level in levels] == [3, 2, 1]
    assert len({level["pid"] for level in levels}) == 3
    for level in levels[:-1]:
        assert not _alive(level["inner_pid"])


def test_summat_simple(owt_server):
    lines = run_script(owt_server, "example/summat/simple/run.sh").splitlines()
    assert lines[:3] == ["SERVE UP OWT YER FANCY ON T'FLY."] * 2 + ["Hello owt!"]
    # The script shows the first 200 bytes of the refusal.
    assert lines[3].startswith('{"error": "forbidden", "message": "open(): \'../pyproject.toml\'')


def test_summat_stream(owt_server):
    out = run_script(owt_server, "example/summat/stream/run.sh")
    events = [line[6:] for line in out.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert json.loads(events[0]) == {"sentence": "Ey up.", "words": 2}
    assert len(events) == 5


QUOTED = 'He said "hi". Bye \\ now,\ttab'  # a quote, a backslash, a tab: JSON must escape them


@pytest.mark.parametrize(
    "script", ["example/echo/echo.sh", "example/echo/get.sh", "example/echo/post_json.sh"]
)
def test_echo_scripts_escape_their_argument(owt_server, script):
    out = run_script(owt_server, script, QUOTED)
    greeting = out if script.endswith("echo.sh") else json.loads(out)["greeting"]
    assert greeting == f"Hello, {QUOTED}!"


def test_summat_stream_escapes_its_text(owt_server):
    out = run_script(owt_server, "example/summat/stream/run.sh", 'He said "hi". Bye.')
    events = [json.loads(line[6:]) for line in out.splitlines()[:-1] if line.startswith("data: {")]
    assert [e["sentence"] for e in events] == ['He said "hi".', "Bye."]


def test_meta_escapes_its_payload_and_checks_its_depth(owt_server):
    out = json.loads(run_script(owt_server, "example/meta/run.sh", "1", QUOTED))
    assert out["payload"] == QUOTED
    bad = script_run(owt_server, "example/meta/run.sh", "1, 2")
    assert bad.returncode == 2 and "whole number" in bad.stderr


@pytest.fixture(scope="module")
def token_server() -> Iterator[OwtProcess]:
    """A server with a token, example/lib and the greet endpoint: every script has its place."""
    server = OwtProcess(
        "--token", "T0k3n", "--lib", "example/lib", "--mount", "greet=example/endpoints/greet.py"
    )
    yield server
    server.stop()


SCRIPTS = {  # every example script that calls owt → its arguments
    "example/echo/echo.sh": ["owt"],
    "example/echo/get.sh": ["owt"],
    "example/echo/post_json.sh": ["owt"],
    "example/endpoints/run.sh": [],
    "example/lib/sota.sh": ["solve AGI"],
    "example/meta/run.sh": ["1"],
    "example/summat/simple/run.sh": [],
    "example/summat/stream/run.sh": [],
    "example/tts/speak.sh": ["Hi.", "OUT"],
    "example/tts/open.sh": ["--fetch"],
    "example/web/open.sh": ["--fetch"],
}


def test_every_script_that_calls_owt_is_tested_here():
    scripts = {str(p.relative_to(ROOT)) for p in ROOT.glob("example/**/*.sh")}
    needs_a_model = {"example/embed/embed.sh", "example/embed/similar.sh"}  # see below
    assert scripts - {"example/common.sh"} == set(SCRIPTS) | needs_a_model
    for script in scripts - {"example/common.sh"}:
        text = (ROOT / script).read_text()
        assert '/common.sh"' in text, f"{script} does not use example/common.sh"
        # Every call goes through owt_curl / owt_expect: the token, the failure on an error.
        calls = [line for line in text.splitlines() if re.search(r"(^|[|;&(]|\$\()\s*curl ", line)]
        assert not calls, f"{script} calls curl directly: {calls}"


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_sends_owt_token_and_fails_on_an_error(token_server, tmp_path, script):
    args = [str(tmp_path) if a == "OUT" else a for a in SCRIPTS[script]]
    refused = script_run(token_server, script, *args)
    assert refused.returncode != 0, refused.stdout
    assert "unauthorized" in refused.stdout + refused.stderr
    done = script_run(token_server, script, *args, OWT_TOKEN="T0k3n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "unauthorized" not in done.stdout


@pytest.mark.parametrize("script", ["example/embed/embed.sh", "example/embed/similar.sh"])
def test_the_embed_scripts_send_owt_token_too(token_server, script):
    # This server has no embeddings environment: with the token the call gets as far as that.
    refused = script_run(token_server, script, "a", "b")
    assert refused.returncode != 0 and "unauthorized" in refused.stdout
    unknown = script_run(token_server, script, 'a "b"', "c", OWT_TOKEN="T0k3n")
    assert unknown.returncode != 0 and '"error": "unknown_env"' in unknown.stdout


def test_sota_says_to_serve_example_lib(owt_server, token_server):
    out = run_script(token_server, "example/lib/sota.sh", 'say "hi"', OWT_TOKEN="T0k3n")
    assert out.startswith('say "hi": done')
    missing = script_run(owt_server, "example/lib/sota.sh")
    assert missing.returncode != 0
    assert "start it with --lib example/lib" in missing.stderr


def test_the_web_page_asks_for_no_favicon():
    """A browser asks for /favicon.ico without the page's ?token=: a 401 in its console."""
    for page in ("example/web/page.py", "example/tts/page.py"):
        assert '<link rel="icon" href="data:,">' in (ROOT / page).read_text(), page


@pytest.mark.parametrize("client", ["example/embed/client.py", "example/embed/client.mjs"])
def test_the_embed_clients_send_owt_token_too(token_server, client):
    command = [sys.executable] if client.endswith(".py") else ["node"]
    port = token_server.url.rsplit(":", 1)[1]
    env = {**os.environ, "OWT_PORT": port, "OWT_ADDRESS": "127.0.0.1"}
    for token, error in (("", "unauthorized"), ("T0k3n", "unknown_env")):  # no embed env here
        done = subprocess.run(
            [*command, str(ROOT / client)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**env, "OWT_TOKEN": token},
        )
        assert done.returncode != 0 and error in done.stderr, done.stderr


def test_what_the_examples_write_is_ignored_by_git():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    written = [
        "example/typed/Endpoints.hs",
        "example/typed/endpoints.py",
        "example/typed/endpoints.ts",
        "example/typed/cat.pbm",
        "vectors.npy",
        "example/embed/vectors.npy",
        "sentence0.wav",
    ]
    checked = subprocess.run(
        ["git", "check-ignore", "--no-index", *written], capture_output=True, text=True, cwd=ROOT
    )
    assert checked.stdout.split() == written
