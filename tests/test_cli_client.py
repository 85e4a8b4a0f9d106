"""``owt call | encode | url`` against a real server."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from conftest import timed_lines, wait_until

from owt.cli.client import call_command, encode_command, parse_arguments, url_command

HELLO = 'def run(name, n=1):\n    return {"hi": name, "n": n}\n'
SLOW = """
import time
def run(n):
    for i in range(n):
        yield f"{i}\\n"
        time.sleep(0.5)
"""


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    path = tmp_path / "hello.py"
    path.write_text(HELLO)
    return path


def test_parse_arguments() -> None:
    args = ("name=owt", "n:=3", "flags:=[1, true]", "eq=a=b", "empty=")
    assert parse_arguments(args) == {
        "name": "owt",
        "n": 3,
        "flags": [1, True],
        "eq": "a=b",
        "empty": "",
    }


def test_call_prints_the_result(owt_server: Any, hello: Path) -> None:
    result = CliRunner().invoke(call_command, [owt_server.url, str(hello), "name=owt", "n:=3"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"hi": "owt", "n": 3}


def test_call_code_from_stdin_with_get(owt_server: Any) -> None:
    code = "def run(request, name): return f'{request.method} {request.path} {name}'"
    result = CliRunner().invoke(
        call_command, ["--get", owt_server.url + "/some/path", "-", "name=x"], input=code
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "GET /some/path x\n"


def test_call_options(owt_server: Any) -> None:
    code = "def hello(name): return name.upper()"
    args = ["--fn", "hello", "--timeout", "5", owt_server.url, "-", "name=owt"]
    result = CliRunner().invoke(call_command, args, input=code)
    assert result.exit_code == 0, result.output
    assert result.stdout == "OWT\n"


def test_error_exits_non_zero_with_message(owt_server: Any) -> None:
    result = CliRunner().invoke(
        call_command, [owt_server.url, "-"], input="def run(): raise ValueError('boom')"
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "adaptor_error (500): ValueError: boom" in result.stderr


def test_unreachable_server_exits_non_zero(hello: Path) -> None:
    result = CliRunner().invoke(call_command, ["http://127.0.0.1:9", str(hello), "name=x"])
    assert result.exit_code == 1
    assert result.stderr.startswith("owt: connection_failed: cannot reach http://127.0.0.1:9")


def test_bad_argument_is_a_usage_error(owt_server: Any, hello: Path) -> None:
    result = CliRunner().invoke(call_command, [owt_server.url, str(hello), "oops"])
    assert result.exit_code == 2
    assert "NAME=text or NAME:=json" in result.stderr


def test_stream_prints_chunks_as_they_come(owt_server: Any, tmp_path: Path) -> None:
    """Through the real ``owt`` entry point (``python -m owt call``), so the command is wired."""
    path = tmp_path / "slow.py"
    path.write_text(SLOW)
    cmd = [sys.executable, "-m", "owt", "call", "--stream", owt_server.url, str(path), "n:=3"]
    lines = timed_lines(cmd)
    assert [line for line, _ in lines] == ["0\n", "1\n", "2\n"]
    assert lines[-1][1] - lines[0][1] >= 0.8


def test_encode_prints_the_json_body(owt_server: Any, hello: Path) -> None:
    result = CliRunner().invoke(encode_command, [str(hello), "name=owt", "--use-cache"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert base64.b64decode(body["code_b64"]).decode() == HELLO
    assert body["kwargs"] == {"name": "owt"}
    assert body["use_cache"] is True
    # use_cache keys by path on a shared server: a path of its own.
    reply = httpx.post(owt_server.url + "/test-cli-encode", json=body, timeout=10)
    assert reply.json() == {"hi": "owt", "n": 1}


def test_url_prints_a_get_url(owt_server: Any, hello: Path) -> None:
    result = CliRunner().invoke(url_command, [owt_server.url + "/hi", str(hello), "name=é ü"])
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith(owt_server.url + "/hi?code_b64=")
    assert httpx.get(url, timeout=10).json() == {"hi": "é ü", "n": 1}


def test_credentials_from_the_url_or_flags(start_server: Any, hello: Path) -> None:
    password_hash = hashlib.sha256(b"s3cret").hexdigest()
    server = start_server("--auth", f"alice:{password_hash}", "--token", "t0ken")
    with_user = server.url.replace("http://", "http://alice:s3cret@")
    for args in ([with_user], ["--token", "t0ken", server.url]):
        result = CliRunner().invoke(call_command, [*args, str(hello), "name=x"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {"hi": "x", "n": 1}
    result = CliRunner().invoke(call_command, [server.url, str(hello), "name=x"])
    assert result.exit_code == 1
    assert "unauthorized (401)" in result.stderr
    # A URL for a browser carries the token in itself (it can send no header).
    args = ["--token", "t0ken", server.url, str(hello), "name=owt", "n:=2"]
    result = CliRunner().invoke(url_command, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("&token=t0ken")
    assert httpx.get(result.stdout.strip(), timeout=10).json() == {"hi": "owt", "n": 2}


DIGEST = """
import hashlib
def run(request, label="x"):
    digest = hashlib.sha256()
    for chunk in request.stream():
        digest.update(chunk)
    return {"label": label, "sha": digest.hexdigest(), "type": request.content_type,
            "kind": type(request).__name__}
"""


def test_call_uploads_a_file_or_stdin_as_the_raw_body(owt_server: Any, tmp_path: Path) -> None:
    code = tmp_path / "digest.py"
    code.write_text(DIGEST)
    take = tmp_path / "take.wav"
    take.write_bytes(bytes(range(256)) * 8192)  # 2 MiB: it streams
    want = hashlib.sha256(take.read_bytes()).hexdigest()
    result = CliRunner().invoke(
        call_command,
        [
            "--upload",
            str(take),
            "--content-type",
            "audio/wav",
            owt_server.url,
            str(code),
            "label=a",
        ],
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer == {"label": "a", "sha": want, "type": "audio/wav", "kind": "StreamedRequest"}
    with take.open("rb") as stdin:  # a pipe of no known length: sent chunked
        piped = subprocess.run(
            [sys.executable, "-m", "owt", "call", "--upload", "-", owt_server.url, str(code)],
            stdin=stdin,
            capture_output=True,
            timeout=60,
        )
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["sha"] == want


def test_call_upload_refuses_what_cannot_go_with_it(owt_server: Any, tmp_path: Path) -> None:
    code = tmp_path / "digest.py"
    code.write_text(DIGEST)
    runner = CliRunner()
    both = runner.invoke(call_command, ["--upload", "-", owt_server.url, "-"], input="x")
    assert both.exit_code == 2 and "stdin" in both.output
    streamed = runner.invoke(call_command, ["--upload", str(code), "--stream", "u", str(code)])
    assert streamed.exit_code == 2 and "--stream" in streamed.output
    missing = runner.invoke(call_command, ["--upload", str(tmp_path / "no"), "u", str(code)])
    assert missing.exit_code == 2 and "cannot read" in missing.output
    # An upload's code goes in the URL: code too long for one is told to be an endpoint.
    code.write_text(DIGEST + "\nPAD = '" + "x" * 60_000 + "'\n")
    long = runner.invoke(call_command, ["--upload", str(code), owt_server.url, str(code)])
    assert long.exit_code == 1 and "owt serve --mount" in long.output, long.output
    assert "Traceback" not in long.output


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999", "[1, 1e999]"])
@pytest.mark.parametrize("command", ["call", "encode", "url"])
def test_json_without_a_json_reading_is_a_usage_error(
    owt_server: Any, hello: Path, command: str, value: str
) -> None:
    """Python's json reads NaN and Infinity (1e999 as infinity); JSON has no such numbers."""
    args = [str(hello), f"n:={value}"]
    result = CliRunner().invoke(COMMANDS[command], ARGS[command](owt_server.url) + args)
    assert result.exit_code == 2, result.output
    assert f"'n:={value}': the value is not JSON" in result.stderr
    assert "Traceback" not in result.output


COMMANDS = {"call": call_command, "encode": encode_command, "url": url_command}
ARGS = {"call": lambda url: [url], "encode": lambda url: [], "url": lambda url: [url]}


@pytest.mark.parametrize(
    "option", [("--timeout", "nan"), ("--timeout", "inf"), ("--timeout", "-1"), ("--timeout", "0")]
)
@pytest.mark.parametrize("command", ["call", "encode", "url"])
def test_a_timeout_is_a_positive_finite_number(
    owt_server: Any, hello: Path, command: str, option: tuple[str, str]
) -> None:
    args = [*option, *ARGS[command](owt_server.url), str(hello), "name=x"]
    result = CliRunner().invoke(COMMANDS[command], args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--timeout'" in result.stderr
    assert "positive, finite number of seconds" in result.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "0"])
def test_the_http_timeout_is_a_positive_finite_number(
    owt_server: Any, hello: Path, value: str
) -> None:
    args = ["--http-timeout", value, owt_server.url, str(hello), "name=x"]
    result = CliRunner().invoke(call_command, args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--http-timeout'" in result.stderr


@pytest.mark.parametrize("command", ["call", "encode", "url"])
def test_a_code_file_that_is_not_utf8_is_refused(
    owt_server: Any, tmp_path: Path, command: str
) -> None:
    bad = tmp_path / "bad.py"
    bad.write_bytes(b'def run(x):\n    return "\xff"\n')
    runner = CliRunner()
    for file, stdin in ((str(bad), None), ("-", bad.read_bytes())):
        result = runner.invoke(COMMANDS[command], [*ARGS[command](owt_server.url), file], stdin)
        assert result.exit_code == 2, result.output
        assert "is not UTF-8 text (byte 0xff at offset 24)" in result.stderr
        assert "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()[-1]) < 200


@pytest.mark.parametrize("command", ["call", "encode", "url"])
def test_an_empty_code_file_is_refused(owt_server: Any, tmp_path: Path, command: str) -> None:
    empty = tmp_path / "empty.py"
    for text in ("", "\n  \n", "\ufeff"):
        empty.write_text(text)
        result = CliRunner().invoke(COMMANDS[command], [*ARGS[command](owt_server.url), str(empty)])
        assert result.exit_code == 2, result.output
        assert f"Invalid value for 'FILE': the file {str(empty)!r} is empty" in result.stderr
    piped = CliRunner().invoke(COMMANDS[command], [*ARGS[command](owt_server.url), "-"], "")
    assert piped.exit_code == 2 and "the code is empty" in piped.stderr


@pytest.mark.parametrize("command", ["call", "url"])
def test_a_url_that_is_no_server_address_is_a_usage_error(hello: Path, command: str) -> None:
    for url in ("http://[::1", "http://127.0.0.1:99999", "ftp://127.0.0.1:1", "http://"):
        result = CliRunner().invoke(COMMANDS[command], [url, str(hello), "name=x"])
        assert result.exit_code == 2, (url, result.output)
        assert f"Invalid value for 'URL': {url!r}" in result.stderr


ECHO = "def run(request, name): return {'path': request.path, 'q': request.args.get('q')}"


def test_url_percent_encodes_the_path_and_query_for_a_shell(
    owt_server: Any, tmp_path: Path
) -> None:
    echo = tmp_path / "echo.py"
    echo.write_text(ECHO)
    given = owt_server.url + "/a b/é/%41?q=x y é#top"
    result = CliRunner().invoke(url_command, [given, str(echo), "name=n"])
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.isascii() and " " not in url, url
    assert url.startswith(owt_server.url + "/a%20b/%C3%A9/%41?q=x%20y%20%C3%A9&code_b64="), url
    assert url.endswith("#top")  # the call's query goes before the fragment
    # Pasted into curl as it is: the server reads the path and query the user wrote.
    curl = subprocess.run(["curl", "-sS", url], capture_output=True, text=True, timeout=30)
    assert json.loads(curl.stdout) == {"path": "/a b/é/A", "q": "x y é"}, curl.stderr


BAD = "\udcff"  # how Python hands over a command-line byte that is not UTF-8


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["{url}", "{hello}", f"name={BAD}"], "ARGS"),
        (["{url}", "{hello}", f"{BAD}:=1"], "ARGS"),
        (["{url}/" + BAD, "{hello}"], "'URL'"),
        (["--env", BAD, "{url}", "{hello}"], "'--env'"),
        (["--fn", BAD, "{url}", "{hello}"], "'--fn'"),
        (["-r", BAD, "{url}", "{hello}"], "'-r' / '--requirement'"),
        (["--auth", f"{BAD}:pw", "{url}", "{hello}"], "'--auth'"),
        (["--token", "é", "{url}", "{hello}"], "'--token'"),
        (["--upload", "{hello}", "--content-type", "é", "{url}", "{hello}"], "'--content-type'"),
    ],
)
def test_text_that_no_request_can_carry_is_a_usage_error(
    owt_server: Any, hello: Path, args: list[str], hint: str
) -> None:
    args = [a.format(url=owt_server.url, hello=hello) for a in args]
    result = CliRunner().invoke(call_command, args)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for {hint}: " in result.stderr
    assert "is not UTF-8 text" in result.stderr or "printable ASCII" in result.stderr


@pytest.mark.parametrize("command", ["encode", "url"])
def test_encode_and_url_refuse_text_that_is_not_utf8(
    owt_server: Any, hello: Path, command: str
) -> None:
    args = [*ARGS[command](owt_server.url), str(hello), f"name={BAD}"]
    result = CliRunner().invoke(COMMANDS[command], args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for ARGS: 'name=\\udcff' is not UTF-8 text" in result.stderr


def test_a_file_argument_whose_name_is_not_utf8_is_sent(owt_server: Any, tmp_path: Path) -> None:
    """A path is the file system's bytes: the file is read, its part named as well as text can."""
    data = tmp_path / os.fsdecode(b"\xff.bin")
    data.write_bytes(b"12345")
    code = "def run(request, f): return [len(f), request.files['f'].filename]"
    result = CliRunner().invoke(call_command, [owt_server.url, "-", f"f=@{data}"], input=code)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [5, "\ufffd.bin"]


@pytest.mark.parametrize("command", ["call", "encode"])
def test_output_that_cannot_be_written_is_one_line_not_a_traceback(
    owt_server: Any, hello: Path, command: str
) -> None:
    args = [owt_server.url] if command == "call" else []
    with open("/dev/full", "wb") as full:  # every write: "No space left on device"
        done = subprocess.run(
            [sys.executable, "-m", "owt", command, *args, str(hello), "name=x"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr == (
        "owt: could not write the output: No space left on device (free some space there, "
        "or send the output elsewhere)\n"
    )


def test_a_get_too_long_for_a_url_says_to_leave_out_get(owt_server: Any, tmp_path: Path) -> None:
    path = tmp_path / "len.py"
    path.write_text("def run(name): return len(name)")
    args = ["--get", owt_server.url, str(path), "name=" + "x" * 60_000]
    result = CliRunner().invoke(call_command, args)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("owt: too_long_for_url: --get sends the code and arguments")
    assert "leave out --get" in result.stderr and "Traceback" not in result.stderr
    assert CliRunner().invoke(call_command, args[1:]).stdout == "60000\n"  # as a POST


def test_a_client_timeout_names_the_flag_that_sets_it(owt_server: Any, tmp_path: Path) -> None:
    path = tmp_path / "slow.py"
    path.write_text("import time\ndef run():\n    time.sleep(3)\n    return 1\n")
    result = CliRunner().invoke(call_command, ["--http-timeout", "1", owt_server.url, str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("owt: client_timeout: ")
    assert "no answer within --http-timeout (1s): pass a larger --http-timeout" in result.stderr
    assert "timeout=" not in result.stderr  # the library's option, which the shell has not


def test_ctrl_c_exits_130_without_a_word(owt_server: Any, tmp_path: Path) -> None:
    started = tmp_path / "started"
    path = tmp_path / "wait.py"
    path.write_text(
        f"import pathlib, time\ndef run():\n    pathlib.Path({str(started)!r}).touch()\n"
        "    time.sleep(20)\n"
    )
    command = [sys.executable, "-m", "owt", "call", owt_server.url, str(path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert wait_until(started.exists, timeout=30)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert (out, err) == (b"", b"")  # not click's "Aborted!"


def test_an_address_without_a_scheme_is_plain_http(owt_server: Any, hello: Path) -> None:
    address = owt_server.url.removeprefix("http://")
    result = CliRunner().invoke(call_command, [address, str(hello), "name=bare"])
    assert json.loads(result.stdout) == {"hi": "bare", "n": 1}
    result = CliRunner().invoke(url_command, [address, str(hello)])
    assert result.stdout.startswith(owt_server.url + "/?code_b64=")
