"""Tail latency: p50 and p99 at 64 connections (and one connection) vs bare Starlette.

    python bench/bench_tail.py [--seconds 5] [--rounds 3] [--no-record]

owt (code in every request, GET, ``def run``; ``--in-process`` and the default mode) and bare
Starlette (bench/baseline_app.py) are loaded by wrk with ``--latency`` in interleaved
rounds; the medians of each round's p50 and p99 are reported, with p99 and req/s as ratios
to Starlette's. Needs wrk (it reports the percentiles).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
from contextlib import ExitStack
from urllib.parse import urlencode

from common import answered, b64, free_port, machine, options, owt_server, process_server, record

ECHO = 'def run(name):\n    return f"Hello, {name}!"\n'
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def latency(url: str, seconds: float, connections: int) -> tuple[float, float, float]:
    """(req/s, p50 ms, p99 ms) of one wrk run."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    if not (rate and p50 and p99) or "Non-2xx" in out:
        raise RuntimeError(f"wrk failed:\n{out}")
    if float(rate.group(1)) <= 0:
        raise RuntimeError(f"no request to {url} was answered in {seconds:g} s:\n{out}")
    return (
        float(rate.group(1)),
        float(p50.group(1)) * UNITS[p50.group(2)],
        float(p99.group(1)) * UNITS[p99.group(2)],
    )


def parser() -> argparse.ArgumentParser:
    return options(__doc__, seconds=5, rounds=3)


def main() -> None:
    args = parser().parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench_tail needs wrk (apt-get install wrk)")
    query = urlencode({"code_b64": b64(ECHO), "kwargs_b64": b64('{"name": "owt"}')})
    results: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    with ExitStack() as stack:
        port = free_port()
        base = stack.enter_context(
            process_server([sys.executable, "bench/baseline_app.py", str(port)], port)
        )
        urls = {"bare Starlette": f"{base}/echo?name=owt"}
        for mode, flags in (("owt --in-process", ("--in-process",)), ("owt (default)", ())):
            url = stack.enter_context(owt_server("--timeout", "30", *flags))
            urls[mode] = f"{url}/echo?{query}"
        for url in urls.values():  # warm-up: one answer (compiled once), fill the pools
            answered(url)
            latency(url, 1, 64)
        for _ in range(args.rounds):
            for connections in (64, 1):
                for name, url in urls.items():
                    results.setdefault((name, connections), []).append(
                        latency(url, args.seconds, connections)
                    )
    text = report(results, args)
    print(text)
    if not args.no_record:
        record("tail", text)


def report(results: dict, args: argparse.Namespace) -> str:
    lines = [
        "## Tail latency: p99 at 64 connections, and one connection, vs bare Starlette",
        "",
        f"`python bench/bench_tail.py --seconds {args.seconds:g} --rounds {args.rounds}` — "
        f"{machine()}, load by wrk --latency, GET, owt receives `def run` code in every "
        "request; medians of interleaved rounds.",
        "",
        "| connections | server | req/s | / Starlette | p50 ms | p99 ms | p99 / Starlette's |",
        "|---|---|---|---|---|---|---|",
    ]
    for connections in (64, 1):
        base = _medians(results["bare Starlette", connections])
        for (name, conns), runs in results.items():
            if conns != connections:
                continue
            rate, p50, p99 = _medians(runs)
            lines.append(
                f"| {conns} | {name} | {rate:,.0f} | {rate / base[0]:.2f}× | {p50:.2f} "
                f"| {p99:.2f} | {p99 / base[2]:.2f}× |"
            )
    return "\n".join(lines)


def _medians(runs: list[tuple[float, float, float]]) -> list[float]:
    return [statistics.median(run[i] for run in runs) for i in range(3)]


if __name__ == "__main__":
    main()
