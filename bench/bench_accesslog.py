"""What the access log costs: warm echo with the log on (the default) vs off (``-q``).

    python bench/bench_accesslog.py [--seconds 5] [--rounds 3] [--connections 16] [--no-record]

Both servers write their log to a file (a real sink, not /dev/null), and are loaded in
interleaved rounds at 16 connections (wrk, else a bounded Python client). The request ids,
metrics and ``X-Request-Id`` header are there in both: only the access line differs.
Both pairs run: owt's default mode (calls in a worker process) and ``--in-process``, where a
call costs the server less and the log's share is larger.
Writes the ratio to bench/RESULTS.md (unless ``--no-record``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from common import (
    ServerURL,
    answered,
    b64,
    load,
    load_tool,
    machine,
    options,
    owt_server,
    record,
)

ECHO = 'def run(name):\n    return f"Hello, {name}!"\n'


@contextmanager
def logging_server(log_path: str, *args: str) -> Iterator[ServerURL]:
    with open(log_path, "w") as log, owt_server(*args, stderr=log) as url:
        yield url


def parser() -> argparse.ArgumentParser:
    parser = options(__doc__, seconds=5, rounds=3)
    parser.add_argument("--connections", type=int, default=16)
    return parser


def main() -> None:
    args = parser().parse_args()
    body = {"code_b64": b64(ECHO), "kwargs": {"name": "owt"}}
    rates: dict[tuple[str, str], list[float]] = {}
    cpus: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        servers = {
            (mode, log): stack.enter_context(
                logging_server(f"{tmp}/{mode}-{log}.log", "--timeout", "30", *flags, *quiet)
            )
            for mode, flags in (("default", ()), ("--in-process", ("--in-process",)))
            for log, quiet in (("on", ()), ("off", ("-q",)))
        }
        for url in servers.values():  # warm-up: one answer (compiled once), then load
            answered(url + "/echo", body=body)
            load(url + "/echo", body=body, seconds=1)
        for _ in range(args.rounds):
            for name, url in servers.items():
                cpu = url.cpu_seconds()
                rate = load(
                    url + "/echo", body=body, seconds=args.seconds, connections=args.connections
                )
                used = url.cpu_seconds() - cpu
                rates.setdefault(name, []).append(rate)
                cpus.setdefault(name, []).append(used / (rate * args.seconds) * 1e6)
    rate = {name: statistics.median(values) for name, values in rates.items()}
    cpu = {name: statistics.median(values) for name, values in cpus.items()}
    lines = [
        "## Access log cost",
        "",
        f"`python bench/bench_accesslog.py --seconds {args.seconds:g} --rounds "
        f"{args.rounds}` — {machine()}, load by {load_tool()}, {args.connections} "
        "connections, warm `def run` echo by POST, log written to a file; medians of "
        "interleaved rounds; CPU µs/req is the server process's own (where the log is written).",
        "",
        "| owt mode | off (`-q`) req/s | on (default) req/s | on / off | CPU µs/req: off | on |",
        "|---|---|---|---|---|---|",
    ]
    for mode in ("default", "--in-process"):
        on, off = rate[mode, "on"], rate[mode, "off"]
        lines.append(
            f"| {mode} | {off:,.0f} | {on:,.0f} | {on / off:.2f}× "
            f"| {cpu[mode, 'off']:.0f} | {cpu[mode, 'on']:.0f} |"
        )
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        record("accesslog", text)


if __name__ == "__main__":
    main()
