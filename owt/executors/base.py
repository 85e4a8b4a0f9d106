"""The Executor contract: run this call, give me its reply (and its stream)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from owt.core.call import Call, Reply

__all__ = ["Executor"]


class Executor(ABC):
    """Where calls of one environment run: threads, worker processes or Ray actors.

    ``submit`` returns the call's Reply; a streamed Reply's ``stream`` is an async iterator of
    bytes whose ``aclose()`` stops the producer. Timeouts are applied by the caller by
    cancelling ``submit`` (or the stream's ``__anext__``); an executor that can stop the work
    (kill a worker, cancel a task) does so when cancelled. Errors come back as error Replies,
    never as exceptions.
    """

    name: str = "executor"

    async def start(self) -> None:
        """Acquire resources (worker processes, cluster connections)."""

    async def prepare(self, call: Call) -> None:
        """Make ready what the call needs before it runs (a virtualenv to build, a worker to
        start); raises the OwtError that stops it. Its time is not the call's timeout."""

    def progress(self, call: Call) -> dict[str, Any] | None:
        """What :meth:`prepare` is doing for this call (``phase``, ``detail``, ``elapsed``),
        or None when there is nothing to wait for."""
        return None

    @abstractmethod
    async def submit(self, call: Call) -> Reply: ...

    async def aclose(self) -> None:
        """Release every resource; no process may outlive this."""

    def status(self) -> dict[str, Any]:
        return {"executor": self.name}
