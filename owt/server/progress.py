"""A caller that accepts ``text/event-stream`` sees its environment being built.

When a call brings ``requirements`` whose environment is not ready yet and its request says
``Accept: text/event-stream`` (a browser's ``EventSource``, ``owt call --stream``, the
clients' ``stream``/``events``), the answer starts at once, as a 200 event stream marked
``X-Owt-Progress: 1``::

    event: progress
    data: {"phase": "resolving", "detail": "numpy==2.1.0", "elapsed": 0.4, "step": 2}

    event: progress
    data: {"phase": "downloading", "detail": "Downloading numpy (15.8MiB)", ...}

    event: progress
    data: {"phase": "importing", "detail": "starting a worker in the new environment", ...}

    event: result
    data: {"status": 200, "content_type": "text/event-stream"}

    ...the call's own body, byte for byte...

Phases: ``waiting`` (to begin, or for another build of the same set), ``creating``, ``resolving``,
``downloading``, ``installing``, ``importing``. After the ``result`` event comes the call's
body exactly as it would have been sent without the build: an ``sse()`` adaptor's events
follow as they are, so an ``EventSource`` sees them as usual (the named ``progress`` and
``result`` events reach only listeners that ask for them). A call that fails — the build, or
the call itself — ends with ``event: error`` and its JSON error (with its HTTP ``status``)
instead of ``result``.

The build's time is not the call's: the call's ``timeout`` starts at ``result``'s call, and
each later chunk is bounded by it as on any stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from owt.core.call import Call, Reply
from owt.core.errors import Busy, OwtError, error_from_payload, reply_for
from owt.executors.base import Executor
from owt.server.deadlines import Deadlines

__all__ = ["HEARTBEAT", "accepts_events", "event", "progress_reply"]

log = logging.getLogger(__name__)

POLL = 0.2  # seconds between looks at the build's progress
HEARTBEAT = 1.0  # a progress event at least this often, so proxies and clients see life
HEADERS = [
    ("content-type", "text/event-stream; charset=utf-8"),
    ("cache-control", "no-cache"),
    ("x-accel-buffering", "no"),
    ("x-owt-progress", "1"),
]


def accepts_events(call: Call) -> bool:
    return "text/event-stream" in call.request.headers.get("accept", "")


def event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def progress_reply(
    call: Call,
    executor: Executor,
    preparing: asyncio.Future[None],
    run: Callable[[Call], Awaitable[Reply]],
    deadlines: Deadlines,
) -> Reply:
    """The streamed reply that shows ``preparing`` and then gives ``run(call)``'s reply."""
    return Reply(200, list(HEADERS), b"", _events(call, executor, preparing, run, deadlines))


async def _events(
    call: Call,
    executor: Executor,
    preparing: asyncio.Future[None],
    run: Callable[[Call], Awaitable[Reply]],
    deadlines: Deadlines,
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    last: tuple[str, str] | None = None
    sent_at = 0.0
    latest: dict[str, Any] = {"phase": "waiting", "detail": "", "elapsed": 0.0}
    latest_at = loop.time()
    while not preparing.done():
        now = executor.progress(call)
        if now is None:  # not begun, or between phases: the last known one, its clock running
            now = {**latest, "elapsed": round(latest["elapsed"] + loop.time() - latest_at, 1)}
        else:
            latest, latest_at = now, loop.time()
        seen = (now.get("phase", ""), now.get("detail", ""))
        if seen != last or loop.time() - sent_at >= HEARTBEAT:
            last, sent_at = seen, loop.time()
            yield event("progress", now)
        await asyncio.wait({preparing}, timeout=POLL)
    try:
        if preparing.cancelled():  # not the caller's doing: it is still here, reading
            raise Busy("the environment's build was stopped; send the call again")
        preparing.result()
        reply = await run(call)
    except OwtError as err:
        reply = err.reply()
    except Exception as exc:  # a fault of owt itself: still an error event, never a cut
        log.exception("a call waiting for its environment failed")
        reply = reply_for(exc)
    content_type = dict((k.lower(), v) for k, v in reply.headers).get("content-type", "")
    if reply.status >= 400:
        # The stream ends failed: the server sends this error as its one ``event: error``,
        # with the status the call would have had.
        raise error_from_payload({**_payload(reply), "status": reply.status})
    yield event("result", {"status": reply.status, "content_type": content_type})
    if reply.body:
        yield reply.body
    if reply.stream is not None:
        assert isinstance(reply.stream, AsyncIterator)
        try:
            while True:
                try:
                    chunk = await deadlines.within(call.timeout, reply.stream.__anext__())
                except StopAsyncIteration:
                    break
                if chunk:
                    yield chunk
        finally:
            aclose = getattr(reply.stream, "aclose", None)
            if aclose is not None:
                await aclose()


def _payload(reply: Reply) -> dict[str, Any]:
    try:
        payload = json.loads(reply.body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        text = reply.body.decode("utf-8", "replace")[:2000]
        payload = {"error": "http_error", "message": text or f"HTTP {reply.status}"}
    return payload
