"""``clients/sh/owt.sh`` (bash, curl, base64 and tr only) against a real server."""

from __future__ import annotations

import base64
import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import timed_lines

ROOT = Path(__file__).resolve().parent.parent
HELPERS = ROOT / "clients" / "sh" / "owt.sh"
HELLO = "def run(name='world'):\n    return f'Hello, {name}!'\n"


def bash(script: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    command = ["bash", "-c", f"source {shlex.quote(str(HELPERS))}; {script}"]
    # Its own process group: a script past its time is stopped with its subshells and pipes,
    # which would otherwise run on (a quadratic one for minutes).
    with subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(stdin, timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    path = tmp_path / "hello é.py"  # a space and a non-ASCII name
    path.write_text(HELLO + "# ünïcode\n")
    return path


def test_owt_call(owt_server: Any, hello: Path) -> None:
    url, file = shlex.quote(owt_server.url), shlex.quote(str(hello))
    done = bash(f'owt_call {url} {file} \'{{"name": "owt"}}\'')
    assert (done.returncode, done.stdout) == (0, "Hello, owt!")
    assert bash(f"owt_call {url} {file}").stdout == "Hello, world!"
    # Python literal arguments work too (the server decodes kwargs_b64 as JSON or literal).
    assert bash(f"owt_call {url} {file} \"{{'name': 'py'}}\"").stdout == "Hello, py!"


def test_owt_call_code_from_stdin_and_curl_options(owt_server: Any) -> None:
    code = "def run(request, n):\n    return {'n': n, 'ua': request.headers.get('x-test')}\n"
    done = bash(f"owt_call {owt_server.url}/x - '{{\"n\": 3}}' -H 'x-test: yes'", stdin=code)
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"n": 3, "ua": "yes"}'


def test_owt_call_error(owt_server: Any) -> None:
    done = bash(f"owt_call {owt_server.url} -", stdin="def run(): raise ValueError('boom')")
    assert done.returncode == 22
    assert '"error": "adaptor_error"' in done.stdout and "boom" in done.stdout
    assert "500" in done.stderr


def test_owt_call_streams(owt_server: Any, tmp_path: Path) -> None:
    path = tmp_path / "slow.py"
    path.write_text(
        "import time\ndef run(n):\n"
        "    for i in range(n):\n        yield f'{i}\\n'\n        time.sleep(0.5)\n"
    )
    script = f"source {shlex.quote(str(HELPERS))}; owt_call {owt_server.url} {path} '{{\"n\": 3}}'"
    lines = timed_lines(["bash", "-c", script])
    assert [line for line, _ in lines] == ["0\n", "1\n", "2\n"]
    assert lines[-1][1] - lines[0][1] >= 0.8


def test_owt_url(owt_server: Any, hello: Path) -> None:
    done = bash(f'owt_url {owt_server.url}/hi {shlex.quote(str(hello))} \'{{"name": "é+/?"}}\'')
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith(owt_server.url + "/hi?code_b64=")
    assert httpx.get(url, timeout=10).text == "Hello, é+/?!"
    joined = bash(f"owt_url '{owt_server.url}/hi?x=1' {shlex.quote(str(hello))}").stdout
    assert "/hi?x=1&code_b64=" in joined
    assert httpx.get(joined.strip(), timeout=10).text == "Hello, world!"


def test_usage() -> None:
    done = bash("owt_call http://127.0.0.1:9")
    assert done.returncode == 2 and "usage: owt_call" in done.stderr


ECHO = "def run(request):\n    return {'path': request.path, 'q': request.args.get('q')}\n"


def test_owt_url_percent_encodes_the_path_and_query(owt_server: Any, tmp_path: Path) -> None:
    echo = tmp_path / "echo.py"
    echo.write_text(ECHO)
    given = shlex.quote(owt_server.url + "/a b/é/%41?q=x y é#top")
    done = bash(f"owt_url {given} {echo}")
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.isascii() and " " not in url, url
    assert url.startswith(owt_server.url + "/a%20b/%C3%A9/%41?q=x%20y%20%C3%A9&code_b64="), url
    assert url.endswith("#top")
    curl = subprocess.run(["curl", "-sS", url], capture_output=True, text=True, timeout=30)
    assert curl.stdout == '{"path": "/a b/é/A", "q": "x y é"}', curl.stderr


def test_empty_code_is_refused_before_sending(owt_server: Any, tmp_path: Path) -> None:
    empty = tmp_path / "empty.py"
    empty.write_text("")
    for helper in ("owt_call", "owt_url"):
        done = bash(f"{helper} {owt_server.url} {empty}")
        assert done.returncode == 2, done
        assert done.stderr == f"{helper}: {empty} is empty: there is no code to send\n"
        assert done.stdout == ""
    piped = bash(f"owt_call {owt_server.url} -", stdin="")
    assert piped.returncode == 2 and "stdin is empty" in piped.stderr


# 12 MB of arguments make a 16 MB body, the server's default limit. Bash's ${var//...} over
# the base64 was quadratic: 800 KB took 11 s, 4 MB minutes.
BIG = 12_000_000
MAKE_BIG = f"s=$(head -c {BIG} /dev/zero | tr '\\0' a); "


def test_owt_call_takes_a_body_at_the_size_limit_in_linear_time(
    owt_server: Any, tmp_path: Path
) -> None:
    size = tmp_path / "size.py"
    size.write_text("def run(s):\n    return len(s)\n")
    start = time.monotonic()
    done = bash(MAKE_BIG + f'owt_call {owt_server.url} {size} "{{\\"s\\": \\"$s\\"}}"')
    assert (done.returncode, done.stdout) == (0, str(BIG)), done.stderr
    assert time.monotonic() - start < 10


def test_owt_url_of_a_large_call_takes_linear_time(tmp_path: Path) -> None:
    code = "def run(s):\n    return len(s)\n" + "# ??? >>>\n" * 100_001
    size = tmp_path / "size.py"
    size.write_text(code)
    start = time.monotonic()
    done = bash(MAKE_BIG + f'owt_url http://127.0.0.1:9/x {size} "{{\\"s\\": \\"$s\\"}}"')
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - start < 10
    query = parse_qs(urlsplit(done.stdout.strip()).query)

    def unb64(text: str) -> bytes:
        assert "=" not in text and "+" not in text and "/" not in text  # URL-safe, unpadded
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    assert unb64(query["code_b64"][0]).decode() == code
    assert json.loads(unb64(query["kwargs_b64"][0])) == {"s": "a" * BIG}
