"""Big payloads: a 16 MiB POST echoed, a 256 MiB upload hashed as it arrives, a 256 MiB
stream (sync and async generator), vs Starlette.

    python bench/bench_payload.py [--rounds 5] [--no-record]

owt runs with ``--in-process`` and in its default mode (a worker process); bare Starlette
(bench/baseline_app.py) echoes the body with ``Response(await request.body())``, streams
with a ``StreamingResponse`` of 64 KiB chunks, as the adaptors yield, and hashes an upload
with ``async for chunk in request.stream()`` (owt's adaptor: ``request.stream()``). curl is
the client (``-o /dev/null``). Each round times one request per side, interleaved; medians.
Besides the wall time, the server process's own CPU time per request.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

from common import ServerURL, b64, free_port, machine, options, owt_server, process_server, record

ECHO = "def run(request):\n    return request.data\n"
HASH = (
    "import hashlib\ndef run(request):\n    digest = hashlib.sha256()\n"
    "    for chunk in request.stream():\n        digest.update(chunk)\n"
    "    return digest.hexdigest()\n"
)
STREAMS = {
    "sync": "def run(mib: int):\n    chunk = b'x' * 65536\n"
    "    for _ in range(mib * 16):\n        yield chunk\n",
    "async": "async def run(mib: int):\n    chunk = b'x' * 65536\n"
    "    for _ in range(mib * 16):\n        yield chunk\n",
}
BODY_MIB = 16
STREAM_MIB = 256
UPLOAD_MIB = 256


def curl(url: str, body: Path | None) -> float:
    """Seconds for one request, its response read and dropped."""
    cmd = ["curl", "-sf", "-o", "/dev/null", "-w", "%{time_total}", url]
    if body is not None:
        cmd += ["-H", "Content-Type: application/octet-stream", "--data-binary", f"@{body}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    return float(out.stdout)


def parser() -> argparse.ArgumentParser:
    return options(__doc__, seconds=None, rounds=5, not_timed="it times one request a round")


def main() -> None:
    args = parser().parse_args()
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        body = Path(tmp) / "body"
        body.write_bytes(bytes(range(256)) * (BODY_MIB * 4096))
        upload = Path(tmp) / "upload"
        with upload.open("wb") as file:
            for _ in range(UPLOAD_MIB):
                file.write(bytes(range(256)) * 4096)
        port = free_port()
        base = stack.enter_context(
            process_server([sys.executable, "bench/baseline_app.py", str(port)], port)
        )
        sides: dict[str, ServerURL] = {"bare Starlette": base}
        for mode, flags in (("owt --in-process", ("--in-process",)), ("owt (default)", ())):
            limit = ("--max-body-bytes", str(2 * UPLOAD_MIB * 1024 * 1024))
            sides[mode] = stack.enter_context(owt_server("--timeout", "60", *limit, *flags))
        cases = {}
        for name, url in sides.items():
            if name == "bare Starlette":
                cases[name, "echo"] = (url, f"{url}/payload/echo", body)
                cases[name, "upload"] = (url, f"{url}/payload/hash", upload)
                for kind in STREAMS:
                    cases[name, kind] = (url, f"{url}/payload/stream?mib={STREAM_MIB}", None)
                continue
            query = urlencode({"code_b64": b64(ECHO)})
            cases[name, "echo"] = (url, f"{url}/echo?{query}", body)
            cases[name, "upload"] = (
                url,
                f"{url}/hash?{urlencode({'code_b64': b64(HASH)})}",
                upload,
            )
            for kind, code in STREAMS.items():
                args_b64 = b64(f'{{"mib": {STREAM_MIB}}}')
                query = urlencode({"code_b64": b64(code), "kwargs_b64": args_b64})
                cases[name, kind] = (url, f"{url}/stream?{query}", None)
        for _, target, data in cases.values():  # warm-up: compile once
            curl(target, data)
        for _ in range(args.rounds):
            for key, (server, target, data) in cases.items():
                cpu = server.cpu_seconds()
                started = time.perf_counter()
                curl(target, data)
                wall = time.perf_counter() - started
                times.setdefault(key, []).append((wall, server.cpu_seconds() - cpu))
    text = report(times, args)
    print(text)
    if not args.no_record:
        record("payload", text)


CASES = {
    "echo": f"{BODY_MIB} MiB POST echoed",
    "upload": f"{UPLOAD_MIB} MiB upload hashed as it arrives",
    "sync": f"{STREAM_MIB} MiB stream, `def` generator",
    "async": f"{STREAM_MIB} MiB stream, `async def` generator",
}


def report(times: dict, args: argparse.Namespace) -> str:
    lines = [
        "## Big payloads: owt vs bare Starlette",
        "",
        f"`python bench/bench_payload.py --rounds {args.rounds}` — {machine()}, curl to "
        "/dev/null, one request at a time, interleaved rounds, medians. Throughput is "
        "MiB / wall second; CPU is the server process's own (a worker's is not counted).",
        "",
        "| payload | server | MiB/s | / Starlette | server CPU ms/request |",
        "|---|---|---|---|---|",
    ]
    for case, title in CASES.items():
        size = {"echo": BODY_MIB, "upload": UPLOAD_MIB}.get(case, STREAM_MIB)
        base = size / statistics.median(w for w, _ in times["bare Starlette", case])
        for (name, kind), runs in times.items():
            if kind != case:
                continue
            rate = size / statistics.median(w for w, _ in runs)
            cpu = statistics.median(c for _, c in runs) * 1000
            lines.append(f"| {title} | {name} | {rate:,.0f} | {rate / base:.2f}× | {cpu:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
