"""Built environments on disk and in memory: what is there, how big, and removing one.

Each environment is ``<root>/<key>/`` with ``<key>.json`` (its requirements, Python, build
time, last use), ``<key>.log`` and ``<key>.lock`` beside it. These functions touch only the
disk; they run in a thread, since walking a 6 GB environment takes a moment.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from owt.core.errors import InstallFailed, OwtError
from owt.executors.base import Executor
from owt.executors.builds import Progress
from owt.executors.requirements import python_tag

__all__ = [
    "VirtualEnv",
    "disk_size",
    "read_marker",
    "remove_environment",
    "scan",
    "tail",
    "touch_marker",
    "workers_of",
    "write_marker",
]

LOG_TAIL_LINES = 40


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class VirtualEnv:
    """One requirement set's environment: on disk, being built, failed, or running."""

    key: str
    requirements: list[str]
    path: Path
    state: str = "new"  # new | building | built | running | failed
    phase: str = ""
    error: InstallFailed | None = None
    executor: Executor | None = None
    task: asyncio.Task[Executor] | None = None
    build_seconds: float | None = None
    started: float = 0.0
    last_used: float = field(default_factory=time.time)
    in_flight: int = 0
    progress: Progress | None = None
    stopped: OwtError | None = None  # why its build was stopped under its callers (removed)

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def log(self) -> Path:
        return self.path.with_name(self.key + ".log")

    @property
    def marker(self) -> Path:
        return self.path.with_name(self.key + ".json")

    def status(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "requirements": self.requirements,
            "state": self.state,
            "path": str(self.path),
            "log": str(self.log),
            "build_seconds": self.build_seconds,
            "in_flight": self.in_flight,
        }
        if self.state in ("building", "starting") and self.progress is not None:
            info["progress"] = self.progress.event()
            info["phase"] = self.progress.phase
            info["elapsed"] = info["progress"]["elapsed"]
            info["last_line"] = self.progress.detail
        if self.error is not None:
            info["error"] = self.error.message
        if self.executor is not None:
            info["workers"] = self.executor.status()
        return info


def workers_of(env: VirtualEnv | None) -> list[dict[str, Any]]:
    """The live workers of an environment, as its executor reports them."""
    if env is None or env.executor is None:
        return []
    workers = env.executor.status().get("workers", [])
    return [w for w in workers if isinstance(w, dict)] if isinstance(workers, list) else []


def write_marker(env: VirtualEnv, **fields: Any) -> None:
    data = {"requirements": env.requirements, "python": python_tag(), **fields}
    env.marker.write_text(json.dumps(data, indent=1))


def touch_marker(env: VirtualEnv) -> None:
    """Record when the environment was last started: its last use across restarts."""
    try:
        data = json.loads(env.marker.read_text())
        data["last_used"] = time.time()
        env.marker.write_text(json.dumps(data, indent=1))
    except (OSError, ValueError):
        pass


def disk_size(path: Path) -> int:
    """Bytes the files under ``path`` take (each hard-linked file counted once)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512 if hasattr(st, "st_blocks") else st.st_size
    return total


def read_marker(root: Path, key: str) -> dict[str, Any] | None:
    try:
        data = json.loads((root / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def scan(root: Path) -> dict[str, dict[str, Any]]:
    """Every environment under ``root`` that a build finished: key → its marker and size."""
    found: dict[str, dict[str, Any]] = {}
    try:
        markers = sorted(root.glob("*.json"))
    except OSError:
        return found
    for marker in markers:
        key = marker.stem
        data = read_marker(root, key)
        if data is None:
            continue
        folder = root / key
        data["size"] = disk_size(folder) if folder.is_dir() else 0
        data.setdefault("last_used", marker.stat().st_mtime)
        found[key] = data
    return found


def remove_environment(root: Path, key: str) -> int:
    """Delete an environment and the files beside it; the bytes freed."""
    folder = root / key
    freed = disk_size(folder) if folder.is_dir() else 0
    shutil.rmtree(folder, ignore_errors=True)
    for suffix in (".json", ".log", ".lock"):
        (root / f"{key}{suffix}").unlink(missing_ok=True)
    return freed
