"""Ray: each environment is a pool of Ray actors on a cluster (``--executor ray``).

    owt serve --executor ray                                # a local cluster, started here
    owt serve --executor ray --ray-address auto             # the cluster this machine is in
    owt serve --executor ray --ray-address ray://head:10001 # Ray Client, from outside

An actor (:class:`~owt.executors.ray.actor.RunnerActor`) holds the one runner and the
``keep()`` objects of its process, as a worker process does, and runs many calls at once. An
``--env NAME=python`` of another interpreter runs in a worker process beside each of its
actors (the interpreter needs nothing installed); a set of ``requirements`` becomes a Ray
``runtime_env`` with ``pip``. A call that asks for resources (``num_gpus``, ``num_cpus``,
``memory``, ``accelerator_type``, custom ``resources``) runs on actors created with exactly
those: one pool per environment and resource shape, started on its first call. A shape that
no node of the cluster can hold answers 503 at once, instead of pending forever in Ray.

An actor that dies answers 502 ``worker_died`` to the calls on it and is replaced. When an
adaptor's ``os._exit`` ended it, that call hears its exit code and the calls of other code
beside it run again on the replacement; a crash in native code names no call, so every call
on the actor hears what is known and where the actor's log is (:mod:`.ends`). A cancelled
call (its timeout, or its client gone mid-stream) cancels the Ray task; if the call's code
still runs in the actor some seconds later — sync code in a thread (threads cannot be
stopped), or an ``async def`` that blocks the actor's loop — the actor is drained and
replaced (:mod:`.pool`). Ray is imported only here, and only when this executor is
chosen.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import pickle
import sys
import time
import uuid
from typing import Any

from owt.core.call import Call, Reply
from owt.core.errors import Busy, OwtError
from owt.core.libs import lib_environ
from owt.core.pumps import Item
from owt.core.runner import Runner
from owt.executors.base import BatchStream, Executor, ExecutorOptions
from owt.executors.ray.cluster import RayCluster, translate
from owt.executors.ray.ends import ActorEnd
from owt.executors.ray.pool import ActorPool, ActorSlot

if importlib.util.find_spec("ray") is None:  # load_executor says: pip install 'owt[ray]'
    raise ModuleNotFoundError("No module named 'ray'", name="ray")

__all__ = ["RayExecutor", "RayStream"]

log = logging.getLogger(__name__)

BACKPRESSURE = 8  # batches a stream's actor sends ahead of the server, at most
#: Times a call runs again after another call ended its actor under it (see .ends).
MAX_RERUNS = 16
MAX_SHAPES = 4  # resource-shaped actor pools kept per environment (besides the plain one)


class RayExecutor(Executor):
    """An environment run by Ray actors; one pool per resource shape that calls ask for."""

    name = "ray"

    def __init__(
        self,
        *args: Any,
        cluster: RayCluster | None = None,
        requirements: list[str] | None = None,
        env_vars: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        """The executor contract's arguments, and: the cluster (None: join or start one
        at ``options.ray_address``), packages to install on the nodes, variables to set."""
        options = kwargs.get("options") or ExecutorOptions()
        self.cluster = cluster or RayCluster(options.ray_address)
        self.requirements = requirements
        self.env_vars = env_vars
        super().__init__(*args, **kwargs)

    def setup(self) -> None:
        opts = self.options
        python, requirements, env_vars = self.python, self.requirements, self.env_vars
        self.size = self.workers
        self.max_queue = opts.max_queue
        self.max_calls = opts.max_calls
        self.max_adaptors = opts.max_adaptors
        self.threads = max(1, opts.threads)
        # Another interpreter runs in a worker process beside each actor: a Ray worker
        # itself would have to import Ray. (Not realpath: a virtualenv's python is a link.)
        self.worker_python: str | None = None
        if python and os.path.abspath(python) != os.path.abspath(sys.executable):
            self.worker_python = python
        self.worker_options = {"max_memory": opts.max_memory, "max_adaptors": opts.max_adaptors}
        runtime_env: dict[str, Any] = {}
        if requirements:
            runtime_env["pip"] = list(requirements)
        env_vars = {**lib_environ(opts.lib), **(env_vars or {})}  # --lib folders, for the Runner
        if env_vars:
            runtime_env["env_vars"] = env_vars
        self.runtime_env = runtime_env
        self.actor_options: dict[str, Any] = {
            "max_restarts": 0,  # a dead actor is replaced by the pool, with a fresh one
            # Ray threads for running calls and streams; more calls wait in the actor.
            "max_concurrency": 2 * self.threads + 4,
        }
        if runtime_env:
            self.actor_options["runtime_env"] = runtime_env
        self.pools: dict[str, ActorPool] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._actor_class: Any = None
        self._connected = False
        self.reruns = 0  # calls run again after another call ended their actor

    def actor_class(self) -> Any:
        if self._actor_class is None:
            import ray

            from owt.executors.ray.actor import CONCURRENCY_GROUPS, RunnerActor

            remote = ray.remote(concurrency_groups=CONCURRENCY_GROUPS)  # type: ignore[call-overload]
            self._actor_class = remote(RunnerActor)
        return self._actor_class

    async def start(self) -> None:
        """Join (or start) the cluster and bring up this environment's default actors."""
        if not self._connected:
            self.cluster.connect()
            self._connected = True
        pool = self.pool_for({})
        pool.fill()
        while not any(s.up for s in pool.slots):
            if pool.error is not None:
                raise pool.error
            await pool.changed.wait()

    def pool_for(self, placement: dict[str, Any]) -> ActorPool:
        key = json.dumps(placement, sort_keys=True)
        pool = self.pools.get(key)
        if pool is None:
            pool = self.pools[key] = ActorPool(self, placement)
            self._retire_shapes(keep=pool)
        pool.last_used = time.monotonic()
        return pool

    def _retire_shapes(self, keep: ActorPool) -> None:
        """Keep at most MAX_SHAPES resource-shaped pools: their actors hold cluster resources,
        so the least recently used idle pool goes (it comes back on its next call)."""
        shaped = {k: p for k, p in self.pools.items() if p.placement and p is not keep}
        while len(shaped) >= MAX_SHAPES:
            idle = {k: p for k, p in shaped.items() if p.idle()}
            if not idle:
                return  # all busy: over the bound until one is idle
            key = min(idle, key=lambda k: idle[k].last_used)
            pool = shaped.pop(key)
            del self.pools[key]
            log.info("environment %r: retiring the idle pool for %s", self.env, key)
            task = asyncio.get_running_loop().create_task(pool.aclose())
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def submit(self, call: Call) -> Reply:
        pool = self.pool_for(call.options.get("placement") or {})
        reruns = 0
        while True:
            reply, spared = await self._run(pool, call)
            if not spared or reruns >= MAX_RERUNS:
                return reply
            # Another call ended the actor under this one, which had not answered yet: it
            # runs again on the replacement.
            reruns += 1
            self.reruns += 1

    async def _run(self, pool: ActorPool, call: Call) -> tuple[Reply, bool]:
        """The call's reply on one actor, and whether it was only beside what ended it."""
        pool.waiting += 1  # not idle: it is not retired under this call
        try:
            if not any(s.up for s in pool.slots):
                reason = await asyncio.to_thread(self.cluster.unplaceable, pool.request)
                if reason is not None:
                    raise Busy(reason)
            slot = await pool.acquire()
        except OwtError as refused:
            return refused.reply(), False
        finally:
            pool.waiting -= 1
        call_id = uuid.uuid4().hex
        # One argument, pickled here: Ray handles one bytes argument ~0.3 ms faster per call
        # than the id and the Call as two objects of its own serialising.
        ref = slot.handle.run.remote(pickle.dumps((call_id, call), pickle.HIGHEST_PROTOCOL))
        streaming = False
        try:
            status, headers, body, streamed, info = await ref
            if info is not None:
                slot.warm = info
            if not streamed:
                return Reply(status, headers, body), False
            stream = RayStream(pool, slot, call_id, not self.cluster.client)
            streaming = True
            return Reply(status, headers, body, stream), False
        except asyncio.CancelledError:
            pool.cancelled(slot, call_id, ref)
            raise
        except Exception as exc:
            err, end = await self.failed(pool, slot, exc)
            spared = end is not None and end.spares(call_id, Runner.filename(call))
            return err.reply(), spared
        finally:
            if not streaming:
                pool.release(slot)

    async def failed(
        self, pool: ActorPool, slot: ActorSlot, exc: BaseException
    ) -> tuple[OwtError, ActorEnd | None]:
        """What a call that Ray failed with ``exc`` is told, and how its actor ended if it
        died (it is replaced)."""
        from ray.exceptions import RayActorError

        if isinstance(exc, RayActorError):
            end = await pool.ended(slot, exc)
            return end.error(), end
        log.error("environment %r: %s", self.env, exc)
        return translate(exc), None

    async def aclose(self) -> None:
        await asyncio.gather(*(pool.aclose() for pool in self.pools.values()), *self._retiring)
        if self._connected:
            self._connected = False
            self.cluster.disconnect()

    def status(self) -> dict[str, Any]:
        adaptors: dict[str, Any] = {}
        kept: set[str] = set()
        for pool in self.pools.values():
            for slot in pool.slots:
                for adaptor in slot.warm.get("adaptors", []):
                    adaptors.setdefault(adaptor["sha256"], adaptor)
                kept.update(slot.warm.get("kept", []))
        return {
            "executor": self.name,
            "python": self.worker_python or sys.executable,
            "runtime_env": self.runtime_env,
            "size": self.size,
            "reruns": self.reruns,
            "pools": [pool.status() for pool in self.pools.values()],
            "adaptors": list(adaptors.values()),
            "kept": sorted(kept),
            "cluster": self.cluster.status() if self._connected else None,
        }


class RayStream(BatchStream):
    """The rest of a streamed reply, chunk by chunk as the actor's adaptor yields it.

    Batches come through the actor's Ray streaming generator or, where Ray has none (Ray
    Client), one ``pull`` each. ``aclose()`` before the end (the client went away) cancels
    it, which closes the adaptor's generator; so does a cancelled ``__anext__`` (a chunk's
    timeout).
    """

    def __init__(self, pool: ActorPool, slot: ActorSlot, call_id: str, streaming: bool) -> None:
        super().__init__()
        self.pool = pool
        self.slot = slot
        self.call_id = call_id
        self.generator: Any = None
        if streaming:
            method = slot.handle.stream.options(
                num_returns="streaming", _generator_backpressure_num_objects=BACKPRESSURE
            )
            self.generator = method.remote(call_id)
        self.pending: Any = None  # the pull in flight

    def finish(self) -> None:
        self.pool.release(self.slot)

    async def fetch(self) -> list[Item]:
        try:
            if self.generator is not None:
                batch: list[Item] = await (await self.generator.__anext__())
                return batch
            self.pending = self.slot.handle.pull.remote(self.call_id)
            batch = await self.pending
            return batch
        except asyncio.CancelledError:
            await self.aclose()
            raise
        except Exception as exc:
            self._end()
            err, _ = await self.pool.executor.failed(self.pool, self.slot, exc)
            raise err from None

    async def aclose(self) -> None:
        if self.done:
            return
        self.pool.cancelled(self.slot, self.call_id, self.generator or self.pending)
        self._end()
