"""Building one requirement set's virtualenv, step by step, with its progress in words.

    creating → resolving → downloading (name, size) → installing → importing (a worker starts)

uv (or pip) writes its progress to the build log (``<key>.log`` beside the environment);
:class:`Progress` follows that log while the installer runs, names the phase it is in from
the installer's own lines (uv's ``Resolved 12 packages``, ``Downloading torch (800.0MiB)``,
``Prepared``, ``Installed``; pip's ``Collecting``, ``Downloading``, ``Installing collected
packages``), logs each step, and is what ``/_owt/status`` and a streamed caller's ``progress``
events show. The whole build is bounded by ``--build-timeout``, never by a call's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["Progress", "locked", "phase_of", "run_logged"]

log = logging.getLogger(__name__)

WATCH_INTERVAL = 0.25  # seconds between looks at the build log

# An installer's line → the phase it starts (first match wins).
_PHASES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^\s*(Resolved|Prepared \d+ packages? in|Audited)\b"), "resolved"),
    (re.compile(r"^\s*(Downloading|Downloaded|Collecting|Obtaining)\b"), "downloading"),
    (re.compile(r"^\s*(Prepared|Installing collected packages|Building wheels?)\b"), "installing"),
    (re.compile(r"^\s*(Installed|Successfully installed)\b"), "installed"),
    (re.compile(r"^\s*(Using CPython|Creating virtual ?env|Activate with)"), "creating"),
]


def phase_of(line: str, current: str) -> str:
    """The phase an installer's log line shows (``current`` when it shows none).

    >>> phase_of("Resolved 3 packages in 12ms", "resolving")
    'downloading'
    >>> phase_of(" + six==1.16.0", "installing")
    'installing'
    """
    for pattern, phase in _PHASES:
        if pattern.search(line):
            # uv prints "Resolved" before it fetches anything: what follows is downloading.
            if phase == "resolved":
                return "downloading" if line.lstrip().startswith("Resolved") else "installing"
            if phase == "installed":
                return "installing"
            return phase
    return current


_SIZE = re.compile(r"\((\d+(?:\.\d+)?)\s*([kKMG]i?B)\)")
_UNITS = {"kB": 1e3, "KB": 1e3, "KiB": 1024.0, "MB": 1e6, "MiB": 2.0**20, "GB": 1e9, "GiB": 2.0**30}


def _megabytes(line: str) -> float | None:
    """The size an installer's ``Downloading x (12.3MiB)`` line names, in MB."""
    found = _SIZE.search(line)
    if found is None or found.group(2) not in _UNITS:
        return None
    return float(found.group(1)) * _UNITS[found.group(2)] / 1e6


@dataclass
class Progress:
    """Where one build is: its phase, the installer's last line, how long it has run, and
    how many MB of the downloads it announced have arrived (``Downloaded`` lines, uv)."""

    label: str
    phase: str = "waiting"
    detail: str = ""
    started: float = field(default_factory=time.monotonic)
    steps: int = 0
    sizes: dict[str, float] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)

    def enter(self, phase: str, detail: str = "") -> None:
        """A new phase (or a new detail of this one), logged once."""
        if phase == self.phase and detail == self.detail:
            return
        if phase != self.phase or detail:
            log.info("build %s: %s%s", self.label, phase, f" ({detail})" if detail else "")
        self.phase, self.detail = phase, detail
        self.steps += 1

    def line(self, text: str) -> None:
        """An installer's line from the log."""
        text = text.strip()
        if not text or text.startswith("$ ") or text.startswith("# owt"):
            return
        phase = phase_of(text, self.phase)
        words = text.split()
        if len(words) > 1 and words[0] == "Downloading":
            size = _megabytes(text)
            if size is not None:
                self.sizes[words[1]] = size
        elif len(words) > 1 and words[0] == "Downloaded":
            self.done.add(words[1])
        self.enter(phase, text[:200])

    def event(self) -> dict[str, Any]:
        """The progress as a caller sees it (a ``progress`` event, ``/_owt/status``)."""
        event: dict[str, Any] = {
            "phase": self.phase,
            "detail": self.detail,
            "elapsed": round(time.monotonic() - self.started, 1),
            "step": self.steps,
        }
        if self.sizes:  # "downloading 800 of 2400 MB"
            event["total_mb"] = round(sum(self.sizes.values()), 1)
            arrived = sum(size for name, size in self.sizes.items() if name in self.done)
            event["downloaded_mb"] = round(arrived, 1)
        return event


async def run_logged(command: list[str], log_file: IO[str], progress: Progress) -> int:
    """Run one build command, its output into ``log_file``, followed by ``progress``.

    Cancelling it (the build's timeout, the server stopping) kills the whole process group.
    """
    environ = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "PIP_NO_INPUT": "1"}
    environ.setdefault("UV_NO_PROGRESS", "1")  # lines, not a redrawn bar, in the log
    log_file.flush()
    start = log_file.tell()
    proc = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=log_file,
        stderr=asyncio.subprocess.STDOUT,
        env=environ,
        start_new_session=True,
    )
    follower = _LogFollower(Path(log_file.name), start, progress)
    watcher = asyncio.create_task(follower.follow())
    try:
        return await proc.wait()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        follower.read()  # the lines written since the last look
        if proc.returncode is None:  # given up, or the server is stopping
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await asyncio.shield(proc.wait())


class _LogFollower:
    """Feeds the complete new lines of a growing log to a :class:`Progress`."""

    def __init__(self, path: Path, offset: int, progress: Progress) -> None:
        self.path, self.offset, self.progress = path, offset, progress

    async def follow(self) -> None:
        while True:
            self.read()
            await asyncio.sleep(WATCH_INTERVAL)

    def read(self) -> None:
        try:
            with self.path.open("rb") as file:
                file.seek(self.offset)
                data = file.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1
        for raw in data[:end].splitlines():
            self.progress.line(raw.decode("utf-8", "replace"))
        self.offset += end


@contextlib.asynccontextmanager
async def locked(path: Path) -> AsyncIterator[None]:
    """An exclusive lock on ``path`` between processes, waited for without blocking the loop."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(0.2)
        yield
    finally:
        os.close(fd)
