"""The added cost of a warm call in a worker process over the thread executor.

    .venv/bin/python bench/bench_process.py [--calls 2000] [--rounds 5] [--no-record]
        [--loop uvloop|asyncio]

Both executors are driven directly (no HTTP), one call at a time, with the same warm code
(compiled by the first call), so the difference is what a worker process adds: pickling the
call, two pipe hops and the worker's own thread hop.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine, options, record

from owt.core.call import Call, Request
from owt.executors.base import Executor
from owt.executors.process.executor import ProcessExecutor
from owt.executors.thread import ThreadExecutor
from owt.server.protocol import sha256_of

CODE = "def run(name):\n    return f'Hello, {name}!'\n"
STREAM = "def run(n):\n    for i in range(n):\n        yield b'x' * 64\n"


def make_call(code: str, **kwargs: object) -> Call:
    request = Request(
        method="GET",
        path="/hello",
        query_string="name=owt",
        header_pairs=[("host", "127.0.0.1:9876"), ("user-agent", "bench"), ("accept", "*/*")],
    )
    return Call(code=code, sha256=sha256_of(code), kwargs=dict(kwargs), request=request)


async def per_call(executor: Executor, call: Call, calls: int, rounds: int = 5) -> float:
    """The median over ``rounds`` of the mean seconds per call."""
    reply = await executor.submit(call)  # warm: compile once
    assert reply.status == 200, reply.body
    if reply.stream is not None:
        async for _chunk in reply.stream:  # type: ignore[union-attr]
            pass
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            reply = await executor.submit(call)
            if reply.stream is not None:
                async for _chunk in reply.stream:  # type: ignore[union-attr]
                    pass
        results.append((time.perf_counter() - start) / calls)
    return statistics.median(results)


async def main(calls: int, rounds: int, loop: str, no_record: bool) -> None:
    thread = ThreadExecutor()
    process = ProcessExecutor(workers=1)
    await thread.start()
    await process.start()
    rows = []
    try:
        for label, call in (
            ("plain call", make_call(CODE, name="owt")),
            ("stream of 10 chunks", make_call(STREAM, n=10)),
        ):
            t = await per_call(thread, call, calls, rounds)
            p = await per_call(process, call, calls, rounds)
            rows.append(f"| {label} | {t * 1e3:.3f} | {p * 1e3:.3f} | {(p - t) * 1e3:+.3f} |")
    finally:
        await process.aclose()
        await thread.aclose()
    text = "\n".join(
        [
            "## A warm call in a worker process vs the thread executor",
            "",
            f"`python bench/bench_process.py --calls {calls} --loop {loop}` — {machine()}; "
            f"executors driven directly (no HTTP), one call at a time, median of {rounds} "
            "rounds. "
            "Target: under 0.5 ms added per call.",
            "",
            "| call | thread ms | worker process ms | added ms/call |",
            "|---|---|---|---|",
            *rows,
        ]
    )
    print(text)
    if not no_record:
        record("process", text)


def parser() -> argparse.ArgumentParser:
    parser = options(__doc__, seconds=None, rounds=5, not_timed="it counts --calls")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    return parser


if __name__ == "__main__":
    args = parser().parse_args()
    run = main(args.calls, args.rounds, args.loop, args.no_record)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(run)
    else:
        asyncio.run(run)
