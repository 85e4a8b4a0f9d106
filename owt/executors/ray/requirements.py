"""Calls that bring ``requirements`` on a Ray cluster: one environment per set, built by Ray.

    {"code_b64": "...", "requirements": ["six==1.16.0"]}

With ``--executor ray`` a set does not become a virtualenv on the server's disk (the actors
may run on other machines): it becomes an environment of Ray actors whose ``runtime_env`` is
``{"pip": [...]}``, so each node that runs it installs the set once and caches it. The set
is normalised and keyed as :mod:`owt.executors.venvs` does. An install that fails answers 424
``install_failed`` with pip's output; the next call with the set tries again. At most
``max_live`` sets have actors at once; the least recently used idle one is stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from owt.core.call import Call
from owt.core.errors import OwtError
from owt.executors.base import Executor
from owt.executors.requirements import env_key, normalise
from owt.executors.router import RequirementsRouter

__all__ = ["RayRequirements"]


class RayRequirements(RequirementsRouter):
    """Routes each call to the Ray environment of its requirement set, starting it first.

    ``make(requirements, label)`` builds the (not yet started) executor of one set.
    """

    name = "ray-requirements"

    def __init__(
        self,
        make: Callable[[list[str], str], Executor],
        *,
        refusal: OwtError | None = None,
        max_live: int = 8,
    ) -> None:
        super().__init__(refusal=refusal, max_live=max_live)
        self.make = make
        self.envs: dict[str, asyncio.Task[Executor]] = {}
        self.sets: dict[str, list[str]] = {}
        self.started: dict[str, float] = {}

    async def ready(self, key: str, requirements: list[str], rebuild: bool) -> Executor:
        """Start the set's actors (Ray installs it on their nodes); ``rebuild`` is Ray's to do
        (its pip cache), not owt's."""
        return await self.environment(key, requirements)

    def progress(self, call: Call) -> dict[str, Any] | None:
        try:
            key = env_key(normalise(call.options.get("requirements")))
        except OwtError:
            return None
        task = self.envs.get(key)
        if task is None or task.done():
            return None
        elapsed = round(time.monotonic() - self.started.get(key, time.monotonic()), 1)
        detail = "Ray installs the set on the node that runs its actors"
        return {"phase": "installing", "detail": detail, "elapsed": elapsed, "step": 1}

    async def environment(self, key: str, requirements: list[str]) -> Executor:
        """The started executor of a set; every call asking meanwhile waits for one start."""
        task = self.envs.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._start(key, requirements))
            task.add_done_callback(lambda t: None if t.cancelled() else t.exception())
            self.envs[key], self.sets[key] = task, requirements
            self.started[key] = time.monotonic()
            await self._evict(keep=key)
        try:
            # A caller that gives up (its timeout) leaves the install going for the next one.
            return await asyncio.shield(task)
        except OwtError:
            if self.envs.get(key) is task:
                del self.envs[key]  # the next call tries again
            raise

    async def _start(self, key: str, requirements: list[str]) -> Executor:
        executor = self.make(requirements, f"requirements:{key}")
        try:
            await executor.start()
        except BaseException:
            await executor.aclose()
            raise
        return executor

    async def _evict(self, keep: str) -> None:
        idle = [k for k in self.envs if k != keep and not self.in_flight.get(k)]
        idle.sort(key=lambda k: self.last_used.get(k, 0.0))
        while len(self.envs) > self.max_live and idle:
            await _stop(self.envs.pop(idle.pop(0)))

    async def aclose(self) -> None:
        envs, self.envs = list(self.envs.values()), {}
        await asyncio.gather(*(_stop(task) for task in envs))

    def status(self) -> dict[str, Any]:
        envs: dict[str, Any] = {}
        for key, task in self.envs.items():
            info: dict[str, Any] = {"requirements": self.sets.get(key), "state": "starting"}
            if task.done() and not task.cancelled() and task.exception() is None:
                info = {**info, "state": "running", "actors": task.result().status()}
            elif task.done() and not task.cancelled():
                info = {**info, "state": "failed", "error": str(task.exception())}
            envs[key] = info
        return {"executor": self.name, "enabled": self.refusal is None, "environments": envs}


async def _stop(task: asyncio.Task[Executor]) -> None:
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    elif not task.cancelled() and task.exception() is None:
        await task.result().aclose()
