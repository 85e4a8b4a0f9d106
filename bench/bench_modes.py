"""Warm echo in owt's two modes beside bare Starlette and LitServe, in one run.

    python bench/bench_modes.py [--seconds 5] [--rounds 3] [--connections 16] [--no-record]

owt receives the adaptor's code in every request (POST JSON), once in its default mode
(the call runs in a worker process) and with ``--in-process`` (threads inside the
server), also pinned to one core with ``taskset -c 0`` where it is installed; bare
Starlette (bench/baseline_app.py) and LitServe (bench/litserve_app.py, its echo API on
``/predict``; ``pip install litserve`` first, else it is left out) answer the same echo.
Interleaved rounds, medians; the ratios go to bench/RESULTS.md (unless
``--no-record``: a trial run).
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

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

ECHO = 'def run(name):\n    return f"Hello, {name}!"\n'
BODY = {"code_b64": b64(ECHO), "kwargs": {"name": "owt"}}


@contextmanager
def servers(stack: ExitStack) -> Iterator[dict[str, str]]:
    """Every side that can run here, by name: its URL to load."""
    urls = {
        "owt (worker process)": stack.enter_context(owt_server("--timeout", "30")),
        "owt --in-process": stack.enter_context(owt_server("--timeout", "30", "--in-process")),
    }
    if shutil.which("taskset"):  # its threads on one core: the GIL changes hands there
        pinned = owt_server("--timeout", "30", "--in-process", prefix=("taskset", "-c", "0"))
        urls["owt --in-process, on one core (`taskset -c 0`)"] = stack.enter_context(pinned)
    port = free_port()
    base = stack.enter_context(
        process_server([sys.executable, "bench/baseline_app.py", str(port)], port)
    )
    urls["bare Starlette"] = base + "/"
    if importlib.util.find_spec("litserve") is not None:
        port = free_port()
        lit = stack.enter_context(
            process_server([sys.executable, "bench/litserve_app.py", str(port)], port, "/health")
        )
        urls["LitServe"] = lit + "/predict"
    else:
        print("LitServe left out: pip install litserve", file=sys.stderr)
    yield urls


def parser() -> argparse.ArgumentParser:
    parser = options(__doc__, seconds=5, rounds=3)
    parser.add_argument("--connections", type=int, default=16)
    return parser


def main() -> None:
    args = parser().parse_args()
    results: dict[str, list[float]] = {}
    with ExitStack() as stack, servers(stack) as urls:
        for url in urls.values():  # warm-up: one answer (owt compiles the code), then load
            answered(url, body=BODY)
            load(url, body=BODY, seconds=1, connections=args.connections)
        for _ in range(args.rounds):
            for name, url in urls.items():
                rate = load(url, body=BODY, seconds=args.seconds, connections=args.connections)
                results.setdefault(name, []).append(rate)
    rates = {name: statistics.median(values) for name, values in results.items()}
    text = report(rates, args)
    print(text)
    if not args.no_record:
        record("bench_modes", text)


def report(rates: dict[str, float], args: argparse.Namespace) -> str:
    base = rates["bare Starlette"]
    lit = rates.get("LitServe")
    lines = [
        "## Warm echo: owt's modes vs bare Starlette and LitServe",
        "",
        f"`python bench/bench_modes.py --seconds {args.seconds:g} --rounds {args.rounds}` — "
        f"{machine()}, load by {load_tool()}, {args.connections} connections, POST JSON; "
        "owt receives the adaptor's code in every request. Medians of interleaved rounds.",
        "",
        "| server | req/s | / bare Starlette | / LitServe |",
        "|---|---|---|---|",
    ]
    for name, rate in rates.items():
        vs_lit = f"{rate / lit:.2f}×" if lit else "—"
        lines.append(f"| {name} | {rate:,.0f} | {rate / base:.2f}× | {vs_lit} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
