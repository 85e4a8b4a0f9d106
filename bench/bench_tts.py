"""Time to the first audio event through owt vs espeak-ng alone on the same first sentence.

    .venv/bin/python bench/bench_tts.py [--runs 30] [--no-record]

espeak-ng alone: spawn ``espeak-ng --stdout`` on the first sentence and read its whole WAV —
the least any server could do before it has a sentence's audio. Through owt: POST the
owt.lib.tts adaptor (``code_b64``, warm after the first call) with a five-sentence text and
wait for the first ``data:`` event, parsed; also the same as a mounted endpoint (GET with
plain query parameters). Over espeak-ng alone that adds HTTP, splitting, WAV re-encoding,
base64 and the event's JSON; the like-for-like baseline does all of it without owt: the
same ``owt.lib.tts`` events from a bare Starlette ``StreamingResponse``
(bench/baseline_app.py ``/speak``). owt's own overhead is the difference to that.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import statistics
import subprocess
import sys
import time

import httpx
from common import ROOT, added, free_port, machine, options, owt_server, process_server, record

FIRST = "The quick brown fox jumps over the lazy dog."
TEXT = (
    f"{FIRST} It was a bright cold day in April. The clocks were striking thirteen. "
    "Nobody noticed. Then everyone did."
)
TTS_CODE = (ROOT / "owt" / "lib" / "tts.py").read_text()


def espeak_once(binary: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [binary, "--stdout", "-b", "1", "-v", "en", "-s", "175"],
        input=FIRST.encode(),
        capture_output=True,
        check=True,
    )
    elapsed = time.perf_counter() - start
    assert done.stdout[:4] == b"RIFF"
    return elapsed


def first_event(client: httpx.Client, method: str, url: str, **options: object) -> float:
    start = time.perf_counter()
    with client.stream(method, url, **options) as response:  # type: ignore[arg-type]
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: {"):
                event = json.loads(line[6:])
                base64.b64decode(event["sentence"])
                elapsed = time.perf_counter() - start
                assert event["text"] == FIRST
                return elapsed
    raise RuntimeError("no audio event")


def measure(url: str, baseline: str, runs: int) -> dict[str, list[float]]:
    """Each run times the four paths back to back, so a busy machine slows all alike."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        sys.exit("espeak-ng is not installed (apt-get install espeak-ng)")
    body = {"code_b64": base64.b64encode(TTS_CODE.encode()).decode(), "kwargs": {"text": TEXT}}
    query = {"text": TEXT}
    times: dict[str, list[float]] = {
        "alone": [],
        "starlette": [],
        "posted": [],
        "mounted": [],
        "cold": [],
    }
    with httpx.Client(timeout=60) as client:
        times["cold"].append(first_event(client, "POST", url + "/speak", json=body))
        first_event(client, "GET", url + "/tts", params=query)
        first_event(client, "GET", baseline + "/speak", params=query)
        for _ in range(runs):
            times["alone"].append(espeak_once(binary))
            times["starlette"].append(first_event(client, "GET", baseline + "/speak", params=query))
            times["posted"].append(first_event(client, "POST", url + "/speak", json=body))
            times["mounted"].append(first_event(client, "GET", url + "/tts", params=query))
    return times


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"{statistics.median(values) * 1000:.1f} ms (p90 {p90 * 1000:.1f})"


def parser() -> argparse.ArgumentParser:
    # A run times the four paths back to back: --runs is this bench's --rounds.
    parser = options(__doc__, seconds=None, rounds=30, not_timed="it counts --runs")
    parser.add_argument(
        "--runs",
        dest="rounds",
        type=int,
        default=argparse.SUPPRESS,
        help="--rounds, by its name here",
    )
    return parser


def main() -> None:
    args = parser().parse_args()

    port = free_port()
    baseline_cmd = [sys.executable, str(ROOT / "bench" / "baseline_app.py"), str(port)]
    with (
        owt_server("--mount", "tts=owt/lib/tts.py") as url,
        process_server(baseline_cmd, port) as baseline,
    ):
        times = measure(url, baseline, args.rounds)
    alone, starlette, posted, mounted = (
        times[k] for k in ("alone", "starlette", "posted", "mounted")
    )
    (cold,) = times["cold"]
    median = statistics.median
    overhead = median(posted) - median(alone)
    own = median(posted) - median(starlette)
    own_mounted = median(mounted) - median(starlette)
    lines = [
        "## Text to speech: time to the first audio event",
        "",
        f"`python bench/bench_tts.py --runs {args.rounds}` — {machine()}, "
        f"espeak-ng 22050 Hz, first sentence {FIRST!r} of five, median of {args.rounds}.",
        "",
        "| path | time to the first sentence's audio |",
        "|---|---|",
        f"| espeak-ng alone (spawn, whole WAV) | {ms(alone)} |",
        f"| bare Starlette, the same events (owt.lib.tts, no owt) | {ms(starlette)} |",
        f"| owt, code_b64 POST, warm | {ms(posted)} |",
        f"| owt, mounted endpoint GET | {ms(mounted)} |",
        f"| owt, first call (compile) | {cold * 1000:.1f} ms |",
        "",
        f"Over espeak-ng alone: +{overhead * 1000:.1f} ms (median, warm). Over the same "
        f"events from bare Starlette, owt {added(own * 1000, '--runs')} as code in the "
        f"request, and {added(own_mounted * 1000, '--runs')} as a mounted endpoint.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        record("tts", text)


if __name__ == "__main__":
    main()
