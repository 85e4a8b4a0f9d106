"""Batching: 16 concurrent single-text callers of MiniLM, gathered by @batch vs one by one.

    .venv/bin/python bench/bench_batch.py [--seconds 10] [--callers 16] [--no-record]

One server (``--env embed=.venv-embed/bin/python:1``: one worker process, one model copy)
answers both adaptors in alternating rounds: the plain one embeds each caller's text in its
own model call; the batched one declares ``@batch(max_size=32, max_wait_ms=5)`` so that the
texts of concurrent callers share one model call. Throughput in texts per second, medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time

import httpx
from bench_embed import EMBED_PYTHON, texts
from common import b64, machine, owt_server, record

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


def throughput(url: str, code: str, callers: int, seconds: float) -> float:
    """Texts per second from ``callers`` threads, each sending one text per call."""
    pool = texts(64)
    count = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def caller(n: int) -> None:
        nonlocal count
        with httpx.Client(timeout=120) as client:
            i = n
            while time.monotonic() < deadline:
                body = {"code_b64": b64(code), "env": "embed", "kwargs": {"text": pool[i % 64]}}
                r = client.post(url, json=body)
                r.raise_for_status()
                assert len(r.json()) == 384
                i += callers
                with lock:
                    count += 1

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    if not EMBED_PYTHON.exists():
        sys.exit(f"no embeddings environment at {EMBED_PYTHON}: make .venv-embed/.installed")
    rates: dict[str, list[float]] = {"plain": [], "batched": []}
    with owt_server("--env", f"embed={EMBED_PYTHON}:1", "--timeout", "300") as url:
        for code in (PLAIN, BATCHED):  # warm: worker started, model loaded, code compiled
            throughput(url, code, 2, 1)
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
            f"process, {args.callers} callers each sending one text per call; medians of "
            f"{args.rounds} alternating rounds.",
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
