"""Benchmark plumbing: start servers, drive load (wrk, else a bounded Python client),
record results in bench/RESULTS.md between per-benchmark markers."""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"


def options(
    doc: str, *, seconds: float | None, rounds: int | None, not_timed: str = ""
) -> argparse.ArgumentParser:
    """A bench's command line, its docstring as help, with the options every bench takes
    (bench/run.py passes them to each): ``--seconds`` of each timed load, ``--rounds``,
    ``--no-record``. A bench that times no load (``seconds`` None) accepts ``--seconds`` and
    says why it has no use for it (``not_timed``); likewise ``--rounds``."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    unused = "accepted for bench/run.py, which passes it to every bench; not used here"
    if seconds is None:
        parser.add_argument("--seconds", type=float, help=f"{unused}: {not_timed}")
    else:
        parser.add_argument(
            "--seconds", type=float, default=seconds, help="of each timed load (%(default)g)"
        )
    if rounds is None:
        parser.add_argument("--rounds", type=int, help=f"{unused}: one measurement")
    else:
        parser.add_argument(
            "--rounds", type=int, default=rounds, help="measured rounds, medians (%(default)d)"
        )
    parser.add_argument(
        "--no-record", action="store_true", help="print the results only (a trial run)"
    )
    return parser


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
    cmd = [*prefix, sys.executable, "-m", "owt", "serve", "--port", "0", *args]
    with started(cmd, stdout=subprocess.PIPE, stderr=stderr) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("owt serving on "):
            raise RuntimeError(f"owt did not start: {line!r}")
        yield ServerURL(line.split()[-1], proc.pid)


@contextmanager
def process_server(cmd: list[str], port: int, ready: str = "/ready") -> Iterator[ServerURL]:
    """Another server (bare Starlette, LitServe) on ``port``, once ``ready`` answers 200."""
    url = f"http://127.0.0.1:{port}"
    with started(cmd) as proc:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd} exited with {proc.returncode} before it was ready")
            try:
                if httpx.get(url + ready, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{cmd} did not answer 200 on {ready} within 60 s")
            time.sleep(0.1)
        yield ServerURL(url, proc.pid)


@contextmanager
def started(
    cmd: list[str],
    *,
    stdin: Any = subprocess.DEVNULL,
    stdout: Any = subprocess.DEVNULL,
    stderr: Any = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
    grace: float = 10,
) -> Iterator[subprocess.Popen[str]]:
    """``cmd`` in a session of its own with a temp folder of its own (``TMPDIR``; ``env``
    adds variables); after, every process of its group is stopped (``stop_group``) and the
    folder removed.

    Servers start processes of their own (LitServe: its workers and a resource tracker) that
    may ignore SIGTERM or outlive the server, and leave temp folders (``pymp-*``) behind.
    """
    with tempfile.TemporaryDirectory(prefix="owt-bench-") as tmp:
        proc = subprocess.Popen(
            cmd,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            text=True,
            cwd=ROOT,
            env={**os.environ, **(env or {}), "TMPDIR": tmp},
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            stop_group(proc, cmd, grace)
            for pipe in (proc.stdin, proc.stdout):
                if pipe:
                    pipe.close()


def group_pids(pgid: int) -> list[int]:
    """The live processes of process group ``pgid``."""
    return [pid for pid, stat in _processes() if int(stat[2]) == pgid]


def pids_with(variable: str, value: str) -> list[int]:
    """The live processes (but this one) whose environment holds ``variable=value``: what a
    run started, wherever it went (a cluster's processes outlive their parents)."""
    marker = f"{variable}={value}".encode()
    return [pid for pid, _ in _processes() if pid != os.getpid() and marker in _environ(pid)]


def _processes() -> Iterator[tuple[int, list[str]]]:
    """Each live process (not a zombie) with the fields of its /proc stat after its name."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # it ended since the listing
                continue
            if stat[0] != "Z":
                yield int(entry.name), stat


def _environ(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:  # it ended, or is another user's
        return []


def stop_group(proc: subprocess.Popen[Any], cmd: Sequence[str], grace: float = 10) -> None:
    """Stop ``proc`` (a session leader) and every process of its group (``stop_all``)."""
    stop_all(lambda: group_pids(proc.pid), shlex.join(cmd), grace)
    proc.wait(10)  # once it ended it is a zombie until reaped, and not listed as running


def stop_all(pids: Callable[[], list[int]], what: str, grace: float = 10) -> None:
    """Stop every process ``pids()`` lists: SIGTERM, then SIGKILL for what still runs after
    ``grace`` seconds (said on stderr). Raises if anything still runs after that."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        for pid in pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not pids():
            return
        print(f"{what}: {pids()} still ran {wait:g} s after {sig.name}", file=sys.stderr)
    raise RuntimeError(f"{what} left processes running: {pids()}")


def answered(url: str, *, body: dict | None = None, timeout: float = 300) -> httpx.Response:
    """The first 200 answer of ``url`` (GET, or POST of a JSON ``body``), asked again while
    the server cannot answer yet (not listening, 5xx), for up to ``timeout`` seconds.

    A warm-up: the code compiled, the worker started, the model loaded, before any timed
    load (a load of fixed length measures whatever part of the start it meets).
    """
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            if body is None:
                r = httpx.get(url, timeout=max(left, 1))
            else:
                r = httpx.post(url, json=body, timeout=max(left, 1))
            if r.status_code == 200:
                return r
            if r.status_code < 500:  # asking again will not change the answer
                raise RuntimeError(f"{url} answered {r.status_code}: {r.text[:500]}")
            last = f"{r.status_code}: {r.text[:500]}"
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} gave no answer within {timeout:g} s (last: {last})")
        time.sleep(0.2)


def load(
    url: str,
    *,
    body: dict | None = None,
    seconds: float = 8,
    connections: int = 16,
) -> float:
    """Requests per second against ``url`` (GET, or POST of a JSON ``body``)."""
    if shutil.which("wrk"):
        rate = _wrk(url, body, seconds, connections)
    else:
        rate = _python_load(url, body, seconds, connections)
    if rate <= 0:
        raise RuntimeError(
            f"no request to {url} was answered in {seconds:g} s: the server was still "
            "starting (a model loading?) or is stuck. Warm it up with answered() first, or "
            "give it more --seconds"
        )
    return rate


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


def added(difference: float, more: str, digits: int = 1, each: str = "") -> str:
    """A difference in ms that owt adds, as text: a negative one is not a speed-up but a run
    too short (or too noisy) to tell the sides apart, and says so.

    >>> added(4.94, "--calls", each=" per call")
    'adds 4.9 ms per call'
    """
    if difference >= 0:
        return f"adds {difference:.{digits}f} ms{each}"
    return (
        f"adds nothing measurable{each} ({difference:+.{digits}f} ms: within this run's "
        f"noise; a longer run, with more {more}, tells)"
    )


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}"
