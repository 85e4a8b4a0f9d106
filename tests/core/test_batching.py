"""``@batch``: concurrent single-item calls become one call of the function."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import b64, no_room_once

from owt.core.batching import batch
from owt.core.call import Call


def test_concurrent_callers_share_one_call_and_get_their_own_item() -> None:
    seen: list[list[int]] = []

    @batch(max_size=8, max_wait_ms=200)
    def square(xs: list[int]) -> list[int]:
        seen.append(list(xs))
        return [x * x for x in xs]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(square, range(8)))
    assert results == [x * x for x in range(8)]
    assert len(seen) == 1 and sorted(seen[0]) == list(range(8))


def test_a_batch_goes_when_full_or_when_its_first_item_waited() -> None:
    @batch(max_size=3, max_wait_ms=50)
    def ident(xs: list[int]) -> list[int]:
        return xs

    with ThreadPoolExecutor(7) as pool:
        assert list(pool.map(ident, range(7))) == list(range(7))
    assert ident.batcher.batches >= 3  # type: ignore[attr-defined]
    started = time.monotonic()
    assert ident(1) == 1  # alone: it waits max_wait, not forever
    assert time.monotonic() - started < 2


def test_an_item_that_queued_while_a_batch_ran_waits_only_the_rest_of_max_wait() -> None:
    """``max_wait`` counts from when an item came: one that waited through most of the last
    batch's run goes the rest of ``max_wait`` after it, not a whole ``max_wait``."""
    runs: list[tuple[list[str], float, float]] = []

    @batch(max_size=8, max_wait_ms=500)
    def slow(xs: list[str]) -> list[str]:
        started = time.monotonic()
        time.sleep(0.5)
        runs.append((list(xs), started, time.monotonic()))
        return xs

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(slow, "a")
        time.sleep(0.6)  # "a" waited its 500 ms and now runs for 500 ms
        assert pool.submit(slow, "b").result() == "b" and first.result() == "a"
    (a, _, a_ended), (b, b_started, _) = runs
    assert (a, b) == (["a"], ["b"])
    assert b_started - a_ended < 0.25  # it had waited 400 ms of its 500 already


def test_errors_reach_the_right_callers() -> None:
    @batch(max_size=4, max_wait_ms=100)
    def checked(xs: list[int]) -> list[object]:
        if 13 in xs:
            raise RuntimeError("unlucky batch")
        return [ValueError(f"odd {x}") if x % 2 else x for x in xs]

    assert checked(2) == 2
    with pytest.raises(ValueError, match="odd 3"):
        checked(3)
    with pytest.raises(RuntimeError, match="unlucky"):
        checked(13)


def test_a_result_of_the_wrong_length_is_an_error() -> None:
    @batch(max_size=2, max_wait_ms=1)
    def short(xs: list[int]) -> list[int]:
        return []

    with pytest.raises(ValueError, match="one result per item"):
        short(1)


@pytest.mark.parametrize("returned", ["ab", {0: "a", 1: "b"}, b"ab", 7])
def test_a_result_that_is_no_list_is_an_error(returned: object) -> None:
    """A str or dict of the right length is not one result per item (it was split)."""

    @batch(max_size=2, max_wait_ms=200)
    def wrong(xs: list[int]) -> object:
        return returned

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(wrong, i) for i in range(2)]
        for future in futures:
            with pytest.raises(TypeError, match="must return a list of results"):
                future.result()


@pytest.mark.parametrize(
    "returned",
    [
        lambda xs: {f"r-{x}" for x in xs},
        lambda xs: frozenset(xs),
        lambda xs: {x: x for x in xs}.keys(),
        lambda xs: {x: x for x in xs}.items(),
    ],
    ids=["set", "frozenset", "dict_keys", "dict_items"],
)
def test_results_without_an_order_are_an_error_of_the_batch(returned) -> None:
    """A set of the right length would hand callers each other's results."""

    @batch(max_size=4, max_wait_ms=200)
    def unordered(xs: list[str]) -> object:
        return returned(xs)

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(unordered, f"item{i}") for i in range(4)]
        for future in futures:
            with pytest.raises(TypeError, match="in the order of its items"):
                future.result()


@pytest.mark.parametrize(
    "returned",
    [
        lambda xs: (f"r-{x}" for x in xs),
        lambda xs: iter([f"r-{x}" for x in xs]),
        lambda xs: tuple(f"r-{x}" for x in xs),
        lambda xs: {x: f"r-{x}" for x in xs}.values(),
        lambda xs: map("r-{}".format, xs),
    ],
    ids=["generator", "iterator", "tuple", "dict_values", "map"],
)
def test_results_in_order_may_be_any_ordered_iterable(returned) -> None:
    @batch(max_size=4, max_wait_ms=200)
    def ordered(xs: list[str]) -> object:
        return returned(xs)

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(ordered, ["a", "b", "c", "d"])) == ["r-a", "r-b", "r-c", "r-d"]


def test_an_endless_generator_of_results_is_an_error() -> None:
    @batch(max_size=2, max_wait_ms=1)
    def endless(xs: list[int]) -> object:
        return itertools.count()

    with pytest.raises(ValueError, match="returned more than 1 results"):
        endless(1)


@pytest.mark.parametrize("wait", [-1, float("inf"), float("nan"), 1e13, 60_001])
def test_max_wait_is_bounded(wait: float) -> None:
    with pytest.raises(ValueError, match="from 0 to 60000"):
        batch(max_wait_ms=wait)(lambda xs: xs)
    assert batch(max_size=1, max_wait_ms=60_000)(lambda xs: xs)(5) == 5


def test_each_caller_of_a_failed_batch_raises_its_own_error() -> None:
    @batch(max_size=8, max_wait_ms=200)
    def broken(xs: list[int]) -> list[int]:
        raise RuntimeError("model failed")

    def caught(x: int) -> BaseException:
        try:
            broken(x)
        except RuntimeError as exc:
            return exc
        raise AssertionError("no error")

    with ThreadPoolExecutor(8) as pool:
        errors = list(pool.map(caught, range(8)))
    assert len({id(e) for e in errors}) == 8  # no traceback piled up on one shared object
    assert all(str(e) == "model failed" for e in errors)
    depths = {len(traceback.extract_tb(e.__traceback__)) for e in errors}
    assert len(depths) == 1, depths


def calling(fn: Callable[[int], object], item: int) -> tuple[Call, threading.Thread, list[object]]:
    """``fn(item)`` on a thread of its own, within a call of owt's (which a test may give up
    on): the call, the thread, and what it returned or raised once it has."""
    from owt.core.context import using_call

    call = Call(code="", sha256="0" * 64)
    outcome: list[object] = []

    def caller() -> None:
        with using_call(call):
            try:
                outcome.append(fn(item))
            except BaseException as exc:
                outcome.append(exc)

    thread = threading.Thread(target=caller)
    thread.start()
    return call, thread, outcome


def test_a_call_given_up_on_takes_its_waiting_item_back() -> None:
    seen: list[list[int]] = []

    @batch(max_size=10, max_wait_ms=1500)
    def slow(xs: list[int]) -> list[int]:
        seen.append(list(xs))
        return xs

    call, thread, outcome = calling(slow, 1)
    time.sleep(0.2)
    started = time.monotonic()
    call.given_up = True  # as a host does when the caller leaves or the timeout passes
    thread.join(5)
    assert time.monotonic() - started < 0.5  # its thread left the call's code at once
    assert type(outcome[0]).__name__ == "CancelledError"
    assert slow(2) == 2 and seen == [[2]]  # the withdrawn item was never run


def test_a_call_given_up_on_while_its_batch_runs_leaves_at_once() -> None:
    """Its thread leaves the call's code (so its worker is not drained for it); the batch
    runs on for its other callers."""
    running = threading.Event()

    @batch(max_size=2, max_wait_ms=1000)
    def slow(xs: list[int]) -> list[int]:
        running.set()
        time.sleep(1.5)
        return [x * 10 for x in xs]

    call, thread, outcome = calling(slow, 1)
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(slow, 2)
        assert running.wait(5)
        started = time.monotonic()
        call.given_up = True
        thread.join(5)
        assert time.monotonic() - started < 0.5  # not held until the batch ends
        assert type(outcome[0]).__name__ == "CancelledError"
        assert "batch ran" in str(outcome[0])
        assert other.result(5) == 20


def test_an_item_given_up_on_holds_no_place_and_sets_no_deadline() -> None:
    seen: list[list[str]] = []

    @batch(max_size=2, max_wait_ms=20_000)
    def pair(xs: list[str]) -> list[str]:
        seen.append(list(xs))
        return xs

    gone = pair.batcher.submit("gone")  # type: ignore[attr-defined]
    time.sleep(0.1)  # the batch thread holds it, waiting for a second item
    assert gone.cancel()
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(pair, ["a", "b"])) == ["a", "b"]
    assert time.monotonic() - started < 10  # one full batch at once, not max_wait later
    assert seen == [["a", "b"]]


def test_an_item_that_does_not_fit_the_hint_fails_its_own_caller_only() -> None:
    from owt.core.errors import BadRequest

    seen: list[list[object]] = []

    @batch(max_size=3, max_wait_ms=300)
    def lengths(text: list[str]) -> list[int]:
        seen.append(list(text))
        return [len(t) for t in text]

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(lengths, item) for item in ["ab", 5, "abc"]]
        assert futures[0].result() == 2 and futures[2].result() == 3
        with pytest.raises(BadRequest, match="parameter 'text' expects a string, got 5"):
            futures[1].result()
    assert seen == [["ab", "abc"]]
    with pytest.raises(BadRequest, match="takes ONE item from each caller"):
        lengths(["a", "b"])  # a caller who sent the whole list

    @batch(max_size=1)
    def doubled(xs: list[int]) -> list[object]:
        return [2 * x for x in xs]

    assert doubled("21") == 42  # converted as a typed endpoint's argument is
    array = ArrayLike()  # what only Python code passes is the function's to judge
    assert doubled(array) is array


class ArrayLike:
    def __rmul__(self, other: int) -> ArrayLike:
        return self


def test_only_one_list_parameter_is_accepted() -> None:
    with pytest.raises(TypeError, match="exactly one parameter"):
        batch()(lambda a, b: [a])


def test_the_caller_sees_the_one_item_signature() -> None:
    import inspect

    @batch()
    def run(texts: list[str]) -> list[int]:
        return [len(t) for t in texts]

    (parameter,) = inspect.signature(run).parameters.values()
    assert (parameter.name, parameter.annotation) == ("texts", str)


def test_async_functions_batch_too() -> None:
    @batch(max_size=4, max_wait_ms=100)
    async def upper(words: list[str]) -> list[str]:
        await asyncio.sleep(0)
        return [w.upper() for w in words]

    async def main() -> list[str]:
        return list(await asyncio.gather(*(upper(w) for w in ["a", "b", "c", "d"])))

    assert asyncio.run(main()) == ["A", "B", "C", "D"]
    assert upper.batcher.batches == 1  # type: ignore[attr-defined]


BATCHED = """
calls = []

@batch(max_size=16, max_wait_ms=300)
def run(texts: list[str]) -> list[str]:
    calls.append(len(texts))
    return [f"{t}:{len(texts)}" for t in texts]
"""


def test_concurrent_http_calls_are_gathered(owt_server) -> None:
    body = lambda i: {"code_b64": b64(BATCHED), "kwargs": {"texts": f"t{i}"}}  # noqa: E731
    barrier = threading.Barrier(6)

    def one(i: int) -> str:
        barrier.wait()
        return httpx.post(owt_server.url, json=body(i), timeout=30).text

    httpx.post(owt_server.url, json=body(99), timeout=30)  # compiled and warm first
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(one, range(6)))
    assert [r.split(":")[0] for r in replies] == [f"t{i}" for i in range(6)]
    assert max(int(r.split(":")[1]) for r in replies) > 1  # some callers shared a call


WAITING = """
import os

@batch(max_size=100, max_wait_ms=2500)
def run(xs: list[str]) -> list[str]:
    return [f"{x}:{os.getpid()}" for x in xs]
"""


def test_a_caller_timing_out_in_a_batch_costs_no_warm_worker(owt_server) -> None:
    """Its item is taken back and its thread leaves: no drain, no model reload."""

    def post(x: str, timeout: float) -> httpx.Response:
        body = {"code_b64": b64(WAITING), "kwargs": {"xs": x}, "timeout": timeout}
        return httpx.post(owt_server.url, json=body, timeout=30)

    def timed_out() -> int:
        status = httpx.get(owt_server.url + "/_owt/status").json()
        return int(status["environments"]["main"]["killed_for_timeout"])

    assert post("warm", 10).status_code == 200
    before = timed_out()
    with ThreadPoolExecutor(2) as pool:
        waiting = pool.submit(post, "a", 1)
        time.sleep(0.1)
        other = pool.submit(post, "b", 10)
        assert waiting.result().status_code == 504
        assert other.result().text.startswith("b:")  # its batch went without a's item
    time.sleep(1.5)  # past the grace a given-up call has to leave its worker
    assert timed_out() == before


def test_a_failed_batch_shows_its_callers_the_functions_own_traceback(owt_server) -> None:
    code = "@batch(max_size=4, max_wait_ms=50)\ndef run(xs: list[int]) -> list[int]:\n"
    code += "    raise ValueError('model failed')\n"
    r = httpx.post(owt_server.url, json={"code_b64": b64(code), "kwargs": {"xs": 1}}, timeout=30)
    body = r.json()
    assert (r.status_code, body["error"]) == (500, "adaptor_error")
    assert "raise ValueError('model failed')" in body["traceback"]
    assert "concurrent/futures" not in body["traceback"]  # no plumbing of the wait


SEEN = """
SEEN = []

@batch(max_size=10, max_wait_ms=2500)
def run(texts: list[str]) -> list[str]:
    SEEN.append(texts)
    return [t.upper() for t in texts]

def seen():
    return SEEN
"""


@pytest.mark.parametrize("mode", [(), ("--in-process",)], ids=["workers", "in_process"])
def test_items_of_calls_given_up_on_are_not_computed(start_server, mode) -> None:
    server = start_server("--worker-threads", "4", *mode)

    def post(text: str, wait: float, **fields: object) -> httpx.Response:
        body = {"code_b64": b64(SEEN), "kwargs": {"texts": text}, **fields}
        return httpx.post(server.url, json=body, timeout=wait)

    assert post("late", 5, timeout=0.5).status_code == 504  # past its deadline
    with pytest.raises(httpx.ReadTimeout):
        post("gone", 1)  # its caller left
    time.sleep(2)  # both items' batches have gone by now
    assert post("", 10, fn_name="seen", kwargs={}).json() == []


def test_a_batch_thread_that_cannot_start_fails_only_the_call_that_wanted_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No room for a thread (a tight --worker-max-memory): that call hears why; the next call
    # starts the thread, and no item of the failed call lingers in a later batch.
    seen: list[list[int]] = []

    @batch(max_size=4, max_wait_ms=1)
    def ident(xs: list[int]) -> list[int]:
        seen.append(list(xs))
        return xs

    monkeypatch.setattr(threading.Thread, "start", no_room_once())
    with pytest.raises(RuntimeError, match="can't start new thread"):
        ident(1)
    assert ident(2) == 2
    assert seen == [[2]]
