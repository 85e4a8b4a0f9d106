"""Virtualenvs built on request: a call that brings ``requirements`` runs in one made for it.

    {"code_b64": "...", "requirements": ["six==1.16.0"]}

The set is normalised (:mod:`owt.executors.requirements`: each requirement checked and in
one canonical text, duplicates dropped, sorted) and keyed, with the server's Python version, as
``<root>/py3.11-<sha256[:16]>``. The root is ``--state-dir/envs``, or without a state dir
``$XDG_CACHE_HOME/owt/envs`` (``~/.cache/owt/envs``): environments are a cache that is worth
keeping across restarts, and the first build of a large set takes minutes.

An environment is built once, however many calls ask for it at the same moment: they all wait
for the one build, which is not part of any call: a call's ``timeout`` starts when its
environment is ready, and the build is bounded by ``--build-timeout`` alone
(:meth:`RequirementsExecutor.prepare`). ``/_owt/status`` and a streamed caller's ``progress``
events show each step while it runs (:mod:`owt.executors.builds`). uv builds it when
installed (it is a dependency of owt), else ``python -m venv`` and pip. The build log stays
beside it (``<key>.log``). A failed build answers 424 ``install_failed`` with the end of the
log, and is not tried again — also after a restart — until the set changes or a call says
``rebuild=true``. Each built environment runs in one warm worker process; at most
``max_live`` of them run at once, the least recently used idle one being stopped (not
deleted) to make room. ``GET /_owt/envs`` lists the built environments (:meth:`listing`),
``DELETE /_owt/envs/KEY`` stops and deletes one (:meth:`remove`), and with
``--envs-max-bytes`` the least recently used are deleted once the built ones pass that size.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from owt.core.call import Call
from owt.core.errors import Busy, InstallFailed, NotFound, OwtError, shutting_down
from owt.executors.base import Executor
from owt.executors.builds import Progress, locked
from owt.executors.envdisk import (
    VirtualEnv,
    read_marker,
    remove_environment,
    scan,
    tail,
    touch_marker,
    workers_of,
    write_marker,
)
from owt.executors.requirements import env_key, normalise, requirements_of
from owt.executors.router import RequirementsRouter
from owt.executors.venvbuild import build_environment

__all__ = [
    "RequirementsExecutor",
    "VirtualEnv",
    "default_root",
    "env_key",
    "find_uv",
    "normalise",
    "requirements_of",
]

log = logging.getLogger(__name__)

_KEY = re.compile(r"[a-z]{2}\d+\.\d+-[0-9a-f]{16}\Z")  # env_key()'s shape: nothing else is deleted
BUILD_TIMEOUT = 1800.0  # seconds before a build that hangs (a stuck download) is given up


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


class RequirementsExecutor(RequirementsRouter):
    """Routes each call to the environment of its requirement set, building it first."""

    name = "requirements"
    streams_bodies = True  # each set's environment is worker processes

    def __init__(
        self,
        root: Path,
        make: Callable[[str, str], Executor],
        *,
        refusal: OwtError | None = None,
        max_live: int = 8,
        base_python: str | None = None,
        build_timeout: float = BUILD_TIMEOUT,
        max_disk_bytes: int = 0,
    ) -> None:
        super().__init__(refusal=refusal, max_live=max_live)
        self.root = Path(root)
        self.make = make
        self.build_timeout = build_timeout
        self.max_disk_bytes = max_disk_bytes
        self.base_python = base_python or sys.executable
        self.uv = find_uv()
        self.envs: dict[str, VirtualEnv] = {}
        self._closing = False

    async def ready(self, key: str, requirements: list[str], rebuild: bool) -> Executor:
        env = self.envs.get(key)
        if env is not None and env.state == "running" and not rebuild and _gone(env):
            # Its interpreter was deleted under it (a cleaned cache, a rm -rf): its workers
            # cannot start again, so it is built anew rather than failing every call.
            log.warning("environment %s: %s is gone; building it again", key, env.python)
            rebuild = True
        if env is None or env.state != "running" or rebuild:  # not yet, or built again
            env = await self.environment(requirements, rebuild)
        assert env.executor is not None
        return env.executor

    def progress(self, call: Call) -> dict[str, Any] | None:
        """What the build of this call's environment is doing, or None when it is ready."""
        try:
            env = self.envs.get(env_key(normalise(call.options.get("requirements"))))
        except OwtError:
            return None
        if env is None or env.state == "running" or env.progress is None:
            return None
        return env.progress.event()

    @contextlib.contextmanager
    def using(self, key: str) -> Iterator[None]:
        env = self.envs[key]
        env.in_flight += 1
        env.last_used = time.time()
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
                if env.state == "running":  # calls arriving meanwhile wait for the new build
                    env.state = "building"
                env.task = asyncio.get_running_loop().create_task(self._prepare(env, rebuild))
                env.task.add_done_callback(_retrieve)
        task = env.task
        assert task is not None
        try:
            # A caller that gives up (its timeout) leaves the build running for the next one.
            await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not task.cancelled() or (current is not None and current.cancelling()):
                raise  # this call itself was cancelled
            raise env.stopped or shutting_down() from None
        return env

    async def _prepare(self, env: VirtualEnv, rebuild: bool) -> Executor:
        env.progress = progress = Progress(env.key)
        try:
            if env.executor is not None:  # built again: its running calls end first
                old, env.executor = env.executor, None
                progress.enter("waiting", "for the calls running in the old build to end")
                await old.retire(
                    f"the environment {env.key} is being built again (rebuild=true) and this "
                    "call still ran in the old build after --drain-grace"
                )
            async with asyncio.timeout(self.build_timeout):
                executor = await self._build_and_start(env, rebuild, progress)
        except TimeoutError:
            env.state, env.task = "failed", None
            env.error = InstallFailed(
                f"building the environment for {', '.join(env.requirements)} took longer than "
                f"--build-timeout ({self.build_timeout:g}s) and was given up; send "
                "rebuild=true to try again, or start the server with a longer --build-timeout",
                log_tail=tail(env.log),
            )
            log.warning("build %s: timed out after %gs", env.key, self.build_timeout)
            with contextlib.suppress(OSError):  # listed as failed, not tried again by itself
                write_marker(env, ok=False, message=env.error.message)
            raise env.error
        except InstallFailed as err:
            env.state, env.error, env.task = "failed", err, None
            log.warning("build %s: failed: %s", env.key, err.message)
            raise
        except BaseException:
            env.state, env.task = "new", None
            raise
        env.executor, env.state, env.error = executor, "running", None
        log.info("environment %s ready in %.1fs", env.key, progress.event()["elapsed"])
        await self._evict(keep=env)
        if self.max_disk_bytes:
            await self._bound_disk(keep=env)
        return executor

    async def _build_and_start(
        self, env: VirtualEnv, rebuild: bool, progress: Progress
    ) -> Executor:
        async with locked(env.path.with_name(env.key + ".lock")):
            if rebuild or not self._built(env):
                await build_environment(env, progress, self.uv, self.base_python)
        env.state = "starting"
        env.phase = "starting a worker"
        progress.enter("importing", "starting a worker in the new environment")
        executor = self.make(str(env.python), f"requirements:{env.key}")
        try:
            await executor.start()
        except BaseException as exc:
            await executor.aclose()
            if not isinstance(exc, Exception):
                raise
            raise InstallFailed(
                f"the environment was built but its worker did not start: {exc}",
                log_tail=tail(env.log),
            )
        touch_marker(env)
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
                marker.get("message", "the install failed"), log_tail=tail(env.log)
            )
            raise env.error
        return False

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

    async def listing(self) -> list[dict[str, Any]]:
        """Every built environment: requirements, Python, size on disk, workers, memory, use."""
        found = await asyncio.to_thread(scan, self.root)
        rows = []
        for key, marker in found.items():
            env = self.envs.get(key)
            workers = workers_of(env)
            rss = [w.get("rss") for w in workers]
            rows.append(
                {
                    "key": key,
                    "requirements": marker.get("requirements", []),
                    "python": marker.get("python"),
                    "ok": marker.get("ok", False),
                    "state": env.state
                    if env is not None
                    else ("built" if marker.get("ok") else "failed"),
                    "path": str(self.root / key),
                    "size": marker["size"],
                    "build_seconds": marker.get("build_seconds"),
                    "workers": len(workers),
                    "pids": [w.get("pid") for w in workers],
                    "memory": sum(r for r in rss if isinstance(r, int)),
                    "in_flight": env.in_flight if env is not None else 0,
                    "last_used": max(marker["last_used"], env.last_used if env else 0.0),
                }
            )
        rows.sort(key=lambda row: row["last_used"], reverse=True)
        return rows

    async def remove(self, key: str) -> dict[str, Any]:
        """Stop an environment's workers and delete it from disk; what was freed."""
        env = self.envs.get(key)
        if not _KEY.match(key) or (env is None and read_marker(self.root, key) is None):
            known = ", ".join(sorted(p.stem for p in self.root.glob("*.json"))) or "none"
            raise NotFound(f"no built environment {key!r} (built: {known}); see GET /_owt/envs")
        memory = 0
        if env is not None:
            if env.task is not None and not env.task.done():
                env.stopped = Busy(
                    f"the environment {key} was removed (DELETE /_owt/envs/{key}) while it was "
                    "being built; send the call again to build it anew"
                )
                env.task.cancel()
                await asyncio.gather(env.task, return_exceptions=True)
            memory = sum(w.get("rss") or 0 for w in workers_of(env))
            executor, env.executor = env.executor, None
            if executor is not None:
                await executor.retire(
                    f"the environment {key} was removed (DELETE /_owt/envs/{key}) while this "
                    "call ran in it",
                    grace=0.0,
                )
            self.envs.pop(key, None)
        freed = await asyncio.to_thread(remove_environment, self.root, key)
        log.info("environment %s removed: %d bytes on disk, %d in memory", key, freed, memory)
        return {"key": key, "removed": True, "freed_bytes": freed, "freed_memory": memory}

    async def _bound_disk(self, keep: VirtualEnv) -> None:
        """Delete the least recently used environments while the built ones pass the bound."""
        rows = await self.listing()
        total = sum(row["size"] for row in rows)
        for row in sorted(rows, key=lambda r: r["last_used"]):
            if total <= self.max_disk_bytes:
                break
            if row["key"] == keep.key or row["in_flight"]:
                continue
            log.info(
                "environments use %d bytes, over --envs-max-bytes: removing %s", total, row["key"]
            )
            total -= (await self.remove(row["key"]))["freed_bytes"]

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


def _gone(env: VirtualEnv) -> bool:
    """Whether the interpreter of a running environment is missing from disk."""
    return not env.python.exists()


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # seen by the callers that await it; keeps asyncio quiet otherwise
