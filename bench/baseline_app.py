"""The baseline: a bare Starlette echo on the same uvicorn settings as owt.

python bench/baseline_app.py PORT
"""

from __future__ import annotations

import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse
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


app = Starlette(
    routes=[
        Route("/thread/{path:path}", echo_in_thread, methods=["GET", "POST"]),
        Route("/{path:path}", echo, methods=["GET", "POST"]),
    ]
)

if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        http="httptools",
        loop="auto",
        log_level="warning",
        access_log=False,
        server_header=False,
    )
