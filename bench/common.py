"""Benchmark plumbing: start servers, drive load (wrk, else a bounded Python client),
record results in bench/RESULTS.md between per-benchmark markers."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerURL(str):
    """A server's URL that also knows the server's pid (to read its CPU time)."""

    pid: int

    def __new__(cls, url: str, pid: int) -> ServerURL:
        self = super().__new__(cls, url)
        self.pid = pid
        return self

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (and its threads) so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def owt_server(
    *args: str, stderr: Any = subprocess.DEVNULL, prefix: Sequence[str] = ()
) -> Iterator[ServerURL]:
    """A real ``owt serve`` on a free port; yields its URL and stops it after. Its log goes
    to ``stderr`` (a file, to measure the access log's cost); ``prefix`` runs it under a
    command (``taskset -c 0``)."""
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-m", "owt", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("owt serving on "):
            raise RuntimeError(f"owt did not start: {line!r}")
        yield ServerURL(line.split()[-1], proc.pid)
    finally:
        proc.terminate()
        proc.wait(15)
        if proc.stdout:
            proc.stdout.close()


@contextmanager
def process_server(cmd: list[str], port: int) -> Iterator[ServerURL]:
    # A session of its own, so that stopping it stops the processes it started too
    # (LitServe's workers outlived their server otherwise).
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/ready", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd} did not start") from None
                time.sleep(0.1)
        yield ServerURL(url, proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


def load(
    url: str,
    *,
    body: dict | None = None,
    seconds: float = 8,
    connections: int = 16,
) -> float:
    """Requests per second against ``url`` (GET, or POST of a JSON ``body``)."""
    if shutil.which("wrk"):
        return _wrk(url, body, seconds, connections)
    return _python_load(url, body, seconds, connections)


def load_tool() -> str:
    return "wrk" if shutil.which("wrk") else "python (httpx, bounded)"


def _wrk(url: str, body: dict | None, seconds: float, connections: int) -> float:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    with tempfile.TemporaryDirectory() as tmp:
        if body is not None:
            payload = json.dumps(body).replace("\\", "\\\\").replace('"', '\\"')
            script = Path(tmp) / "post.lua"
            script.write_text(
                'wrk.method = "POST"\n'
                f'wrk.body = "{payload}"\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
            )
            cmd += ["-s", str(script)]
        out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 30)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    if not match or "Non-2xx" in out.stdout:
        raise RuntimeError(f"wrk failed:\n{out.stdout}\n{out.stderr}")
    return float(match.group(1))


def _python_load(url: str, body: dict | None, seconds: float, connections: int) -> float:
    count = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        nonlocal count
        with httpx.Client(timeout=10) as client:
            while time.monotonic() < deadline:
                r = client.post(url, json=body) if body is not None else client.get(url)
                r.raise_for_status()
                with lock:
                    count += 1

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count / seconds


def record(section: str, text: str, results: Path = RESULTS) -> None:
    """Write ``text`` as the measured part of ``section`` of bench/RESULTS.md.

    A section is the generated part, then the notes written by hand, which a run keeps::

        <!-- NAME -->
        the table and lines a bench writes (replaced by each recorded run)

        <!-- NAME: notes -->
        history, trials, what changed (kept)
        <!-- /NAME -->
    """
    start, notes, end = f"<!-- {section} -->", f"<!-- {section}: notes -->", f"<!-- /{section} -->"
    generated = f"{start}\n{text.strip()}\n\n{notes}\n"
    current = results.read_text() if results.exists() else "# Benchmark results\n"
    if start not in current:
        results.write_text(f"{current.rstrip()}\n\n{generated}{end}\n")
        return
    begin = current.index(start)
    stop = current.find(end, begin)
    split = current.find(notes, begin, stop)
    if stop < 0 or split < 0:
        raise SystemExit(
            f"{results.name}: section {section!r} has no {notes} line before {end}, so "
            "a run cannot tell its table from the notes written below it (and would delete "
            f"them). Put {notes} on a line of its own after the table, then run again."
        )
    after = current[split + len(notes) :].removeprefix("\n")
    results.write_text(current[:begin] + generated + after)


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}"
