"""What is current during a call: ``owt.request`` and the serving address. Stdlib only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from owt.core.call import Call, Request

__all__ = ["current_call", "current_request", "request", "using_call"]

_call: ContextVar[Call | None] = ContextVar("owt_call", default=None)


def current_call() -> Call | None:
    """The call being run in this context, if any."""
    return _call.get()


def current_request() -> Request:
    """The request of the call being run; raises ``RuntimeError`` outside a call."""
    call = _call.get()
    if call is None:
        raise RuntimeError("owt.request is only available while a call runs")
    return call.request


@contextmanager
def using_call(call: Call) -> Iterator[None]:
    token = _call.set(call)
    try:
        yield
    finally:
        _call.reset(token)


class _RequestProxy:
    """``owt.request``: forwards attribute access to the current call's request."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(current_request(), name)

    def __repr__(self) -> str:
        call = _call.get()
        return f"<owt.request {call.request!r}>" if call else "<owt.request (no call)>"

    def __bool__(self) -> bool:
        return _call.get() is not None


request: Any = _RequestProxy()
