"""The example folders run as written against a real server."""

from __future__ import annotations

import json
import os
import subprocess

import httpx
import pytest
from conftest import ROOT, OwtProcess


def run_script(server: OwtProcess, script: str, *args: str, **env: str) -> str:
    port = server.url.rsplit(":", 1)[1]
    result = subprocess.run(
        ["bash", str(ROOT / script), *args],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "OWT_PORT": port, "OWT_ADDRESS": "127.0.0.1", **env},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


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
