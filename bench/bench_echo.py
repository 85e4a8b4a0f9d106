"""Warm echo through owt (code sent in every request) vs a bare Starlette app.

    python bench/bench_echo.py [--seconds 5] [--rounds 3] [--connections 16] [--no-record]

owt runs with ``--in-process`` (threads inside the server, as Starlette's; the default mode,
calls in a worker process, is measured beside it by bench/bench_modes.py). Both run on the
same uvicorn settings (httptools, uvloop, no access log: owt with ``-q``; its cost is
bench/bench_accesslog.py's), one after the other, driven by wrk at 16 connections (else a
bounded Python client). The echo is measured twice through owt: as ``async def run`` (on the
host's loop thread) and as ``def run`` (on a worker thread, like Starlette's
``run_in_threadpool``). Writes the ratios to bench/RESULTS.md (unless ``--no-record``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from urllib.parse import urlencode

from common import (
    answered,
    b64,
    free_port,
    load,
    load_tool,
    machine,
    options,
    owt_server,
    process_server,
    record,
)

ECHO = {
    "async": 'async def run(name):\n    return f"Hello, {name}!"\n',
    "sync": 'def run(name):\n    return f"Hello, {name}!"\n',
}
BASELINES = {
    "starlette": "bare Starlette, async endpoint",
    "starlette-thread": "Starlette, the function in its thread pool",
}
# (owt's adaptor, the baseline doing the same work the same way), then the cross comparison.
PAIRS = [
    ("async", "starlette", "an event loop each: owt's host loop is not the server's"),
    ("sync", "starlette-thread", "like for like: both on a worker thread"),
    ("sync", "starlette", "a thread hop against none"),
]


def parser() -> argparse.ArgumentParser:
    parser = options(__doc__, seconds=5, rounds=3)
    parser.add_argument("--connections", type=int, default=16)
    return parser


def main() -> None:
    args = parser().parse_args()
    kw = {"seconds": args.seconds, "connections": args.connections}

    port = free_port()
    results: dict[str, list[float]] = {}
    baseline_cmd = [sys.executable, "bench/baseline_app.py", str(port)]
    owt = owt_server("--timeout", "30", "--in-process", "-q")  # -q: no access log, as Starlette
    with process_server(baseline_cmd, port) as base, owt as url:
        targets = _targets(base, url)
        for target, body in targets.values():  # warm-up: one answer (owt compiles), load
            answered(target, body=body)
            load(target, body=body, seconds=1)
        servers = {"starlette": base, "starlette-thread": base, "async": url, "sync": url}
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
        "owt runs `--in-process -q` and receives the adaptor's code in every request.",
        "",
        "| method | owt adaptor | baseline | baseline req/s | owt req/s | owt / baseline "
        "| CPU µs/req: baseline | owt |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method in ("GET", "POST"):
        for kind, side, why in PAIRS:
            owt = statistics.median(results[f"{method} {kind}"])
            owt_cpu = statistics.median(results[f"{method} {kind} cpu"])
            rate = statistics.median(results[f"{method} {side}"])
            base_cpu = statistics.median(results[f"{method} {side} cpu"])
            lines.append(
                f"| {method} | `{kind + ' def' if kind == 'async' else 'def'} run` "
                f"| {BASELINES[side]} ({why}) | {rate:,.0f} | {owt:,.0f} | {owt / rate:.2f}× "
                f"| {base_cpu:.0f} | {owt_cpu:.0f} |"
            )
    lines += [
        "",
        "owt runs `async def` adaptors on its host's loop thread and `def` ones on worker threads,",
        "never on the server's loop (a slow adaptor delays only its own response). Each has its",
        "like-for-like Starlette baseline: an async endpoint, and the same function run in",
        "Starlette's thread pool (`run_in_threadpool`, as Starlette runs a `def` endpoint).",
        "The third row of each method prices the thread hop itself against an endpoint that",
        "makes none. CPU µs/req is the server process's own CPU time per request.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        record("echo", text)


def _targets(base: str, url: str) -> dict[tuple[str, str], tuple[str, dict | None]]:
    """(method, side) → (URL, JSON body or None). Every POST body carries the code, as owt's do."""
    targets: dict[tuple[str, str], tuple[str, dict | None]] = {}
    for side, path in (("starlette", "/echo"), ("starlette-thread", "/thread/echo")):
        targets["GET", side] = (f"{base}{path}?name=owt", None)
        targets["POST", side] = (f"{base}{path}", _body(ECHO["sync"]))
    for kind, code in ECHO.items():
        query = urlencode({"code_b64": b64(code), "kwargs_b64": b64('{"name": "owt"}')})
        targets["GET", kind] = (f"{url}/echo?{query}", None)
        targets["POST", kind] = (f"{url}/echo", _body(code))
    return targets


def _body(code: str) -> dict:
    return {"code_b64": b64(code), "kwargs": {"name": "owt"}}


if __name__ == "__main__":
    main()
