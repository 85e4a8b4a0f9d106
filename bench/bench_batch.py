"""Batching: 16 concurrent single-text callers of MiniLM, gathered by @batch vs one by one.

    .venv/bin/python bench/bench_batch.py [--seconds 10] [--rounds 3] [--callers 16] [--no-record]

One server (``--env embed=.venv-embed/bin/python:1``: one worker process, one model copy)
answers both adaptors in alternating rounds: the plain one embeds each caller's text in its
own model call; the batched one declares ``@batch(max_size=32, max_wait_ms=5)`` so that the
texts of concurrent callers share one model call. Throughput in texts per second, medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from bench_embed import EMBED_PYTHON, texts
from common import answered, b64, load, load_tool, machine, options, owt_server, record

PLAIN = """
from owt.lib.embed import run as embed

def run(text: str) -> list[float]:
    return embed([text])["vectors"][0]
"""

BATCHED = """
from owt.lib.embed import run as embed

@batch(max_size=32, max_wait_ms=5)
def run(text: list[str]) -> list[list[float]]:
    return embed(text)["vectors"]
"""


def body(code: str) -> dict:
    return {"code_b64": b64(code), "env": "embed", "kwargs": {"text": texts(1)[0]}}


def throughput(url: str, code: str, callers: int, seconds: float) -> float:
    """Texts per second from ``callers`` connections, each sending one text per call.

    The load comes from wrk where it is installed (a Python client's 16 threads would take
    a share of the two cores from the model), else from Python threads (``common.load``).
    """
    return load(url, body=body(code), seconds=seconds, connections=callers)


def parser() -> argparse.ArgumentParser:
    parser = options(__doc__, seconds=10, rounds=3)
    parser.add_argument("--callers", type=int, default=16)
    return parser


def main() -> None:
    args = parser().parse_args()
    if not EMBED_PYTHON.exists():
        sys.exit(f"no embeddings environment at {EMBED_PYTHON}: make .venv-embed/.installed")
    rates: dict[str, list[float]] = {"plain": [], "batched": []}
    with owt_server("--env", f"embed={EMBED_PYTHON}:1", "--timeout", "300") as url:
        # Warm before any timed round: the worker started and the model loaded (18 s and
        # more on a busy machine, which a timed round would otherwise count), then each
        # adaptor compiled and its threads started.
        for code in (PLAIN, BATCHED):
            answered(url, body=body(code), timeout=600)
            throughput(url, code, args.callers, 1)
        for _ in range(args.rounds):
            for kind, code in (("plain", PLAIN), ("batched", BATCHED)):
                rates[kind].append(throughput(url, code, args.callers, args.seconds))
    plain, batched = (statistics.median(rates[k]) for k in ("plain", "batched"))
    text = "\n".join(
        [
            "## Batching: concurrent single-text MiniLM callers",
            "",
            f"`python bench/bench_batch.py --seconds {args.seconds:g} --callers {args.callers} "
            f"--rounds {args.rounds}` — {machine()}, all-MiniLM-L6-v2 on the CPU, one worker "
            f"process, {args.callers} callers each sending one text per call (load by "
            f"{load_tool()}); medians of {args.rounds} alternating rounds.",
            "",
            "| adaptor | texts/s | vs one by one |",
            "|---|---|---|",
            f"| one model call per text | {plain:.1f} | 1.00× |",
            f"| `@batch(max_size=32, max_wait_ms=5)` | {batched:.1f} | {batched / plain:.2f}× |",
        ]
    )
    print(text)
    if not args.no_record:
        record("batch", text)


if __name__ == "__main__":
    main()
