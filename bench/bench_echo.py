"""Warm echo through owt (code sent in every request) vs a bare Starlette app.

    python bench/bench_echo.py [--seconds 5] [--rounds 3]

Both run on the same uvicorn settings (httptools, uvloop, no access log), one after the
other, driven by wrk at 16 connections (else a bounded Python client). Writes the ratios to
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from urllib.parse import urlencode

from common import b64, free_port, load, load_tool, machine, owt_server, process_server, record

ECHO = 'def run(name):\n    return f"Hello, {name}!"\n'


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    kw = {"seconds": args.seconds, "connections": args.connections}

    get_query = urlencode({"code_b64": b64(ECHO), "kwargs_b64": b64('{"name": "owt"}')})
    post_body = {"code_b64": b64(ECHO), "kwargs": {"name": "owt"}}
    port = free_port()
    results: dict[str, list[float]] = {}
    baseline_cmd = [sys.executable, "bench/baseline_app.py", str(port)]
    with process_server(baseline_cmd, port) as base, owt_server("--timeout", "30") as url:
        targets = {
            ("GET", "starlette"): (f"{base}/echo?name=owt", None),
            ("GET", "starlette-thread"): (f"{base}/thread/echo?name=owt", None),
            ("GET", "owt"): (f"{url}/echo?{get_query}", None),
            ("POST", "starlette"): (f"{base}/echo", post_body),
            ("POST", "starlette-thread"): (f"{base}/thread/echo", post_body),
            ("POST", "owt"): (f"{url}/echo", post_body),
        }
        for target, body in targets.values():  # warm-up: owt compiles the code once here
            load(target, body=body, seconds=1)
        servers = {"starlette": base, "starlette-thread": base, "owt": url}
        # Interleaved rounds, so drift in the machine's load hits both sides alike. Besides
        # requests per second, the server's own CPU time per request: the load generator
        # shares the machine, and CPU per request is what owt itself adds.
        for _ in range(args.rounds):
            for (method, side), (target, body) in targets.items():
                cpu = servers[side].cpu_seconds()
                rate = load(target, body=body, **kw)
                used = servers[side].cpu_seconds() - cpu
                results.setdefault(f"{method} {side}", []).append(rate)
                results.setdefault(f"{method} {side} cpu", []).append(
                    used / (rate * args.seconds) * 1e6
                )

    lines = [
        "## Warm echo: owt vs bare Starlette",
        "",
        f"`python bench/bench_echo.py --seconds {args.seconds:g} --rounds {args.rounds}` — "
        f"{machine()}, load by {load_tool()}, {args.connections} connections, the same "
        "uvicorn settings (httptools, uvloop, no access log); medians of interleaved rounds. "
        "owt receives the adaptor's code in every request.",
        "",
        "| method | baseline | baseline req/s | owt req/s | owt / baseline "
        "| CPU µs/req: baseline | owt | baseline / owt |",
        "|---|---|---|---|---|---|---|---|",
    ]
    baselines = {
        "starlette": "bare Starlette, async endpoint",
        "starlette-thread": "Starlette, function in a thread",
    }
    for method in ("GET", "POST"):
        owt = statistics.median(results[f"{method} owt"])
        owt_cpu = statistics.median(results[f"{method} owt cpu"])
        for side, label in baselines.items():
            base = statistics.median(results[f"{method} {side}"])
            base_cpu = statistics.median(results[f"{method} {side} cpu"])
            lines.append(
                f"| {method} | {label} | {base:,.0f} | {owt:,.0f} | {owt / base:.2f}× "
                f"| {base_cpu:.0f} | {owt_cpu:.0f} | {base_cpu / owt_cpu:.2f}× |"
            )
    lines += [
        "",
        "The async endpoint does its work on the event loop; owt never runs user code there, so",
        "the like-for-like baseline is the second: Starlette running the same function in its",
        "thread pool. CPU µs/req is the server process's own CPU time per request.",
    ]
    text = "\n".join(lines)
    print(text)
    record("echo", text)


if __name__ == "__main__":
    main()
