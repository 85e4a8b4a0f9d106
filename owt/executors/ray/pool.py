"""A pool of Ray actors: one environment's actors of one resource shape.

Calls go to the least busy actor that is up. Actors come up in the background; a pool whose
actors cannot be placed (no node can hold its shape, or its ``runtime_env`` fails to build)
fails the calls waiting for it with the reason, and tries again on the next call. A watch on
each actor (a call that never returns) notices one that dies while idle; a dead actor is
replaced. An actor still running the code of a cancelled call is *drained*, as a worker
process is: it takes no new calls, a replacement starts at once, and it is killed when its
other calls end or after ``--drain-grace``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from owt.core.errors import Busy, OwtError, WorkerDied
from owt.executors.ray.actor import CONTROL
from owt.executors.ray.cluster import actor_options, ray_request, translate

if TYPE_CHECKING:
    from owt.executors.ray.executor import RayExecutor

__all__ = ["ActorPool", "ActorSlot"]

log = logging.getLogger(__name__)

START_TIMEOUT = 600.0  # a pip runtime_env may install for minutes before the actor is up
CANCEL_GRACE = 5.0  # a cancelled call's user code has this long to stop, else its actor goes
PLACEMENT_CHECK = 2.0  # how often a pool still waiting for its actors re-checks the cluster


class ActorSlot:
    """One actor of a pool, seen from the server."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.info: dict[str, Any] = {}
        self.warm: dict[str, Any] = {}
        self.up = False
        self.alive = True
        self.inflight = 0
        self.calls = 0
        self.started = time.monotonic()

    def status(self) -> dict[str, Any]:
        return {
            "actor_id": self.info.get("actor_id"),
            "up": self.up,
            "node_ip": self.info.get("node_ip"),
            "node_id": self.info.get("node_id"),
            "pid": self.info.get("pid"),
            "busy": self.inflight,
            "calls": self.calls,
            "uptime": round(time.monotonic() - self.started, 3),
            "kept": self.warm.get("kept", []),
            "adaptors": len(self.warm.get("adaptors", [])),
        }


class ActorPool:
    """``size`` actors of one environment and resource shape; calls go to the least busy."""

    def __init__(self, executor: RayExecutor, placement: dict[str, Any]) -> None:
        self.executor = executor
        self.placement = placement
        self.request = ray_request(placement)
        self.options = {**executor.actor_options, **actor_options(placement)}
        self.size = executor.size
        self.slots: list[ActorSlot] = []
        self.draining: list[ActorSlot] = []  # stuck: killed once their other calls end
        self.replaced = 0
        self.error: OwtError | None = None  # why actors cannot start; calls get it
        self.closing = False
        self.changed = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.last_used = time.monotonic()
        self.waiting = 0  # calls on their way to an actor of this pool

    def idle(self) -> bool:
        """No call in flight on any of its actors, none on its way."""
        return not self.waiting and not any(s.inflight for s in [*self.slots, *self.draining])

    def control(self, slot: ActorSlot, method: str, group: str = CONTROL) -> Any:
        """An actor method that steers it, on threads kept apart from the calls it runs
        (Ray Client cannot choose them: there, they share the calls' threads)."""
        if self.executor.cluster.client:
            return getattr(slot.handle, method)
        return getattr(slot.handle, method).options(concurrency_group=group)

    def background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def fill(self) -> None:
        while len(self.slots) < self.size:
            self._spawn()

    def _spawn(self) -> None:
        actor_class = self.executor.actor_class()
        executor = self.executor
        handle = actor_class.options(**self.options).remote(
            executor.env,
            executor.max_adaptors,
            executor.threads,
            executor.worker_python,
            executor.worker_options,
        )
        slot = ActorSlot(handle)
        self.slots.append(slot)
        self.background(self._bring_up(slot))

    async def _bring_up(self, slot: ActorSlot) -> None:
        started = time.monotonic()
        describe = asyncio.ensure_future(self.control(slot, "describe").remote())
        try:
            while True:
                done, _ = await asyncio.wait({describe}, timeout=PLACEMENT_CHECK)
                if done:
                    slot.info = describe.result()
                    break
                reason = await asyncio.to_thread(self.executor.cluster.unplaceable, self.request)
                if reason is not None:
                    self._fail(Busy(reason))
                    return
                if time.monotonic() - started > START_TIMEOUT:
                    self._fail(WorkerDied(f"no actor came up in {START_TIMEOUT:.0f}s"))
                    return
        except Exception as exc:
            self._fail(translate(exc))
            return
        finally:
            describe.cancel()
        slot.up = True
        self.error = None
        log.info(
            "environment %r: actor %s ready on %s",
            self.executor.env,
            slot.info.get("actor_id"),
            slot.info.get("node_ip"),
        )
        self._notify()
        try:
            await self.control(slot, "watch", "watch").remote()
        except Exception as exc:
            if not self.closing and slot.alive:
                log.warning("environment %r: %s", self.executor.env, translate(exc).message)
                self.lose(slot)

    def _fail(self, err: OwtError) -> None:
        """No actor can start: answer waiting calls, and stop trying until the next call."""
        log.error("environment %r: %s", self.executor.env, err.message)
        self.error = err
        for slot in list(self.slots):
            if not slot.up:
                self._kill(slot)
        self._notify()

    def _kill(self, slot: ActorSlot) -> None:
        import ray

        slot.alive = False
        if slot in self.slots:
            self.slots.remove(slot)
        try:
            ray.kill(slot.handle)
        except Exception:  # already gone
            pass

    def lose(self, slot: ActorSlot) -> None:
        """An actor died or got stuck: kill it and start a replacement."""
        if not slot.alive:
            return
        self._kill(slot)
        self.replaced += 1
        if not self.closing:
            self._spawn()
        self._notify()

    def drain(self, slot: ActorSlot) -> None:
        """Take no new calls in ``slot``; replace it now; kill it when its other calls end
        or after ``drain_grace``."""
        if not slot.alive or slot in self.draining:
            return
        if slot in self.slots:
            self.slots.remove(slot)
        self.draining.append(slot)
        self.replaced += 1
        if not self.closing:
            self._spawn()
        self._notify()
        self.background(self._finish_draining(slot))

    async def _finish_draining(self, slot: ActorSlot) -> None:
        deadline = time.monotonic() + self.executor.options.drain_grace
        while slot.alive and slot.inflight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        self._kill(slot)
        if slot in self.draining:
            self.draining.remove(slot)

    async def acquire(self) -> ActorSlot:
        """The least busy actor that is up; waits for one to come up; raises an OwtError."""
        limit = self.size * self.executor.threads + self.executor.max_queue
        if sum(s.inflight for s in self.slots) >= limit:
            raise Busy(
                f"environment {self.executor.env!r} is busy: {limit} calls in flight; try again "
                "shortly, or give it more room (more actors, --worker-threads, --max-queue)"
            )
        while True:
            if self.closing:
                raise Busy(f"environment {self.executor.env!r} is shutting down")
            up = [s for s in self.slots if s.up and s.alive]
            if up:
                slot = min(up, key=lambda s: s.inflight)
                slot.inflight += 1
                slot.calls += 1
                return slot
            if self.error is not None and not self.slots:
                err, self.error = self.error, None  # the next call tries again
                raise err
            self.fill()
            await self.changed.wait()

    def release(self, slot: ActorSlot) -> None:
        slot.inflight -= 1
        max_calls = self.executor.max_calls
        if max_calls and slot.calls >= max_calls and slot.inflight == 0 and slot.alive:
            log.info(
                "environment %r: recycling actor after %d calls", self.executor.env, slot.calls
            )
            self.lose(slot)

    def cancelled(self, slot: ActorSlot, call_id: str, ref: Any) -> None:
        """A call was cancelled: cancel its Ray task; replace the actor if its code runs on."""
        import ray

        try:
            ray.cancel(ref)
        except Exception as exc:
            log.debug("ray.cancel failed: %s", exc)
        self.background(self._reap(slot, call_id))

    async def _reap(self, slot: ActorSlot, call_id: str) -> None:
        try:
            await self.control(slot, "drop").remote(call_id)  # cancel its run, end its stream
            await asyncio.sleep(CANCEL_GRACE)
            if not slot.alive or self.closing:
                return
            await self.control(slot, "drop").remote(call_id)  # a stream made as it was cancelled
            stuck = await self.control(slot, "stuck").remote(call_id)
        except Exception:
            stuck = slot.alive and not self.closing
        if stuck:
            log.warning(
                "environment %r: a cancelled call's code still runs after %ss; draining actor %s",
                self.executor.env,
                CANCEL_GRACE,
                slot.info.get("actor_id"),
            )
            self.drain(slot)

    async def aclose(self) -> None:
        self.closing = True
        self._notify()
        for slot in [*self.slots, *self.draining]:
            self._kill(slot)
        # The watches end as their actors go; what is still waiting after that is cancelled.
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=2.0)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def status(self) -> dict[str, Any]:
        return {
            "placement": self.placement,
            "size": self.size,
            "replaced": self.replaced,
            "draining": [s.status() for s in self.draining],
            "last_error": self.error.message if self.error else None,
            "actors": [s.status() for s in self.slots],
        }
