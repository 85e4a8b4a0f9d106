"""The added cost of a warm call on a Ray actor over a worker process, with Ray's own anchors.

    .venv/bin/python bench/bench_ray.py [--calls 300] [--rounds 7] [--no-serve] [--no-record]
        [--loop uvloop|asyncio]

A local Ray cluster (2 CPUs, no dashboard, listening on loopback only) is started and
stopped here. The process and Ray executors are driven directly (no HTTP), one call at a
time, with the same warm code, as in bench_process.py, taking turns round by round; the
difference is what a Ray actor adds over a worker process. Anchors:

- a bare Ray actor method round trip (``await actor.echo.remote(name)``): Ray's floor, on a
  threaded actor like owt's and on an async actor;
- Ray Serve's round trip for the same echo through a ``DeploymentHandle``. Ray Serve's
  dependencies (FastAPI and more) do not go into owt's virtualenv: they live in one made once
  under ``~/.cache/owt/bench-ray-serve`` with the same Ray version (``--no-serve`` skips it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import added, machine, options, pids_with, record, started, stop_all

# Ray's token auth is off for these throwaway clusters, so they listen on loopback only:
# Ray keeps a node to 127.0.0.1 only where it believes it forms no multi-node cluster
# (owt's own local cluster does the same: owt/executors/ray/cluster.py, local_options).
RAY_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
}
SERVE_VENV = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "owt"
SERVE_VENV = SERVE_VENV / "bench-ray-serve"


async def interleaved(
    steps: dict[str, Callable[[], Awaitable[object]]], calls: int, rounds: int
) -> dict[str, float]:
    """Per step, the median over ``rounds`` of the mean seconds per awaited call.

    The steps take turns round by round, so load from elsewhere on the machine falls on all
    of them alike.
    """
    for step in steps.values():
        await step()  # warm: compile once, start pools
    results: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(calls):
                await step()
            results[name].append((time.perf_counter() - start) / calls)
    return {name: statistics.median(times) for name, times in results.items()}


async def executors(calls: int, rounds: int) -> dict[str, float]:
    """Seconds per call: process/ray for ``plain`` and ``stream``, and the ``bare`` actor."""
    import ray
    from bench_process import CODE, STREAM, make_call

    from owt.executors.base import Executor
    from owt.executors.process.executor import ProcessExecutor
    from owt.executors.ray.cluster import RayCluster
    from owt.executors.ray.executor import RayExecutor

    process = ProcessExecutor(workers=1)
    actors = RayExecutor(workers=1, cluster=RayCluster(None, num_cpus=2))
    await process.start()
    await actors.start()
    try:

        def runner(
            executor: Executor, code: str, **kwargs: object
        ) -> Callable[[], Awaitable[None]]:
            call = make_call(code, **kwargs)

            async def step() -> None:
                reply = await executor.submit(call)
                assert reply.status == 200, reply.body
                if reply.stream is not None:
                    async for _chunk in reply.stream:  # type: ignore[union-attr]
                        pass

            return step

        class Echo:  # a threaded actor, as owt's are
            def echo(self, name: str) -> str:
                return f"Hello, {name}!"

        class AsyncEcho:
            async def echo(self, name: str) -> str:
                return f"Hello, {name}!"

        echo = ray.remote(Echo).options(max_concurrency=36).remote()  # type: ignore[attr-defined]
        async_echo = ray.remote(AsyncEcho).remote()  # type: ignore[attr-defined]

        async def bare() -> None:
            await echo.echo.remote("owt")

        async def bare_async() -> None:
            await async_echo.echo.remote("owt")

        numbers: dict[str, float] = {}
        for label, code, kwargs in (
            ("plain", CODE, {"name": "owt"}),
            ("stream", STREAM, {"n": 10}),
        ):
            steps = {
                "process": runner(process, code, **kwargs),
                "ray": runner(actors, code, **kwargs),
            }
            if label == "plain":
                steps["bare"] = bare
                steps["bare async"] = bare_async
            for name, seconds in (await interleaved(steps, calls, rounds)).items():
                numbers[f"{label} {name}"] = seconds
        return numbers
    finally:
        await actors.aclose()
        await process.aclose()


SERVE_SCRIPT = """
import asyncio, statistics, sys, time
import ray
from ray import serve

@serve.deployment
class Echo:
    async def __call__(self, name):
        return f"Hello, {name}!"

async def main(calls, rounds):
    serve.start(proxy_location="Disabled")  # calls go by handle: no HTTP proxy to listen
    handle = serve.run(Echo.bind(), logging_config={"log_level": "WARNING"})
    await handle.remote("owt")
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            await handle.remote("owt")
        results.append((time.perf_counter() - start) / calls)
    print(f"SERVE_SECONDS={statistics.median(results)}", flush=True)

ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
try:
    if ray.util.get_node_ip_address() != "127.0.0.1":
        sys.exit("the Ray Serve anchor's cluster did not keep to loopback: stopped")
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
finally:
    serve.shutdown()
    ray.shutdown()
"""


def serve_anchor(calls: int, rounds: int) -> float:
    """Seconds per Ray Serve handle call, run in a virtualenv that has Ray Serve (in a
    session of its own: whatever of its Ray cluster is left after it is stopped)."""
    import ray

    python = SERVE_VENV / "bin" / "python"
    if not python.exists():
        print(f"(making {SERVE_VENV} with ray[serve]=={ray.__version__}, once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(SERVE_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"ray[serve]=={ray.__version__}"],
            check=True,
        )
    cmd = [str(python), "-c", SERVE_SCRIPT, str(calls), str(rounds)]
    with started(cmd, stdout=subprocess.PIPE, stderr=None) as proc:
        out, _ = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"the Ray Serve anchor failed (exit status {proc.returncode})")
    line = next(line for line in out.splitlines() if line.startswith("SERVE_SECONDS="))
    return float(line.split("=")[1])


def report(numbers: dict[str, float], args: argparse.Namespace) -> str:
    ms = {name: seconds * 1e3 for name, seconds in numbers.items()}
    rows = [
        f"| {label} | {ms[f'{key} process']:.3f} | {ms[f'{key} ray']:.3f} | "
        f"{ms[f'{key} ray'] - ms[f'{key} process']:+.3f} |"
        for label, key in (("plain call", "plain"), ("stream of 10 chunks", "stream"))
    ]
    anchors = [
        "| bare Ray actor call, threaded actor as owt's (`await actor.echo.remote(name)`) "
        f"| {ms['plain bare']:.3f} |",
        f"| bare Ray actor call, async actor | {ms['plain bare async']:.3f} |",
    ]
    if "serve" in ms:
        anchors.append(f"| Ray Serve `DeploymentHandle` call, same echo | {ms['serve']:.3f} |")
    return "\n".join(
        [
            "## A warm call on a Ray actor vs a worker process",
            "",
            f"`python bench/bench_ray.py --calls {args.calls} --loop {args.loop}` — "
            f"{machine()}; a local Ray cluster of 2 CPUs; executors driven directly (no HTTP), "
            f"one call at a time, taking turns, median of {args.rounds} rounds. Goal: under "
            f"1.5 ms added per call. owt {added(ms['plain ray'] - ms['plain bare'], '--calls', 3)}"
            " to Ray's own actor round trip.",
            "",
            "| call | worker process ms | Ray actor ms | added ms/call |",
            "|---|---|---|---|",
            *rows,
            "",
            "| anchor | ms |",
            "|---|---|",
            *anchors,
        ]
    )


def parser() -> argparse.ArgumentParser:
    parser = options(__doc__, seconds=None, rounds=7, not_timed="it counts --calls")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--no-serve", action="store_true", help="skip the Ray Serve anchor")
    return parser


def main() -> None:
    args = parser().parse_args()
    temp = tempfile.mkdtemp(prefix="owt-ray-bench-", dir="/tmp")  # Ray's sessions, removed
    os.environ.update({**RAY_ENV, "RAY_TMPDIR": temp})  # for this process and the anchor's
    try:
        if args.loop == "uvloop":
            import uvloop

            numbers = uvloop.run(executors(args.calls, args.rounds))
        else:
            numbers = asyncio.run(executors(args.calls, args.rounds))
        if not args.no_serve:
            numbers["serve"] = serve_anchor(args.calls, args.rounds)
    finally:  # every process of this run's clusters carries its RAY_TMPDIR
        stop_all(lambda: pids_with("RAY_TMPDIR", temp), "the benchmark's Ray clusters")
        shutil.rmtree(temp, ignore_errors=True)
    text = report(numbers, args)
    print(text)
    if not args.no_record:
        record("ray", text)


if __name__ == "__main__":
    main()
