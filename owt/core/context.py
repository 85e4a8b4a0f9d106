"""What is current during a call: ``owt.request`` and the serving address. Stdlib only."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from owt.core.call import Call, Request

__all__ = ["current_call", "current_request", "current_request_id", "request", "using_call"]

_call: ContextVar[Call | None] = ContextVar("owt_call", default=None)


def current_call() -> Call | None:
    """The call being run in this context, if any."""
    return _call.get()


def current_request_id() -> str:
    """The request id of the call being run in this context (``-`` outside calls): the one
    its log lines start with."""
    call = _call.get()
    return call.request_id if call is not None else "-"


def current_request() -> Request:
    """The request of the call being run; raises ``RuntimeError`` outside a call."""
    call = _call.get()
    if call is None:
        raise RuntimeError("owt.request is only available while a call runs")
    return call.request


class using_call:  # used like a function: ``with using_call(call):``
    """Make ``call`` current for the block (a class, not a generator: it is on the hot path)."""

    __slots__ = ("call", "token")

    def __init__(self, call: Call) -> None:
        self.call = call

    def __enter__(self) -> None:
        self.token = _call.set(self.call)

    def __exit__(self, *exc_info: object) -> None:
        _call.reset(self.token)


class _RequestProxy:
    """``owt.request``: forwards attribute access to the current call's request."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # introspection (doctest, inspect, copy) finds nothing here
            raise AttributeError(name)
        return getattr(current_request(), name)

    def __repr__(self) -> str:
        call = _call.get()
        return f"<owt.request {call.request!r}>" if call else "<owt.request (no call)>"

    def __bool__(self) -> bool:
        return _call.get() is not None


request: Any = _RequestProxy()
