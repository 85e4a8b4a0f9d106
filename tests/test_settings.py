"""Settings are the one source: every flag has its OWT_* variable and serve() keyword."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from conftest import ROOT, OwtProcess, call, free_port, make_wheel

from owt.cli import serve as cli_serve
from owt.config import Settings, SettingsError, options


def test_every_flag_names_its_variable_in_the_help():
    help_text = CliRunner().invoke(cli_serve.cli, ["serve", "--help"], terminal_width=400).output
    for opt in options():
        assert opt.flag in help_text
        assert f"(env {opt.envvar})" in help_text


def test_every_setting_is_a_flag_a_variable_and_a_keyword():
    for opt in options():
        assert opt.envvar == "OWT_" + opt.name.upper()
        Settings.from_options({}, **{opt.name: None})  # serve(**kw) takes every field


@pytest.mark.parametrize(
    ("environ", "given", "expected"),
    [
        ({"OWT_TIMEOUT": "5"}, {}, {"timeout": 5.0}),
        ({"OWT_TIMEOUT": "5"}, {"timeout": 9.0}, {"timeout": 9.0}),
        ({"OWT_LOCKED": "yes", "OWT_MAX_QUEUE": "3"}, {}, {"locked": True, "max_queue": 3}),
        ({"OWT_CORS": "http://a, http://b"}, {}, {"cors": ["http://a", "http://b"]}),
        ({"OWT_CORS": "http://a"}, {"cors": ("http://c",)}, {"cors": ["http://c"]}),
        ({"OWT_VERBOSE": "2"}, {"verbose": 0}, {"verbose": 2}),
        ({"OWT_STATE_DIR": "/tmp/x"}, {}, {"state_dir": Path("/tmp/x")}),
        ({"OWT_MAX_BODY_BYTES": "1MiB"}, {}, {"max_body_bytes": 1024 * 1024}),
        ({"OWT_WORKER_MAX_MEMORY": "300MB"}, {}, {"worker_max_memory": 300_000_000}),
    ],
)
def test_variables_under_given_values(environ, given, expected):
    settings = Settings.from_options(environ, **given)
    for name, value in expected.items():
        assert getattr(settings, name) == value


def test_a_bad_variable_names_itself():
    with pytest.raises(SettingsError, match="OWT_PORT='http'"):
        Settings.from_options({"OWT_PORT": "http"})
    with pytest.raises(SettingsError, match="OWT_MAX_BODY_BYTES='2x' is not a valid size"):
        Settings.from_options({"OWT_MAX_BODY_BYTES": "2x"})


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("300MB", 300_000_000),
        ("300M", 300 * 2**20),
        ("300MiB", 300 * 2**20),
        ("1.5g", 3 * 2**29),
        ("64 KiB", 65536),
        ("4096", 4096),
        ("10kb", 10_000),
        ("7B", 7),
    ],
)
def test_byte_flags_take_units(monkeypatch, text, size):
    given = {}
    monkeypatch.setattr(cli_serve, "_run_serve", lambda **kw: given.update(kw))
    result = CliRunner().invoke(cli_serve.serve_command, ["--worker-max-memory", text])
    assert result.exit_code == 0, result.output
    assert given["worker_max_memory"] == size


def test_a_byte_flag_that_is_no_size_says_how_to_write_one():
    result = CliRunner().invoke(cli_serve.serve_command, ["--max-body-bytes", "lots"])
    assert result.exit_code == 2 and "e.g. 300MB, 256MiB" in result.output


def test_owt_timeout_sets_the_default_timeout(start_server):
    server = start_server(env={"OWT_TIMEOUT": "0.5"})
    r = call(server.url, "import time\ndef run():\n    time.sleep(3)")
    assert r.status_code == 504
    assert r.json()["timeout"] == 0.5


def test_owt_port_reaches_owt_serve_from_python():
    port = free_port()
    server = OwtProcess(
        command=[sys.executable, "-c", "import owt; owt.serve()"],
        env={"OWT_PORT": str(port), "OWT_ADDRESS": "127.0.0.1"},
    )
    try:
        assert server.url == f"http://127.0.0.1:{port}"
        assert call(server.url, "def run(): return 'ok'").text == "ok"
    finally:
        server.stop()


LIMIT = ["--worker-max-memory", "1000000"]


def test_a_worker_limit_without_workers_refuses_to_start():
    result = subprocess.run(
        [sys.executable, "-m", "owt", "serve", "--port", "0", "--in-process", *LIMIT],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--worker-max-memory" in lines[0] and "--in-process" in lines[0]


@pytest.fixture
def pip_venv(tmp_path: Path) -> str:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    return str(venv / "bin" / "python")


@pytest.mark.parametrize("allowed", [True, False])
def test_allow_install_lets_installing_run(start_server, tmp_path, pip_venv, allowed):
    wheel = make_wheel(tmp_path, "owt_tiny", {"owt_tiny.py": b"ANSWER = 42\n"})
    flags = ["--env", f"pkgs={pip_venv}", *(["--allow-install"] if allowed else [])]
    server = start_server(*flags, env={"PIP_NO_INDEX": "1", **os.environ})
    code = f"pipe().installing({str(wheel)!r}).importing('owt_tiny').f(lambda _: owt_tiny.ANSWER)"
    r = call(server.url, code, fields={"env": "pkgs"}, timeout=120)
    if allowed:
        assert (r.status_code, r.text) == (200, "42"), r.json()["message"]
    else:
        assert r.status_code == 500
        assert "--allow-install" in r.json()["message"]


@pytest.mark.parametrize(
    ("given", "threads"),
    [
        ({}, False),  # the default: main in a worker process
        ({"in_process": True}, True),
        ({"executor": "thread"}, True),  # the older spelling of --in-process
        ({"in_process": True, "executor": "ray"}, False),  # Ray runs every environment
    ],
)
def test_where_main_runs(given, threads):
    settings = Settings.from_options({}, **given)
    assert settings.in_threads is threads
    assert settings.workers is (not threads)


def test_a_token_flag_is_taken_whole_and_a_variable_is_split():
    assert Settings.from_options({}, token=["Zq8#long,x"]).token == ["Zq8#long,x"]
    assert Settings.from_options({"OWT_TOKEN": "a, b"}).token == ["a", "b"]


@pytest.mark.parametrize(
    "given",
    [
        {"token": [""]},  # --token "$UNSET": an open server, had it been dropped
        {"token": [" "]},
        {"token": ["tökén"]},  # no HTTP header carries it
        {"token": ["two words"]},
        {"timeout": float("nan")},
        {"timeout": float("inf")},
        {"header_timeout": float("nan")},
        {"build_timeout": float("nan")},
        {"graceful_timeout": float("nan")},
        {"drain_grace": -1.0},
    ],
)
def test_a_value_that_cannot_work_refuses_to_start(given):
    with pytest.raises(SettingsError):
        Settings.from_options({}, **given).check()


def test_a_token_with_a_comma_is_one_token(start_server):
    server = start_server("--token", "Zq8#long,x")
    code = {"code_b64": "ZGVmIHJ1bigpOiByZXR1cm4gMQ=="}  # def run(): return 1
    for token, status in (("Zq8#long,x", 200), ("x", 401), ("Zq8#long", 401)):
        r = httpx.post(server.url, json=code, headers={"authorization": f"Bearer {token}"})
        assert r.status_code == status, (token, r.text)


def test_a_user_name_with_a_colon_refuses_to_start():
    """Basic auth's user-id ends at its first colon: such a user could never log in."""
    with pytest.raises(SettingsError, match="holds no ':'"):
        Settings.from_options({}, auth=["a:b:" + "0" * 64]).check()
