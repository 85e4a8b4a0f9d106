"""Shared fixtures: a real ``owt serve`` process on a free loopback port.

def test_hello(owt_server):
    r = call(owt_server.url, "def run(name): return name", name="owt")

def test_custom(start_server):
    server = start_server("--timeout", "1")
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
OWT = [sys.executable, "-m", "owt"]


def b64(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return base64.b64encode(data).decode()


class OwtProcess:
    """A running ``owt serve``; its log lines are collected in ``lines``."""

    def __init__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        ready_timeout: float = 30,
        command: list[str] | None = None,
        pass_fds: tuple[int, ...] = (),
    ) -> None:
        """``owt serve --port 0 ARGS``, or ``command`` (signalled as a process group)."""
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.group = command is not None
        self.proc = subprocess.Popen(
            command or [*OWT, "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
            cwd=cwd or ROOT,
            start_new_session=True,
            pass_fds=pass_fds,
        )
        self.lines: list[str] = []
        self.url = ""
        ready = threading.Event()

        def drain() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if line.startswith("owt serving on "):
                    self.url = line.split()[-1]
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=drain, daemon=True)
        self._reader.start()
        if not ready.wait(ready_timeout) or not self.url:
            self.stop()
            raise RuntimeError("owt did not start:\n" + "\n".join(self.lines))

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            if self.group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


@pytest.fixture
def start_server() -> Iterator[Callable[..., OwtProcess]]:
    started: list[OwtProcess] = []

    def start(*args: str, **kw: Any) -> OwtProcess:
        server = OwtProcess(*args, **kw)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A virtualenv with nothing installed, not even pip (so no owt and no Ray either)."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return str(venv / "bin" / "python")


@pytest.fixture(scope="session")
def owt_server() -> Iterator[OwtProcess]:
    """One server shared by the tests that need no special flags."""
    server = OwtProcess("--timeout", "10")
    yield server
    server.stop()


def call(
    url: str,
    code: str,
    path: str = "/",
    method: str = "POST",
    timeout: float = 30,
    fields: dict[str, Any] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Call ``code`` with ``kwargs``: POST JSON (``kwargs`` plain) or GET (``kwargs_b64``)."""
    if method == "GET":
        params = {"code_b64": b64(code), "kwargs_b64": b64(json.dumps(kwargs)), **(fields or {})}
        return httpx.get(url + path, params=params, timeout=timeout)
    body = {"code_b64": b64(code), "kwargs": kwargs, **(fields or {})}
    return httpx.post(url + path, json=body, timeout=timeout)


def timed_lines(command: list[str]) -> list[tuple[str, float]]:
    """A command's output lines, each with the seconds since start when it arrived."""
    start = time.monotonic()
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            lines = [(line, time.monotonic() - start) for line in proc.stdout]
            assert proc.wait(30) == 0
        finally:
            proc.kill()
    return lines


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def no_room_after(n: int) -> Callable[[threading.Thread], None]:
    """``threading.Thread.start`` that fails, as under a tight RLIMIT_AS, after ``n`` starts
    (patch it in with ``monkeypatch.setattr(threading.Thread, "start", ...)``)."""
    start = threading.Thread.start
    left = [n]

    def starting(thread: threading.Thread) -> None:
        if left[0] <= 0:
            raise RuntimeError("can't start new thread")
        left[0] -= 1
        start(thread)

    return starting


def no_room_once() -> Callable[[threading.Thread], None]:
    """``threading.Thread.start`` that fails the first time only, then starts threads."""
    start = threading.Thread.start
    refused: list[bool] = []

    def starting(thread: threading.Thread) -> None:
        if not refused:
            refused.append(True)
            raise RuntimeError("can't start new thread")
        start(thread)

    return starting


def wait_until(predicate: Callable[[], bool], timeout: float = 10, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def status(server: OwtProcess, timeout: float = 30) -> dict[str, Any]:
    """The server's ``/_owt/status``."""
    reply = httpx.get(server.url + "/_owt/status", timeout=timeout)
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (not gone, not a zombie waiting for its parent)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


CHROMIUM = Path(os.environ.get("OWT_CHROMIUM", "/usr/bin/chromium"))
# Debian's chromium as root on a closed network: no sandbox, no background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = ROOT / "test-artifacts"


def require(what: str) -> None:
    """A missing system dependency fails in CI (where .ci/run installs it), skips elsewhere."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is missing; .ci/run should have installed it")
    pytest.skip(f"{what} is missing")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Debian chromium driven by Playwright (never a downloaded browser).

    Module-scoped: Playwright's sync API keeps an event loop running in the main thread while
    it lives, which would break every later test that starts one of its own.
    """
    if not CHROMIUM.exists():
        require(f"{CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require("playwright (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def make_wheel(folder: Path, name: str, files: dict[str, bytes], version: str = "0.1") -> Path:
    """A pure-Python wheel of ``files``, built by hand (no build backend, no network)."""
    info = f"{name}-{version}.dist-info"
    files = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: owt-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        wheel.writestr(f"{info}/RECORD", "\n".join([*record, f"{info}/RECORD,,"]) + "\n")
    path = folder / f"{name}-{version}-py3-none-any.whl"
    path.write_bytes(buffer.getvalue())
    return path


_SLOW_BACKEND = """\
import base64, hashlib, os, time, zipfile

NAME, VERSION = {name!r}, "0.1"


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    time.sleep(float(os.environ.get("OWT_TEST_BUILD_SECONDS", "3")))
    info = f"{{NAME}}-{{VERSION}}.dist-info"
    files = {{
        f"{{NAME}}.py": b"ANSWER = 1\\n",
        f"{{info}}/METADATA": (
            f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n".encode()
        ),
        f"{{info}}/WHEEL": b"Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }}
    wheel_name = f"{{NAME}}-{{VERSION}}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{{path}},sha256={{digest.decode()}},{{len(data)}}")
        wheel.writestr(f"{{info}}/RECORD", "\\n".join([*record, f"{{info}}/RECORD,,"]) + "\\n")
    return wheel_name
"""


def make_slow_project(folder: Path, name: str) -> str:
    """A local project whose build step sleeps ``$OWT_TEST_BUILD_SECONDS`` (3) seconds, with
    a build backend of its own (nothing to download); installed as the requirement returned
    (``NAME @ file://...``), its module holds ``ANSWER = 1``. Start the server with
    ``UV_NO_CACHE=1`` so that every build of it sleeps."""
    project = folder / name
    project.mkdir(parents=True, exist_ok=True)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "slowbackend"\nbackend-path = ["."]\n'
        f'\n[project]\nname = "{name}"\nversion = "0.1"\n'
    )
    (project / "slowbackend.py").write_text(_SLOW_BACKEND.format(name=name))
    return f"{name} @ {project.as_uri()}"


def pytest_configure(config: pytest.Config) -> None:
    # The session's Ray cluster, for every Ray test module (started on first use).
    config.pluginmanager.import_plugin("raycluster")
