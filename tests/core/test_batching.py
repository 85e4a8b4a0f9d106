"""``@batch``: concurrent single-item calls become one call of the function."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import b64

from owt.core.batching import batch


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
