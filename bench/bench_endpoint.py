"""A mounted endpoint vs the same code sent in every request vs bare Starlette.

    python bench/bench_endpoint.py [--seconds 5] [--rounds 3] [--connections 16] [--no-record]

One adaptor file, ``def run(name: str) -> str``, is mounted (``--mount hello=FILE``) and
called as ``GET /hello?name=owt``; the same code is also sent in every request
(``GET /echo?code_b64=...&kwargs_b64=...``). Both run in owt's default mode (a worker process)
and with ``--in-process``; bare Starlette (bench/baseline_app.py) answers the same greeting.
Interleaved rounds at 16 connections (wrk, else a bounded Python client), medians; besides
requests per second, the server process's own CPU time per request (in the default mode the
worker's CPU is not counted: the server's is what an endpoint adds). Writes the ratios to
bench/RESULTS.md (unless ``--no-record``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
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

HELLO = 'def run(name: str) -> str:\n    return f"Hello, {name}!"\n'


def parser() -> argparse.ArgumentParser:
    parser = options(__doc__, seconds=5, rounds=3)
    parser.add_argument("--connections", type=int, default=16)
    return parser


def main() -> None:
    args = parser().parse_args()
    kw = {"seconds": args.seconds, "connections": args.connections}
    query = urlencode({"code_b64": b64(HELLO), "kwargs_b64": b64('{"name": "owt"}')})
    results: dict[str, list[float]] = {}
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        hello = Path(tmp) / "hello.py"
        hello.write_text(HELLO)
        mount = ("--timeout", "30", "--mount", f"hello={hello}")
        port = free_port()
        base = stack.enter_context(
            process_server([sys.executable, "bench/baseline_app.py", str(port)], port)
        )
        servers = {
            "default": stack.enter_context(owt_server(*mount)),
            "--in-process": stack.enter_context(owt_server(*mount, "--in-process")),
        }
        targets = {("bare Starlette", ""): (base, f"{base}/hello?name=owt")}
        for mode, url in servers.items():
            targets["mounted endpoint", mode] = (url, f"{url}/hello?name=owt")
            targets["code in the request", mode] = (url, f"{url}/echo?{query}")
        for _, target in targets.values():  # warm-up: one answer (compiled once), then load
            answered(target)
            load(target, seconds=1, connections=args.connections)
        for _ in range(args.rounds):
            for key, (server, target) in targets.items():
                cpu = server.cpu_seconds()
                rate = load(target, **kw)
                used = server.cpu_seconds() - cpu
                results.setdefault(f"{key} rate", []).append(rate)
                results.setdefault(f"{key} cpu", []).append(used / (rate * args.seconds) * 1e6)
    text = report(results, targets, args)
    print(text)
    if not args.no_record:
        record("endpoint", text)


def report(results: dict, targets: dict, args: argparse.Namespace) -> str:
    base = statistics.median(results[f"{('bare Starlette', '')} rate"])
    lines = [
        "## A mounted endpoint vs code in the request vs bare Starlette",
        "",
        f"`python bench/bench_endpoint.py --seconds {args.seconds:g} --rounds {args.rounds}` — "
        f"{machine()}, load by {load_tool()}, {args.connections} connections, GET, "
        "`def run(name: str) -> str`; medians of interleaved rounds. CPU µs/req is the "
        "server process's own (not a worker's).",
        "",
        "| request | owt mode | req/s | / bare Starlette | server CPU µs/req |",
        "|---|---|---|---|---|",
    ]
    for key in targets:
        rate = statistics.median(results[f"{key} rate"])
        cpu = statistics.median(results[f"{key} cpu"])
        lines.append(
            f"| {key[0]} | {key[1] or '—'} | {rate:,.0f} | {rate / base:.2f}× | {cpu:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
