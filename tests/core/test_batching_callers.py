"""``@batch`` through a real server: what one caller does costs the others of its batch
nothing (its timeout, its item's place, a bad argument), and results reach their own callers.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from conftest import b64

MODES = {
    "workers": (),
    "in_process": ("--in-process",),
    "env": ("--env", f"x={sys.executable}:2"),
}


def posting(url: str, code: str, **fields: Any) -> Callable[..., httpx.Response]:
    """``post(item, **more_fields)``: one caller of the batched ``code``."""

    def post(item: object, **more: Any) -> httpx.Response:
        body = {"code_b64": b64(code), "kwargs": {"xs": item}, **fields, **more}
        return httpx.post(url, json=body, timeout=60)

    return post


def together(post: Callable[..., httpx.Response], calls: list[dict[str, Any]]) -> list[Any]:
    """The calls (keyword arguments of ``post``) made at once, their replies in order."""
    barrier = threading.Barrier(len(calls))

    def one(call: dict[str, Any]) -> httpx.Response:
        barrier.wait()
        return post(**call)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def timed_out(url: str, env: str) -> int:
    status = httpx.get(url + "/_owt/status", timeout=10).json()
    return int(status["environments"][env].get("killed_for_timeout", 0))


RUNNING = """
import asyncio, os, time

@batch(max_size=4, max_wait_ms=500)
def run(xs: list[str]) -> list[str]:
    time.sleep(0 if xs == ["quick"] else 3)
    return [f"{x}:{len(xs)}:{os.getpid()}" for x in xs]

@batch(max_size=4, max_wait_ms=500)
async def run_async(xs: list[str]) -> list[str]:
    await asyncio.sleep(0 if xs == ["quick"] else 3)
    return [f"{x}:{len(xs)}:{os.getpid()}" for x in xs]
"""


@pytest.mark.parametrize("mode", MODES, ids=list(MODES))
def test_a_caller_timing_out_in_a_running_batch_costs_the_others_nothing(
    start_server, mode: str
) -> None:
    """Its item is computed anyway, its thread leaves at once: the others of its batch get
    their results, and the worker with its warm model serves on (no drain, no replacement)."""
    server = start_server(*MODES[mode])
    env = "x" if mode == "env" else "main"
    fields = {"env": "x"} if mode == "env" else {}
    for fn_name in ("run", "run_async"):
        post = posting(server.url, RUNNING, fn_name=fn_name, **fields)
        before = timed_out(server.url, env)
        calls = [{"item": f"c{i}"} for i in range(3)] + [{"item": "late", "timeout": 1}]
        *others, late = together(post, calls)
        assert late.status_code == 504, late.text
        assert [r.status_code for r in others] == [200] * 3, [r.text for r in others]
        assert [r.text.split(":")[0] for r in others] == ["c0", "c1", "c2"]
        if mode != "env":  # one worker (or one process): the late item ran in their batch
            assert {r.text.split(":")[1] for r in others} == {"4"}
        assert timed_out(server.url, env) == before, server.lines[-20:]
        pids = {r.text.split(":")[2] for r in others}
        assert post("quick").text.split(":")[2] in pids  # the same warm worker(s)


SLOTS = """
@batch(max_size=4, max_wait_ms=20000)
def run(xs: list[str]) -> list[str]:
    return [f"{x}:{len(xs)}" for x in xs]

@batch(max_size=4, max_wait_ms=20000)
async def run_async(xs: list[str]) -> list[str]:
    return [f"{x}:{len(xs)}" for x in xs]
"""


@pytest.mark.parametrize("mode", ["workers", "in_process"])
def test_an_item_given_up_on_holds_no_place_in_its_batch(start_server, mode: str) -> None:
    """Four callers after a given-up one make one full batch at once: the given-up item
    neither takes a place (a batch of 3 and a fourth held max_wait) nor sets the deadline."""
    server = start_server(*MODES[mode])
    for fn_name in ("run", "run_async"):
        post = posting(server.url, SLOTS, fn_name=fn_name)
        assert post("gone", timeout=1).status_code == 504
        time.sleep(0.5)
        started = time.monotonic()
        replies = together(post, [{"item": f"c{i}"} for i in range(4)])
        assert [r.text for r in replies] == [f"c{i}:4" for i in range(4)]
        assert time.monotonic() - started < 10  # not held for max_wait (20 s)


UNORDERED = """
@batch(max_size=8, max_wait_ms=500)
def run(xs: list[str]) -> set[str]:
    return {"r-" + x for x in xs}
"""


def test_a_set_of_results_fails_the_batch_rather_than_mixing_callers_up(owt_server) -> None:
    post = posting(owt_server.url, UNORDERED)
    replies = together(post, [{"item": f"item{i}"} for i in range(8)])
    for reply in replies:
        body = reply.json()
        assert (reply.status_code, body["error"]) == (500, "adaptor_error"), reply.text
        assert "in the order of its items, not a set" in body["message"]
        assert "return a list" in body["message"]


EMBEDDING = """
@batch(max_size=8, max_wait_ms=500)
def run(text: list[str]) -> list[str]:
    if not all(isinstance(t, str) for t in text):  # as owt.lib.embed checks its texts
        raise TypeError("texts must be a list of strings")
    return [f"{t}:{len(text)}" for t in text]
"""


def test_a_bad_item_is_its_own_callers_400_not_the_batchs(owt_server) -> None:
    def post(item: object) -> httpx.Response:
        body = {"code_b64": b64(EMBEDDING), "kwargs": {"text": item}}
        return httpx.post(owt_server.url, json=body, timeout=60)

    items: list[object] = [f"t{i}" for i in range(8)]
    items[2], items[5] = 5, None
    replies = together(post, [{"item": item} for item in items])
    for item, reply in zip(items, replies, strict=True):
        if isinstance(item, str):
            assert reply.status_code == 200, reply.text
            assert reply.text.startswith(f"{item}:")
            continue
        body = reply.json()
        assert (reply.status_code, body["error"], body["field"]) == (400, "bad_request", "text")
        assert "parameter 'text' expects a string, got " in body["message"]
    sizes = {int(r.text.split(":")[1]) for r in replies if r.status_code == 200}
    assert max(sizes) > 1  # the good callers still shared batches
