"""The baseline: a bare Starlette echo on the same uvicorn settings as owt.

    python bench/baseline_app.py PORT

The benches start it on a free port (bench/common.py, ``process_server``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route


async def echo(request: Request) -> PlainTextResponse:
    if request.method == "POST":
        name = json.loads(await request.body())["kwargs"]["name"]
    else:
        name = request.query_params.get("name", "world")
    return PlainTextResponse(f"Hello, {name}!")


def greet(name: str) -> str:
    return f"Hello, {name}!"


async def echo_in_thread(request: Request) -> PlainTextResponse:
    """The same echo, its function run off the event loop as owt runs sync adaptors."""
    if request.method == "POST":
        name = json.loads(await request.body())["kwargs"]["name"]
    else:
        name = request.query_params.get("name", "world")
    return PlainTextResponse(await run_in_threadpool(greet, name))


async def body_echo(request: Request) -> Response:
    """The request's body back (bench/bench_payload.py)."""
    return Response(await request.body(), media_type="application/octet-stream")


async def body_hash(request: Request) -> Response:
    """The sha256 of the request's body, read as it arrives (bench/bench_payload.py)."""
    digest = hashlib.sha256()
    async for chunk in request.stream():
        digest.update(chunk)
    return Response(digest.hexdigest())


async def stream(request: Request) -> StreamingResponse:
    """``mib`` MiB in 64 KiB chunks (bench/bench_payload.py)."""
    count = int(request.query_params.get("mib", "1")) * 16
    chunk = b"x" * 65536

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(count):
            yield chunk

    return StreamingResponse(chunks(), media_type="application/octet-stream")


async def speak(request: Request) -> StreamingResponse:
    """owt.lib.tts's events for ``text`` behind bare Starlette: the same work as the
    adaptor through owt (splitting, espeak-ng, WAV, base64, JSON), no owt (bench_tts.py)."""
    from owt.lib.tts import run

    reply = run(request.query_params["text"])
    return StreamingResponse(reply.body, media_type="text/event-stream")


app = Starlette(
    routes=[
        Route("/speak", speak, methods=["GET"]),
        Route("/payload/echo", body_echo, methods=["POST"]),
        Route("/payload/stream", stream, methods=["GET"]),
        Route("/payload/hash", body_hash, methods=["POST"]),
        Route("/thread/{path:path}", echo_in_thread, methods=["GET", "POST"]),
        Route("/{path:path}", echo, methods=["GET", "POST"]),
    ]
)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("port", metavar="PORT", type=int, help="on 127.0.0.1")
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=parser.parse_args().port,
        http="httptools",
        loop="auto",
        log_level="warning",
        access_log=False,
        server_header=False,
    )
