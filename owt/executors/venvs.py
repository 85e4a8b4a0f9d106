"""Virtualenvs built on request: a call that brings ``requirements`` runs in one made for it.

    {"code_b64": "...", "requirements": ["six==1.16.0"]}

The set is normalised (a list, a JSON list or a comma-separated string; names lower-cased,
duplicates dropped, sorted) and keyed, with the server's Python version, as
``<root>/py3.11-<sha256[:16]>``. The root is ``--state-dir/envs``, or without a state dir
``$XDG_CACHE_HOME/owt/envs`` (``~/.cache/owt/envs``): environments are a cache that is worth
keeping across restarts, and the first build of a large set takes minutes.

An environment is built once, however many calls ask for it at the same moment: they all wait
for the one build (each bounded by its own timeout; the build goes on when a caller gives
up), and ``/_owt/status`` shows it while it runs. uv builds it when installed (it is a
dependency of owt), else ``python -m venv`` and pip. The build log stays beside it
(``<key>.log``). A failed build answers 424 ``install_failed`` with the end of the log, and
is not tried again — also after a restart — until the set changes or a call says
``rebuild=true``. Each built environment runs in one warm worker process; at most
``max_live`` of them run at once, the least recently used idle one being stopped (not
deleted) to make room.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from owt.core.call import Call, Reply
from owt.core.errors import BadRequest, InstallFailed, OwtError
from owt.executors.base import Executor

__all__ = [
    "RequirementsExecutor",
    "VirtualEnv",
    "default_root",
    "env_key",
    "find_uv",
    "normalise",
    "python_tag",
    "requirements_of",
]

log = logging.getLogger(__name__)

BUILD_TIMEOUT = 1800.0  # seconds before a build that hangs (a stuck download) is given up
LOG_TAIL_LINES = 40
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def default_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "owt" / "envs"


def find_uv() -> str | None:
    """The uv binary, from its Python package or from PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def requirements_of(call: Call, refusal: OwtError | None = None) -> list[str]:
    """The normalised requirements a call brings, or the server's refusal to build them."""
    if refusal is not None:
        raise refusal
    if call.env != "main":
        raise BadRequest(
            "a call may name an environment (env) or bring requirements, not both",
            field="requirements",
        )
    return normalise(call.options.get("requirements"))


def normalise(value: Any) -> list[str]:
    """The requirement strings of a call, sorted and de-duplicated.

    >>> normalise('Six==1.16.0, requests>=2')
    ['requests>=2', 'six==1.16.0']
    >>> normalise('["numpy"]')
    ['numpy']
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise BadRequest("requirements is not a valid JSON list", field="requirements")
        else:
            value = text.split(",")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest("requirements must be a list of strings", field="requirements")
    found: set[str] = set()
    for item in value:
        text = " ".join(item.split())
        if not text:
            continue
        if text.startswith("-"):
            raise BadRequest(
                f"requirements are package specifiers, not installer options: {text!r}",
                field="requirements",
            )
        name = _NAME.match(text)
        if name:  # PEP 503: Six, six and SIX are one package
            text = re.sub(r"[-_.]+", "-", name.group(0)).lower() + text[name.end() :]
        found.add(text)
    if not found:
        raise BadRequest("requirements is empty", field="requirements")
    return sorted(found)


def python_tag() -> str:
    return f"{sys.implementation.name[:2]}{sys.version_info[0]}.{sys.version_info[1]}"


def env_key(requirements: list[str], tag: str | None = None) -> str:
    """The folder name of an environment for this (normalised) set on this Python."""
    tag = tag or python_tag()
    digest = hashlib.sha256("\n".join([tag, *requirements]).encode()).hexdigest()
    return f"{tag}-{digest[:16]}"


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
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
    last_used: float = field(default_factory=time.monotonic)
    in_flight: int = 0

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
        if self.state == "building":
            info["phase"] = self.phase
            info["elapsed"] = round(time.monotonic() - self.started, 1)
            info["last_line"] = _tail(self.log, 1)
        if self.error is not None:
            info["error"] = self.error.message
        if self.executor is not None:
            info["workers"] = self.executor.status()
        return info


class RequirementsExecutor(Executor):
    """Routes each call to the environment of its requirement set, building it first."""

    name = "requirements"

    def __init__(
        self,
        root: Path,
        make: Callable[[str, str], Executor],
        *,
        refusal: OwtError | None = None,
        max_live: int = 8,
        base_python: str | None = None,
    ) -> None:
        self.root = Path(root)
        self.make = make
        self.refusal = refusal
        self.max_live = max_live
        self.base_python = base_python or sys.executable
        self.uv = find_uv()
        self.envs: dict[str, VirtualEnv] = {}
        self._closing = False

    async def submit(self, call: Call) -> Reply:
        try:
            requirements = requirements_of(call, self.refusal)
            env = await self.environment(requirements, bool(call.options.get("rebuild")))
        except OwtError as err:
            return err.reply()
        assert env.executor is not None
        async with self._using(env):
            reply = await env.executor.submit(call)
        return reply

    @contextlib.asynccontextmanager
    async def _using(self, env: VirtualEnv) -> AsyncIterator[None]:
        env.in_flight += 1
        env.last_used = time.monotonic()
        try:
            yield
        finally:
            env.in_flight -= 1

    async def environment(self, requirements: list[str], rebuild: bool = False) -> VirtualEnv:
        """The running environment for a set: built and started once, shared by every call."""
        key = env_key(requirements)
        env = self.envs.get(key)
        if env is None:
            env = self.envs[key] = VirtualEnv(key, requirements, self.root / key)
        if env.task is None or (rebuild and env.task.done()):
            if env.state == "failed" and not rebuild:
                assert env.error is not None
                raise env.error
            if env.state != "running" or rebuild:
                env.task = asyncio.get_running_loop().create_task(self._prepare(env, rebuild))
                env.task.add_done_callback(_retrieve)
        assert env.task is not None
        # A caller that gives up (its timeout) leaves the build running for the next one.
        await asyncio.shield(env.task)
        return env

    async def _prepare(self, env: VirtualEnv, rebuild: bool) -> Executor:
        try:
            if env.executor is not None:
                old, env.executor = env.executor, None
                await old.aclose()
            async with _locked(env.path.with_name(env.key + ".lock")):
                if rebuild or not self._built(env):
                    await self._build(env)
            env.state, env.phase = "starting", "starting a worker"
            executor = self.make(str(env.python), f"requirements:{env.key}")
            try:
                await executor.start()
            except Exception as exc:
                await executor.aclose()
                raise InstallFailed(
                    f"the environment was built but its worker did not start: {exc}",
                    log_tail=_tail(env.log),
                )
        except InstallFailed as err:
            env.state, env.error, env.task = "failed", err, None
            raise
        except BaseException:
            env.state, env.task = "new", None
            raise
        env.executor, env.state, env.error = executor, "running", None
        await self._evict(keep=env)
        return executor

    def _built(self, env: VirtualEnv) -> bool:
        """Reuse a build of an earlier run (or of another server sharing the folder)."""
        try:
            marker = json.loads(env.marker.read_text())
        except (OSError, ValueError):
            return False
        if marker.get("ok") and env.python.exists():
            env.state, env.build_seconds = "built", marker.get("build_seconds")
            return True
        if marker.get("ok") is False:
            env.state = "failed"
            env.error = InstallFailed(
                marker.get("message", "the install failed"), log_tail=_tail(env.log)
            )
            raise env.error
        return False

    async def _build(self, env: VirtualEnv) -> None:
        env.state, env.error, env.started = "building", None, time.monotonic()
        log.info("building an environment for %s in %s", env.requirements, env.path)
        env.marker.unlink(missing_ok=True)
        await asyncio.to_thread(shutil.rmtree, env.path, True)
        env.path.parent.mkdir(parents=True, exist_ok=True)
        python = str(env.python)
        if self.uv:
            create = [self.uv, "venv", "--python", self.base_python, str(env.path)]
            install = [self.uv, "pip", "install", "--python", python]
        else:
            create = [self.base_python, "-m", "venv", str(env.path)]
            install = [python, "-m", "pip", "install", "--disable-pip-version-check"]
        steps = [("creating the virtualenv", create), ("installing", install + env.requirements)]
        with env.log.open("w") as log_file:
            log_file.write(f"# owt: {json.dumps(env.requirements)}\n")
            for phase, command in steps:
                env.phase = phase
                log_file.write(f"$ {' '.join(command)}\n")
                log_file.flush()
                code = await _run(command, log_file)
                if code != 0:
                    message = (
                        f"installing {', '.join(env.requirements)} failed ({phase}: exit code "
                        f"{code}); fix the requirements, or send rebuild=true to try again"
                    )
                    _write_marker(env, ok=False, message=message)
                    raise InstallFailed(message, log_tail=_tail(env.log))
        env.build_seconds = round(time.monotonic() - env.started, 2)
        _write_marker(env, ok=True, build_seconds=env.build_seconds)
        log.info("built %s in %.1fs", env.path, env.build_seconds)

    async def _evict(self, keep: VirtualEnv) -> None:
        running = [e for e in self.envs.values() if e.executor is not None and e is not keep]
        running.sort(key=lambda e: e.last_used)
        while len(running) + 1 > self.max_live and running:
            env = running.pop(0)
            if env.in_flight:
                continue
            executor, env.executor, env.task, env.state = env.executor, None, None, "built"
            assert executor is not None
            log.info("stopping the idle environment %s to make room", env.key)
            await executor.aclose()

    async def aclose(self) -> None:
        self._closing = True
        for env in self.envs.values():
            if env.task is not None and not env.task.done():
                env.task.cancel()
        tasks = [env.task for env in self.envs.values() if env.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        for env in self.envs.values():
            if env.executor is not None:
                executor, env.executor = env.executor, None
                await executor.aclose()

    def status(self) -> dict[str, Any]:
        return {
            "executor": self.name,
            "enabled": self.refusal is None,
            "root": str(self.root),
            "installer": "uv" if self.uv else "pip",
            "environments": {key: env.status() for key, env in self.envs.items()},
        }


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # seen by the callers that await it; keeps asyncio quiet otherwise


def _write_marker(env: VirtualEnv, **fields: Any) -> None:
    data = {"requirements": env.requirements, "python": python_tag(), **fields}
    env.marker.write_text(json.dumps(data, indent=1))


async def _run(command: list[str], log_file: Any) -> int:
    environ = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "PIP_NO_INPUT": "1"}
    proc = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=log_file,
        stderr=asyncio.subprocess.STDOUT,
        env=environ,
        start_new_session=True,
    )
    try:
        return await asyncio.wait_for(proc.wait(), BUILD_TIMEOUT)
    except TimeoutError:
        log_file.write(f"\n# owt: gave up after {BUILD_TIMEOUT}s\n")
        return -1
    finally:
        if proc.returncode is None:  # given up, or the server is stopping
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await asyncio.shield(proc.wait())


@contextlib.asynccontextmanager
async def _locked(path: Path) -> AsyncIterator[None]:
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
