"""Starting the server: flags, OWT_* variables, the ready line, the public-bind guard."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import pytest
from conftest import ROOT, OwtProcess, call, wait_until

from owt.config import Settings, SettingsError


def test_ready_line_and_python_m_owt_server():
    server = OwtProcess(command=[sys.executable, "-m", "owt.server", "--port", "0"])
    try:
        assert server.lines[-1].startswith("owt serving on http://127.0.0.1:")
        assert call(server.url, "def run(): return 'm'").text == "m"
    finally:
        assert server.stop() == 0


def test_flags_without_command_mean_serve():
    server = OwtProcess(command=[sys.executable, "-m", "owt", "--port", "0"])
    assert server.stop() == 0


def test_environment_variables_set_flags():
    server = OwtProcess(env={"OWT_ADDRESS": "::1"})
    try:
        assert server.url.startswith("http://[::1]:")
        assert httpx.get(server.url + "/_owt/health").text == "ok"
    finally:
        server.stop()


@pytest.mark.parametrize("address", ["0.0.0.0", "::"])
def test_public_address_without_auth_is_refused(address):
    result = subprocess.run(
        [sys.executable, "-m", "owt", "serve", "--address", address, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={**os.environ},
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--insecure" in lines[0]


@pytest.mark.parametrize("origin", ["*", "null", "NULL"])
def test_cors_for_every_page_needs_a_token(origin):
    """Any web page (``*``), or any site's sandboxed frame (``null``), could run code: not
    without a token, which no page of another site knows (a browser sends --auth's password
    by itself)."""
    for extra, refused in ([], True), (["--auth", "a:" + "0" * 64], True), (["--insecure"], False):
        settings = Settings(cors=[origin], auth=extra[1:], insecure="--insecure" in extra)
        if not refused:
            settings.check()
            continue
        said = re.escape(f"refusing --cors {origin} without --token")
        with pytest.raises(SettingsError, match=said):
            settings.check()
    Settings(cors=[origin], token=["t0ken"]).check()


def test_a_port_in_use_or_a_foreign_address_is_one_line_saying_what_to_do(owt_server):
    taken = owt_server.url.rsplit(":", 1)[1]
    for args, words in [
        (["--port", taken], "the port is in use"),
        (["--address", "192.0.2.1", "--token", "t", "--port", "0"], "not an address of this"),
    ]:
        result = subprocess.run(
            [sys.executable, "-m", "owt", "serve", *args],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
        )
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr  # no traceback
        assert words in lines[0]
        assert "--port" in lines[0] or "--address" in lines[0]


def test_an_environment_that_is_not_python_is_a_line_saying_what_to_do(tmp_path):
    noisy = tmp_path / "python"
    noisy.write_text("#!/bin/sh\necho not python >&2\nexit 7\n")
    noisy.chmod(0o755)
    for python in ["/bin/true", str(noisy)]:
        result = subprocess.run(
            [sys.executable, "-m", "owt", "serve", "--port", "0", "--env", f"x={python}"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert result.returncode != 0
        assert "Traceback" not in result.stderr, result.stderr
        said = [line for line in result.stderr.splitlines() if "environment 'x'" in line]
        assert len(said) == 1, result.stderr
        assert python in said[0] and "is it a Python >= 3.10 interpreter?" in said[0]
    assert "not python" in result.stderr  # what it printed comes before


def test_insecure_allows_public_address(start_server):
    server = start_server("--address", "0.0.0.0", "--insecure")
    port = server.url.rsplit(":", 1)[1]
    assert httpx.get(f"http://127.0.0.1:{port}/_owt/health").text == "ok"
    # allowed, and said: the operator should not forget it
    assert "--insecure: listening on 0.0.0.0 without credentials" in server.log


def test_requests_are_logged_by_default_and_not_with_quiet(start_server):
    server = start_server()
    call(server.url, "def run(): return 1")
    assert wait_until(lambda: any(" POST / 200 " in line for line in server.lines))
    quiet = start_server("-q")
    call(quiet.url, "def run(): return 1")
    assert not any("owt.access" in line for line in quiet.lines)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_stop_cleanly(start_server, sig):
    server = start_server()
    assert server.stop(sig) == 0


def test_server_sing_knows_its_address(owt_server):
    r = call(owt_server.url, "def run(): return Server.sing().url")
    assert r.text == owt_server.url


def test_owt_serve_from_python_takes_the_same_options():
    code = "import owt; owt.serve(port=0, timeout=0.5)"
    server = OwtProcess(command=[sys.executable, "-c", code])
    try:
        r = call(server.url, "import time\ndef run(): time.sleep(2)")
        assert r.status_code == 504
        assert r.json()["timeout"] == 0.5
    finally:
        assert server.stop() == 0


def test_owt_serve_from_python_refuses_bad_options():
    code = "import owt; owt.serve(address='0.0.0.0', port=0)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert result.returncode != 0
    assert "--insecure" in result.stderr
