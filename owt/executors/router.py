"""What the local and the Ray requirements executors share: route a call to its set's executor.

A call that brings ``requirements`` runs in an environment made for exactly that set. Both
``RequirementsExecutor`` (virtualenvs on this machine, :mod:`owt.executors.venvs`) and
``RayRequirements`` (Ray installs the set on its nodes) do the same around that: refuse when
the server builds nothing, key the set, make its environment ready before the call's timeout
starts (:meth:`prepare`), count the calls in flight while one runs (so an environment in use
is never evicted), and answer every failure as an error Reply. They differ only in how an
environment is made ready, which each says in :meth:`ready`.

Whatever ends a build reaches its callers as an OwtError (:meth:`_ready`): a build stopped
under them (its environment removed, the server stopping) is 503 ``busy`` with why, and a
fault of the build itself (an OSError, a bug) is 424 ``install_failed``, never a bare
cancellation or a 500 of the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import abstractmethod
from collections.abc import Iterator

from owt.core.call import Call, Reply
from owt.core.errors import Busy, InstallFailed, OwtError, shutting_down
from owt.executors.base import Executor, unless_caller_goes
from owt.executors.requirements import env_key, requirements_of

__all__ = ["RequirementsRouter"]

log = logging.getLogger(__name__)


class RequirementsRouter(Executor):
    """Routes each call to the executor of its requirement set, making it ready first."""

    refusal: OwtError | None = None  # why this server builds nothing (--no-install, --locked)

    def __init__(self, *, refusal: OwtError | None = None, max_live: int = 8) -> None:
        self.refusal = refusal
        self.max_live = max_live  # sets with live workers at once; the idle LRU ones stop
        self.in_flight: dict[str, int] = {}
        self.last_used: dict[str, float] = {}
        self._rebuilt: set[int] = set()  # calls whose rebuild=true was done (by prepare)
        self.closing = False  # shutting down: calls waiting for a set are refused
        self._waiting: set[asyncio.Future[None]] = set()  # one per call in prepare()

    def set_of(self, call: Call) -> tuple[str, list[str]]:
        """(key, normalised requirements) of the call's set, or the server's refusal."""
        requirements = requirements_of(call, self.refusal)
        return env_key(requirements), requirements

    def label_of(self, call: Call) -> str:
        """The call's environment as logs and metrics name it: ``requirements:KEY`` (as its
        workers' metrics do) for a set that has run calls, else ``requirements``."""
        try:
            key, _ = self.set_of(call)
        except OwtError:
            return "requirements"
        return f"requirements:{key}" if key in self.last_used else "requirements"

    @abstractmethod
    async def ready(self, key: str, requirements: list[str], rebuild: bool) -> Executor:
        """The set's started executor, built or started first when it is not yet (shared by
        every call asking meanwhile); raises the OwtError that stops the call."""

    async def _ready(self, key: str, requirements: list[str], rebuild: bool) -> Executor:
        """:meth:`ready`, whatever ends the build answered as an OwtError."""
        try:
            return await self.ready(key, requirements, rebuild)
        except OwtError:
            raise
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this call itself was cancelled (its caller left, the server cut it)
            # The build was stopped under the call: it was not the call's to stop.
            raise Busy(
                f"the environment {key} stopped while it was being built (it was removed, or "
                "the server is stopping); send the call again"
            ) from None
        except Exception as exc:
            log.exception("making the environment %s ready failed", key)
            raise InstallFailed(
                f"making the environment {key} ready failed ({type(exc).__name__}: {exc}); "
                "send the call again with rebuild=true, and see the server's log if it recurs"
            ) from exc

    async def prepare(self, call: Call) -> None:
        """Make the call's set ready before its timeout starts (a build is not the call);
        once the server is shutting down, a call still waiting is refused (503) at once."""
        if self.closing:
            raise shutting_down()
        key, requirements = self.set_of(call)
        ready = asyncio.ensure_future(self._ready(key, requirements, self._rebuild(call)))
        refused = asyncio.get_running_loop().create_future()
        self._waiting.add(refused)
        either = asyncio.ensure_future(
            asyncio.wait({ready, refused}, return_when=asyncio.FIRST_COMPLETED)
        )
        try:
            # A caller that leaves while its set builds is not run after the build, for nobody
            # (CallerGone); the build goes on for the next call of its set.
            await unless_caller_goes(either)
            if not ready.done():  # the build goes on (aclose stops it); this call is refused
                ready.add_done_callback(lambda done: done.cancelled() or done.exception())
                raise shutting_down()
            ready.result()
        except BaseException:
            self._rebuilt.discard(id(call))
            either.cancel()
            if not ready.done() and not refused.done():  # the call itself was cancelled
                ready.cancel()
            raise
        finally:
            self._waiting.discard(refused)

    def refuse_new(self) -> None:
        self.closing = True
        for refused in self._waiting:
            if not refused.done():
                refused.set_result(None)

    async def submit(self, call: Call) -> Reply:
        try:
            key, requirements = self.set_of(call)
            executor = await self._ready(key, requirements, self._rebuild(call))
        except OwtError as err:
            return err.reply()
        finally:
            self._rebuilt.discard(id(call))
        with self.using(key):
            return await executor.submit(call)

    def _rebuild(self, call: Call) -> bool:
        """``rebuild=true`` builds the set again once per call, however often it is prepared."""
        if not call.options.get("rebuild") or id(call) in self._rebuilt:
            return False
        self._rebuilt.add(id(call))
        return True

    @contextlib.contextmanager
    def using(self, key: str) -> Iterator[None]:
        """Count a call in flight on the set ``key`` (eviction passes over sets in use)."""
        self.in_flight[key] = self.in_flight.get(key, 0) + 1
        self.last_used[key] = time.time()
        try:
            yield
        finally:
            self.in_flight[key] -= 1
