"""A pool of Ray actors: one environment's actors of one resource shape.

Calls go to the least busy actor that is up. Actors come up in the background; a pool whose
actors cannot be placed (no node can hold its shape, or its ``runtime_env`` fails to build)
fails the calls waiting for it with the reason, and tries again on the next call. A watch on
each actor (a call that never returns) notices one that dies while idle; a dead actor is
replaced. An actor still running the code of a cancelled call :data:`CANCEL_GRACE` after the
cancel — sync code in a thread, or an ``async def`` that blocks the actor's loop — is
*drained*, as a worker process is: it takes no new calls, a replacement starts at once, and it
is killed when its other calls end or after ``--drain-grace``. Every call that steers an actor
is bounded in time (:data:`CONTROL_TIMEOUT`): an actor that does not answer one is drained
too. Until then a cancelled call counts as busy, and ``last_error`` tells why an actor last
went.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from owt.core.errors import Busy, OwtError, WorkerDied
from owt.executors.ray.actor import CONTROL, LOOP_GRACE
from owt.executors.ray.cluster import actor_options, death_cause, ray_request, translate
from owt.executors.ray.ends import ActorEnd, read_end

if TYPE_CHECKING:
    from owt.executors.ray.executor import RayExecutor

__all__ = ["ActorPool", "ActorSlot"]

log = logging.getLogger(__name__)

START_TIMEOUT = 600.0  # a pip runtime_env may install for minutes before the actor is up
CANCEL_GRACE = 5.0  # a cancelled call's user code has this long to stop, else its actor goes
#: Seconds an actor has to answer a steering call (``drop`` waits up to LOOP_GRACE in it).
CONTROL_TIMEOUT = LOOP_GRACE + 10.0
BLOCKED_LOOP = (
    "a cancelled call could not be stopped: the actor's event loop did not run for "
    f"{LOOP_GRACE:g}s, so an async def blocks it (time.sleep, a busy loop or blocking I/O in "
    "async code); await asyncio.sleep, or run blocking code with asyncio.to_thread or in a "
    "def adaptor"
)
STUCK_CODE = (
    f"a cancelled call's code still runs {CANCEL_GRACE:g}s after its cancel (sync code cannot "
    "be stopped in a thread); give the call a longer timeout, or make it end sooner"
)
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
        self.overdue: set[str] = set()  # calls given up on whose code may still run here
        self.draining = False
        self.end: asyncio.Future[ActorEnd] | None = None  # why it died, once it has
        self.calls = 0
        self.started = time.monotonic()

    def status(self) -> dict[str, Any]:
        return {
            "actor_id": self.info.get("actor_id"),
            "up": self.up,
            "node_ip": self.info.get("node_ip"),
            "node_id": self.info.get("node_id"),
            "pid": self.info.get("pid"),
            "busy": self.inflight + len(self.overdue),  # a call past its deadline too
            "draining": self.draining,
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
        self.last_error: str | None = None  # why an actor last failed to start, died or went
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

    async def ask(self, slot: ActorSlot, method: str, *args: Any) -> Any:
        """A steering call's answer; TimeoutError when the actor does not give it within
        :data:`CONTROL_TIMEOUT` (it is wedged, or its node is unreachable)."""
        return await asyncio.wait_for(
            _awaited(self.control(slot, method).remote(*args)), CONTROL_TIMEOUT
        )

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
                await self.ended(slot, exc)

    def _fail(self, err: OwtError) -> None:
        """No actor can start: answer waiting calls, and stop trying until the next call."""
        log.error("environment %r: %s", self.executor.env, err.message)
        self.error = err
        self.last_error = err.message
        for slot in list(self.slots):
            if not slot.up:
                self._kill(slot)
        self._notify()

    def _kill(self, slot: ActorSlot, because: str | None = None) -> None:
        """Kill ``slot``'s actor; the calls still on it are told ``because`` (else what is
        known of a death: :meth:`ended`)."""
        import ray

        if because is not None and slot.end is None:
            slot.end = asyncio.get_running_loop().create_future()
            slot.end.set_result(ActorEnd(because))
        slot.alive = False
        if slot in self.slots:
            self.slots.remove(slot)
        try:
            ray.kill(slot.handle)
        except Exception:  # already gone
            pass

    def lose(self, slot: ActorSlot, reason: str | None = None) -> None:
        """An actor died (``reason``) or served its calls: kill it, start a replacement."""
        if not slot.alive:
            return
        if reason is not None:
            self.last_error = f"actor {slot.info.get('actor_id')}: {reason}"
        self._kill(slot)
        if slot.draining:  # its replacement started as it began to drain
            return
        self.replaced += 1
        if not self.closing:
            self._spawn()
        self._notify()

    async def ended(self, slot: ActorSlot, exc: BaseException) -> ActorEnd:
        """``slot``'s actor died (Ray raised ``exc``): it is replaced, and every call that
        was on it learns the same why (:mod:`.ends`)."""
        if slot.end is None:
            self.lose(slot, translate(exc).message)  # no call goes there from now on
            slot.end = asyncio.ensure_future(self._read_end(slot, exc))
        return await asyncio.shield(slot.end)

    async def _read_end(self, slot: ActorSlot, exc: BaseException) -> ActorEnd:
        try:
            read = asyncio.to_thread(read_end, slot.info, death_cause(exc))
            end = await asyncio.wait_for(read, CONTROL_TIMEOUT)
        except Exception as err:  # the GCS unreachable: what Ray said is all there is
            log.debug("cannot read how actor %s ended: %s", slot.info.get("actor_id"), err)
            end = ActorEnd(translate(exc).message)
        log.warning("environment %r: %s; replacing it", self.executor.env, end.message)
        self.last_error = f"actor {slot.info.get('actor_id')}: {end.message}"
        return end

    def drain(self, slot: ActorSlot, reason: str) -> None:
        """Take no new calls in ``slot``; replace it now; kill it when its other calls end
        or after ``drain_grace``."""
        if not slot.alive or slot.draining:
            return
        log.warning(
            "environment %r: %s; draining actor %s",
            self.executor.env,
            reason,
            slot.info.get("actor_id"),
        )
        self.last_error = f"actor {slot.info.get('actor_id')} drained: {reason}"
        slot.draining = True
        if slot in self.slots:
            self.slots.remove(slot)
        self.draining.append(slot)
        self.replaced += 1
        if not self.closing:
            self._spawn()
        self._notify()
        self.background(self._finish_draining(slot))

    async def _finish_draining(self, slot: ActorSlot) -> None:
        grace = self.executor.options.drain_grace
        deadline = time.monotonic() + grace
        while slot.alive and slot.inflight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        because = None
        if slot.alive and slot.inflight > 0:
            log.warning(
                "environment %r: drained actor %s still busy after --drain-grace (%gs); killing it",
                self.executor.env,
                slot.info.get("actor_id"),
                grace,
            )
            because = (
                "owt stopped the Ray actor: a call on it ran on past its timeout and its other "
                f"calls did not end within --drain-grace ({grace:g}s)"
            )
        self._kill(slot, because)
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
        """A cancelled call counts as busy until it is seen to end; its actor is drained if
        it does not."""
        slot.overdue.add(call_id)
        reason = await self._runs_on(slot, call_id)
        if reason is None:
            slot.overdue.discard(call_id)
        elif slot.alive and not self.closing:
            self.drain(slot, reason)

    async def _runs_on(self, slot: ActorSlot, call_id: str) -> str | None:
        """Why the cancelled call still runs in its actor a grace after its cancel, or None."""
        try:
            if not await self.ask(slot, "drop", call_id):  # cancel its run, end its stream
                return BLOCKED_LOOP
            await asyncio.sleep(CANCEL_GRACE)
            if not slot.alive or self.closing:
                return None
            if not await self.ask(slot, "drop", call_id):  # a stream made as it was cancelled
                return BLOCKED_LOOP
            stuck = await self.ask(slot, "stuck", call_id)
        except TimeoutError:
            return f"the actor did not answer owt within {CONTROL_TIMEOUT:g}s"
        except Exception as exc:
            from ray.exceptions import RayActorError

            if isinstance(exc, RayActorError):  # it died: its watch replaces it
                return None
            return f"the actor failed a steering call: {translate(exc).message}"
        return STUCK_CODE if stuck else None

    async def aclose(self) -> None:
        self.closing = True
        self._notify()
        for slot in [*self.slots, *self.draining]:
            self._kill(slot, "owt stopped the Ray actor: the server is shutting down")
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
            "last_error": self.last_error,
            "actors": [s.status() for s in self.slots],
        }


async def _awaited(ref: Any) -> Any:
    """A Ray object ref as a coroutine (which ``asyncio.wait_for`` takes)."""
    return await ref
