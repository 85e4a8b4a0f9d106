"""A cache hit vs a warm echo call (no cache), same server, same run.

    python bench/bench_cache.py [--seconds 3] [--rounds 1] [--connections 16] [--no-record]

Three GET loads against one ``owt serve`` on loopback: the warm echo (code in the query,
compiled once, run every time), the same call with ``use_cache=1`` (a hit after the first),
and a request with no code to a pinned path (``/favicon.ico``-style). A hit should cost no
more than the echo: it skips the executor hop and the adaptor. Records the ``cache`` section
of bench/RESULTS.md unless ``--no-record``.
"""

from __future__ import annotations

import argparse
import statistics
from urllib.parse import urlencode

import httpx
from common import answered, b64, load, load_tool, machine, options, owt_server, record

ECHO = 'def run(name):\n    return f"Hello, {name}!"\n'


def parser() -> argparse.ArgumentParser:
    parser = options(__doc__, seconds=3, rounds=1)
    parser.add_argument("--connections", type=int, default=16)
    return parser


def main() -> None:
    args = parser().parse_args()
    kw = {"seconds": args.seconds, "connections": args.connections}

    fields = {"code_b64": b64(ECHO), "kwargs_b64": b64('{"name": "owt"}')}
    echo_query = urlencode(fields)
    cached_query = urlencode({**fields, "use_cache": "1"})
    with owt_server("--timeout", "30") as url:
        answered(f"{url}/echo?{echo_query}")  # warm-up: compiles once
        load(f"{url}/echo?{echo_query}", seconds=1)
        assert answered(f"{url}/hit?{cached_query}").text == "Hello, owt!"
        pinned = httpx.get(f"{url}/hit")
        assert pinned.headers.get("x-owt-cache") == "hit", pinned.text
        targets = {
            "echo": f"{url}/echo?{echo_query}",
            "hit": f"{url}/hit?{cached_query}",
            "pin": f"{url}/hit",
        }
        rates: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(args.rounds):  # interleaved
            for name, target in targets.items():
                rates[name].append(load(target, **kw))
        echo, hit, pin = (statistics.median(rates[name]) for name in targets)
        stats = httpx.get(f"{url}/_owt/status").json()["cache"]
    assert stats["misses"] == 1, stats  # every timed request was a hit

    lines = [
        "## Response cache: a hit vs a warm echo call",
        "",
        f"`python bench/bench_cache.py --seconds {args.seconds:g}"
        f"{f' --rounds {args.rounds}' if args.rounds != 1 else ''}` — {machine()}, load by "
        f"{load_tool()}, {args.connections} connections, GET, one server"
        f"{'; medians of interleaved rounds' if args.rounds != 1 else ''}.",
        "",
        "| request | req/s | / warm echo |",
        "|---|---|---|",
        f"| warm echo, no cache (code in the query, runs every time) | {echo:,.0f} | 1.00× |",
        f"| cache hit (same call + `use_cache=1`) | {hit:,.0f} | {hit / echo:.2f}× |",
        f"| pinned path, no code (`GET /hit`) | {pin:,.0f} | {pin / echo:.2f}× |",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        record("cache", text)


if __name__ == "__main__":
    main()
