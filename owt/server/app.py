"""The ASGI application: every path runs a call; ``/_owt/...`` belongs to owt itself.

Calls take a lean path (no router, no per-request middleware objects): snapshot the request,
resolve it to a ``Call``, hand it to its environment's executor, send the ``Reply``. The
reserved routes are a small Starlette app that also owns the lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from owt.config import Settings
from owt.core.call import Call, Reply, Request
from owt.core.errors import (
    Busy,
    MissingCode,
    NotFound,
    OwtError,
    Timeout,
    UnknownCode,
    UnknownEnv,
    reply_for,
)
from owt.core.runner import Runner
from owt.executors.base import Executor, caller_gone
from owt.server.auth import protect
from owt.server.cache import ResponseCache
from owt.server.codes import CodeStore
from owt.server.deadlines import Deadlines
from owt.server.endpoints import Endpoints, endpoint_routes
from owt.server.environments import create_environments, create_requirements
from owt.server.http import read_request, send_reply
from owt.server.limits import ConcurrencyLimit
from owt.server.openapi import openapi_route
from owt.server.protocol import call_from_fields, decode_text, read_fields, sha256_of
from owt.server.statedb import StateDB

__all__ = ["OwtApp", "State", "create_app"]

log = logging.getLogger(__name__)

RESERVED = "/_owt"
DECODED_MEMO = 256  # distinct code_b64 texts remembered decoded


@dataclass
class State:
    """Everything a running server holds; lives on the app, built and closed by the lifespan."""

    settings: Settings
    runner: Runner
    codes: CodeStore
    db: StateDB | None = None
    environments: dict[str, Executor] = field(default_factory=dict)
    requirements: Executor | None = None  # runs calls that bring requirements (owt.executors.venvs)
    cache: ResponseCache = field(default_factory=ResponseCache)
    limit: ConcurrencyLimit = field(default_factory=ConcurrencyLimit)
    endpoints: Endpoints = field(default_factory=Endpoints)


class OwtApp:
    """The ASGI callable ``uvicorn`` serves."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Where this server listens, for Server.sing() in adaptors (the port is bound by now),
        # and what it lets a call do to its environment (the pipe step installing()).
        self.server = {
            "address": settings.address,
            "port": settings.port,
            "allow_install": settings.allow_install,
        }
        self._decoded: dict[str, tuple[str, str]] = {}
        self.deadlines = Deadlines()
        self.calls: set[asyncio.Task[Any]] = set()  # the calls in flight, for shutdown
        self.closing = False  # shutting down: new calls get 503
        self.cutting = False  # the graceful time is over: calls still running get 503
        runner = Runner(settings.max_adaptors)
        db = StateDB(settings.state_dir) if settings.state_dir else None
        self.state = State(settings, runner, CodeStore(settings.max_codes, db), db)
        self.state.endpoints = Endpoints(settings, db, self.state.codes)
        self.state.cache = ResponseCache(settings.cache_max_bytes, db)
        self.state.limit = ConcurrencyLimit(settings.max_concurrency, settings.max_queue)
        self.admin = Starlette(routes=admin_routes(self), lifespan=self._lifespan)
        # Credentials (--auth/--token) and CORS (--cors) in front of everything.
        self.entry = protect(self.route, settings)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _: Starlette) -> AsyncIterator[None]:
        state = self.state
        state.environments.update(create_environments(self.settings))
        state.requirements = create_requirements(self.settings)
        executors = [*state.environments.values(), state.requirements]
        try:
            for executor in state.environments.values():
                await executor.start()
            yield
        finally:
            for executor in executors:
                with anyio.CancelScope(shield=True):
                    await executor.aclose()
            state.cache.close()
            if state.db is not None:
                state.db.close()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.entry(scope, receive, send)

    async def route(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(RESERVED):
            await self.admin(scope, receive, send)
            return
        await self.handle_call(scope, receive, send)

    def begin_shutdown(self, grace: float) -> None:
        """Shutdown starts: refuse new and queued calls; cut the running ones after ``grace``.

        Every caller gets a JSON answer (503 ``busy``), never the server's own plain 500.
        """
        self.closing = True
        for executor in [*self.state.environments.values(), self.state.requirements]:
            if executor is not None:
                executor.refuse_new()
        asyncio.get_running_loop().call_later(grace, self._cut_calls)

    def _cut_calls(self) -> None:
        self.cutting = True
        for task in list(self.calls):
            task.cancel()

    async def handle_call(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.closing:
            await send_reply(send, receive, _shutting_down().reply())
            return
        task = asyncio.current_task()
        assert task is not None
        self.calls.add(task)
        try:
            await self._handle_call(scope, receive, send)
        except asyncio.CancelledError:
            if not self.cutting:
                raise
            task.uncancel()  # cut by the shutdown mid-stream: the response is ended
        finally:
            self.calls.discard(task)

    async def _handle_call(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        if path == "/b64" or path.startswith("/b64/"):
            path = path[4:] or "/"
        timeout = self.settings.timeout
        caller_gone.set(lambda: _disconnected(receive))  # this request's task's own context
        try:
            request = await read_request(scope, receive, self.settings.max_body_bytes, path)
            call = self.resolve(request)
            timeout = call.timeout or timeout
            reply = await self.run(call)
        except OwtError as err:
            reply = err.reply()
        except asyncio.CancelledError:
            if not self.cutting:
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            reply = _shutting_down().reply()
        except Exception as exc:  # a bug in owt itself: answer, log, stay up
            log.exception("internal error")
            reply = reply_for(exc)
        await send_reply(send, receive, reply, timeout)

    def resolve(self, request: Request) -> Call:
        """The Call a request asks for: its code, arguments and options."""
        fields = read_fields(request)
        # /NAME of a mounted or registered endpoint, when the request brings no code itself.
        endpoint_call = self.state.endpoints.resolve(request, fields)
        if endpoint_call is not None:
            endpoint_call.server = self.server
            return endpoint_call
        sha = None
        if fields.get("code_b64") not in (None, ""):
            code, sha = self.decode_code(fields["code_b64"])
        elif fields.get("code_sha256") not in (None, ""):
            sha = str(fields["code_sha256"]).lower()
            self.state.endpoints.guard(sha)  # --locked: only --allow'ed hashes
            known = self.state.codes.get(sha)
            if known is None:
                raise UnknownCode(
                    f"no code with sha256 {sha}; send it again as code_b64", code_sha256=sha
                )
            code = known
        elif (pinned := self.state.cache.pinned_call(request)) is not None:
            return pinned  # no code, but this path's response is cached: replay it
        else:
            raise MissingCode("send code_b64 (base64 Python source) or code_sha256")
        call = call_from_fields(
            fields,
            request,
            code,
            allow_eval=not self.settings.locked,
            default_timeout=self.settings.timeout,
            sha256=sha,
        )
        if self.settings.locked:  # only --allow'ed code
            self.state.endpoints.guard(call.sha256)
        self.state.codes.add(call.sha256, code)
        call.server = self.server
        return call

    def decode_code(self, code_b64: Any) -> tuple[str, str]:
        """``code_b64`` → (code, sha256), remembered: a warm call sends the same text again."""
        known = self._decoded.get(code_b64) if isinstance(code_b64, str) else None
        if known is None:
            code = decode_text(code_b64, "code_b64")
            known = (code, sha256_of(code))
            if len(self._decoded) >= DECODED_MEMO:
                self._decoded.clear()
            self._decoded[code_b64] = known
        return known

    def executor_for(self, call: Call) -> Executor:
        if "requirements" in call.options and self.state.requirements is not None:
            return self.state.requirements
        try:
            return self.state.environments[call.env]
        except KeyError:
            known = sorted(self.state.environments)
            raise UnknownEnv(f"no environment named {call.env!r}", known=known)

    async def run(self, call: Call) -> Reply:
        if not call.options:  # no cache options: straight to the executor
            return await self.execute(call)
        return await self.state.cache.through(call, self.execute)

    async def execute(self, call: Call) -> Reply:
        executor = self.executor_for(call)
        limit = self.state.limit
        if limit.max_concurrency:
            work = limit.run(lambda: self._submit_unless_closing(executor, call))
        else:
            work = executor.submit(call)
        try:
            return await self.deadlines.within(call.timeout, work)
        except TimeoutError:
            raise Timeout(f"the call ran past its timeout of {call.timeout}s", timeout=call.timeout)

    async def _submit_unless_closing(self, executor: Executor, call: Call) -> Reply:
        """A call that waited for --max-concurrency does not start once shutdown began."""
        if self.closing:
            raise _shutting_down()
        return await executor.submit(call)


def admin_routes(app: OwtApp) -> list[Route]:
    async def health(_: StarletteRequest) -> Response:
        return PlainTextResponse("ok")

    async def status(_: StarletteRequest) -> Response:
        state = app.state
        return JSONResponse(
            {
                "version": _version(),
                "environments": {n: e.status() for n, e in state.environments.items()},
                "requirements": state.requirements.status() if state.requirements else None,
                "codes": len(state.codes),
                "cache": state.cache.stats(),
                "concurrency": state.limit.status(),
                "endpoints": state.endpoints.names(),
            }
        )

    async def cache(request: StarletteRequest) -> Response:
        responses = app.state.cache
        if request.method == "DELETE":  # ?key=K forgets one entry, no key forgets all
            key = request.query_params.get("key")
            cleared = responses.clear() if key is None else responses.delete(key)
            return JSONResponse({"cleared": cleared})
        return JSONResponse({**responses.stats(), "keys": responses.listing()})

    async def not_found(request: StarletteRequest) -> Response:
        err = NotFound(f"no owt route {request.url.path}")
        return Response(err.body(), err.status, media_type="application/json")

    return [
        Route(f"{RESERVED}/health", health),
        Route(f"{RESERVED}/status", status),
        Route(f"{RESERVED}/cache", cache, methods=["GET", "DELETE"]),
        *endpoint_routes(app.state),
        openapi_route(app.state),
        Route(RESERVED + "/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE"]),
    ]


async def _disconnected(receive: Any) -> None:
    """Returns once the client has gone (its request body is read by then)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _shutting_down() -> Busy:
    return Busy("the server is shutting down; try again when it is back")


def _version() -> str:
    from owt import __version__

    return __version__


def create_app(settings: Settings | None = None) -> OwtApp:
    """The ASGI app for these settings (``uvicorn 'owt.server.app:create_app' --factory`` works)."""
    return OwtApp(settings or Settings())
