"""A worker's ``os._exit`` names the call that ended the process, only in the worker itself."""

from __future__ import annotations

import os
from typing import Any, NoReturn

import pytest

from owt.core.workerprocess import exit_naming_the_call


class Exited(Exception):
    pass


def fake_exit(code: int) -> NoReturn:
    raise Exited(code)


def test_the_dying_frame_names_the_call_then_the_process_exits(monkeypatch) -> None:
    sent: list[tuple[Any, ...]] = []
    exit_ = exit_naming_the_call(fake_exit, lambda: ("7", "<owt:abc>"), sent.append)
    with pytest.raises(Exited):
        exit_(3)
    message = "the adaptor called os._exit(3), ending its worker"
    assert sent == [("dying", message, "7", "<owt:abc>", 3)]
    # Outside a call (owt's own exit), or in a forked child: no frame, just the exit.
    sent.clear()
    with pytest.raises(Exited):
        exit_naming_the_call(fake_exit, lambda: None, sent.append)(1)
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as in a child multiprocessing forked
    with pytest.raises(Exited):
        exit_(0)
    assert sent == []


def test_a_pipe_that_fails_still_exits() -> None:
    def broken(message: tuple[Any, ...]) -> None:
        raise BrokenPipeError

    with pytest.raises(Exited):
        exit_naming_the_call(fake_exit, lambda: ("7", "<owt:abc>"), broken)(3)
