"""Soak: a mixed workload at 64 connections for minutes; throughput, memory and errors over time.

    .venv/bin/python bench/soak.py [--minutes 10] [--connections 64] [--no-record]

One ``owt serve`` (default mode, a mounted endpoint, a cache) takes a mix of the calls users
make — a warm echo with the code in the request, a POST with JSON arguments, a stream, an
SSE stream, a cached call, a mounted endpoint, a call by code_sha256 — plus planned errors
(bad base64 400, compile error 422, adaptor error 500, timeout 504). Every 10 s it records
requests/s and the resident memory of the server and of each of its worker processes.
Writes ``bench/soak.png`` (throughput and RSS over time) and a section of RESULTS.md with
the errors by kind (any unplanned one is a failure) and the RSS growth after the warm-up
(its first 30 s; a shorter run says that it has no figure after it). With ``--no-record``
the plot goes to a temp file of its own, whose path it prints.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import importlib.util
import itertools
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from common import ROOT, machine, owt_server, record

WINDOW = 10.0
WARM_UP_WINDOWS = 3
ECHO = "def run(name='owt'): return name"
STREAM = "def run(n: int = 20):\n    for i in range(n):\n        yield f'{i}\\n'"
SSE = "def run():\n    return sse(f'event {i}' for i in range(5))"
ERROR = "def run():\n    raise ValueError('planned')"
SLOW = "import time\ndef run():\n    time.sleep(2)"
MOUNTED = "def run(name: str = 'owt', times: int = 1) -> str:\n    return name * times\n"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def mix(url: str) -> list[tuple[str, str, dict | None, dict | None, int]]:
    """(kind, url, query, json body, expected status) of each call of the workload."""
    sha = hashlib.sha256(ECHO.encode()).hexdigest()
    get = lambda code, **q: (url + "/", {"code_b64": b64(code), **q}, None)  # noqa: E731
    return [
        ("echo", *get(ECHO), 200),
        ("echo", *get(ECHO, kwargs_b64=b64(json.dumps({"name": "soak"}))), 200),
        ("post", url + "/post", None, {"code_b64": b64(ECHO), "kwargs": {"name": "x"}}, 200),
        ("stream", *get(STREAM), 200),
        ("sse", *get(SSE), 200),
        ("cached", *get(ECHO, use_cache="1", cache_kwargs="1"), 200),
        ("mounted", url + "/hello", {"name": "owt", "times": "2"}, None, 200),
        ("by_hash", url + "/", {"code_sha256": sha}, None, 200),
        ("bad_base64", url + "/", {"code_b64": "!!!"}, None, 400),
        ("compile_error", *get("def run(:"), 422),
        ("adaptor_error", *get(ERROR), 500),
    ]


def rss_kib(pid: int) -> dict[int, int]:
    """Resident memory of a process and of all its descendants, by pid."""
    found: dict[int, int] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            found[p] = int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return found


async def drive(url: str, pid: int, seconds: float, connections: int) -> dict:
    calls = mix(url)
    timeouts = 0
    done: Counter[str] = Counter()
    unplanned: Counter[str] = Counter()
    windows: list[dict] = []
    stop = time.monotonic() + seconds
    order = itertools.cycle(range(len(calls)))

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal timeouts
        while time.monotonic() < stop:
            i = next(order)
            kind, target, query, body, expected = calls[i]
            try:
                if body is None:
                    r = await client.get(target, params=query)
                else:
                    r = await client.post(target, json=body)
                done[kind] += 1
                if r.status_code != expected:
                    unplanned[f"{kind}: {r.status_code}"] += 1
            except httpx.HTTPError as exc:
                unplanned[f"{kind}: {type(exc).__name__}"] += 1

    async def slow(client: httpx.AsyncClient) -> None:  # one planned 504 every few seconds
        nonlocal timeouts
        while time.monotonic() < stop:
            r = await client.get(url + "/", params={"code_b64": b64(SLOW), "timeout": "0.5"})
            if r.status_code == 504:
                timeouts += 1
            else:
                unplanned[f"timeout: {r.status_code}"] += 1
            await asyncio.sleep(5)

    async def sample() -> None:
        last, started = 0, time.monotonic()
        while time.monotonic() < stop:
            await asyncio.sleep(WINDOW)
            total = sum(done.values())
            memory = rss_kib(pid)
            windows.append(
                {
                    "t": round(time.monotonic() - started),
                    "rps": (total - last) / WINDOW,
                    "server_mib": memory.get(pid, 0) / 1024,
                    "workers_mib": sum(v for k, v in memory.items() if k != pid) / 1024,
                }
            )
            last = total

    limits = httpx.Limits(max_connections=connections + 1)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await asyncio.gather(*(one(client) for _ in range(connections)), slow(client), sample())
    return {"done": done, "unplanned": unplanned, "timeouts": timeouts, "windows": windows}


def plot(windows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [w["t"] for w in windows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    top.plot(t, [w["rps"] for w in windows])
    top.set_ylabel("requests/s")
    bottom.plot(t, [w["server_mib"] for w in windows], label="server")
    bottom.plot(t, [w["workers_mib"] for w in windows], label="workers")
    bottom.set_ylabel("RSS (MiB)")
    bottom.set_xlabel("seconds")
    bottom.legend()
    fig.suptitle("owt soak: mixed workload")
    fig.savefig(path, dpi=80)


def steady_state(windows: list[dict]) -> list[str]:
    """Throughput and memory after the warm-up windows, or why the run cannot tell."""
    if not windows:
        return [f"- no {WINDOW:g} s window completed: the run was too short to measure"]
    steady = windows[WARM_UP_WINDOWS:]
    seen = steady or windows
    first, last = seen[0], seen[-1]
    rps = f"min {min(w['rps'] for w in seen):,.0f}, max {max(w['rps'] for w in seen):,.0f}"
    if not steady:
        warm_up = WARM_UP_WINDOWS * WINDOW
        return [
            f"- requests/s per {WINDOW:g} s window, during the warm-up: {rps}",
            f"- the warm-up ({warm_up:g} s) did not finish: no RSS after it. During it, server "
            f"{first['server_mib']:.1f} → {last['server_mib']:.1f} MiB, workers "
            f"{first['workers_mib']:.1f} → {last['workers_mib']:.1f} MiB; run longer "
            f"than {warm_up / 60:g} min for the steady state",
        ]
    return [
        f"- requests/s per {WINDOW:g} s window: {rps}",
        f"- server RSS after warm-up: {first['server_mib']:.1f} → {last['server_mib']:.1f} "
        f"MiB ({last['server_mib'] - first['server_mib']:+.1f}); workers: "
        f"{first['workers_mib']:.1f} → {last['workers_mib']:.1f} MiB",
    ]


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--no-record", action="store_true", help="print only (the plot goes to a temp file)"
    )
    return parser


def main() -> None:
    args = parser().parse_args()
    if importlib.util.find_spec("matplotlib") is None:  # say so now, not after the run
        sys.exit("soak.py plots with matplotlib: pip install -e '.[bench]' (make soak does)")
    with tempfile.TemporaryDirectory() as tmp:
        mounted = Path(tmp) / "hello.py"
        mounted.write_text(MOUNTED)
        with owt_server("--mount", f"hello={mounted}", "--timeout", "30") as url:
            result = asyncio.run(drive(url, url.pid, args.minutes * 60, args.connections))
    windows = result["windows"]
    png = ROOT / "bench" / "soak.png"
    if windows and args.no_record:  # the recorded plot stays: this run's gets a file of its own
        with tempfile.NamedTemporaryFile(prefix="owt-soak-", suffix=".png", delete=False) as f:
            png = Path(f.name)
    if windows:
        plot(windows, png)
    errors = dict(result["unplanned"]) or "none"
    lines = [
        "## Soak: mixed workload",
        "",
        f"`python bench/soak.py --minutes {args.minutes:g} --connections {args.connections}` — "
        f"{machine()}. {sum(result['done'].values()):,} calls "
        f"({', '.join(f'{k} {v:,}' for k, v in sorted(result['done'].items()))}); "
        f"planned timeouts answered 504: {result['timeouts']}.",
        "",
        f"- unplanned errors: {errors}",
        *steady_state(windows),
    ]
    if windows:
        lines += ["", f"![soak]({png.name if png.parent == ROOT / 'bench' else png})"]
    text = "\n".join(lines)
    print(text)
    if windows and args.no_record:
        print(f"\nplot: {png}")
    if not args.no_record:
        record("soak", text)
    if result["unplanned"]:
        raise SystemExit(1)


if __name__ == "__main__":
    os.chdir(ROOT / "bench")
    main()
