"""The ASGI application: every path runs a call; ``/_owt/...`` belongs to owt itself.

Calls take a lean path (no router, no per-request middleware objects): snapshot the request,
resolve it to a ``Call``, hand it to its environment's executor, send the ``Reply``. The
reserved routes are a small Starlette app that also owns the lifespan.
"""

from __future__ import annotations

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

from owt.codes import CodeStore
from owt.config import Settings
from owt.core.call import Call, Reply, Request
from owt.core.runner import Runner
from owt.exceptions import MissingCode, OwtError, Timeout, UnknownCode, UnknownEnv
from owt.executors.base import Executor
from owt.executors.thread import ThreadExecutor
from owt.http import read_request, send_reply
from owt.protocol import call_from_fields, decode_text, read_fields

__all__ = ["OwtApp", "State", "create_app"]

log = logging.getLogger(__name__)

RESERVED = "/_owt"


@dataclass
class State:
    """Everything a running server holds; lives on the app, built and closed by the lifespan."""

    settings: Settings
    runner: Runner
    codes: CodeStore
    environments: dict[str, Executor] = field(default_factory=dict)


class OwtApp:
    """The ASGI callable ``uvicorn`` serves."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        runner = Runner(settings.max_adaptors)
        self.state = State(settings, runner, CodeStore(settings.max_codes))
        self.admin = Starlette(routes=admin_routes(self), lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _: Starlette) -> AsyncIterator[None]:
        state = self.state
        state.environments["main"] = ThreadExecutor(state.runner, self.settings.threads)
        for executor in state.environments.values():
            await executor.start()
        try:
            yield
        finally:
            for executor in state.environments.values():
                with anyio.CancelScope(shield=True):
                    await executor.aclose()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(RESERVED):
            await self.admin(scope, receive, send)
            return
        await self.handle_call(scope, receive, send)

    async def handle_call(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        if path == "/b64" or path.startswith("/b64/"):
            path = path[4:] or "/"
        timeout = self.settings.timeout
        try:
            request = await read_request(scope, receive, self.settings.max_body_bytes, path)
            call = self.resolve(request)
            timeout = call.timeout or timeout
            reply = await self.run(call)
        except OwtError as err:
            reply = Reply(err.status, err.headers(), err.body())
        except Exception as exc:  # a bug in owt itself: answer, log, stay up
            log.exception("internal error")
            reply = Reply(
                500,
                [("content-type", "application/json")],
                b'{"error": "internal", "message": "%s"}' % type(exc).__name__.encode(),
            )
        await send_reply(send, receive, reply, timeout)

    def resolve(self, request: Request) -> Call:
        """The Call a request asks for: its code, arguments and options."""
        fields = read_fields(request)
        if fields.get("code_b64") not in (None, ""):
            code = decode_text(fields["code_b64"], "code_b64")
        elif fields.get("code_sha256") not in (None, ""):
            sha = str(fields["code_sha256"]).lower()
            known = self.state.codes.get(sha)
            if known is None:
                raise UnknownCode(
                    f"no code with sha256 {sha}; send it again as code_b64", code_sha256=sha
                )
            code = known
        else:
            raise MissingCode("send code_b64 (base64 Python source) or code_sha256")
        call = call_from_fields(
            fields,
            request,
            code,
            allow_eval=not self.settings.locked,
            default_timeout=self.settings.timeout,
        )
        self.state.codes.add(call.sha256, code)
        call.server = {"address": self.settings.address, "port": self.settings.port}
        return call

    def executor_for(self, call: Call) -> Executor:
        try:
            return self.state.environments[call.env]
        except KeyError:
            known = sorted(self.state.environments)
            raise UnknownEnv(f"no environment named {call.env!r}", known=known)

    async def run(self, call: Call) -> Reply:
        executor = self.executor_for(call)
        try:
            with anyio.fail_after(call.timeout):
                return await executor.submit(call)
        except TimeoutError:
            raise Timeout(f"the call ran past its timeout of {call.timeout}s", timeout=call.timeout)


def admin_routes(app: OwtApp) -> list[Route]:
    async def health(_: StarletteRequest) -> Response:
        return PlainTextResponse("ok")

    async def status(_: StarletteRequest) -> Response:
        state = app.state
        return JSONResponse(
            {
                "version": _version(),
                "environments": {n: e.status() for n, e in state.environments.items()},
                "codes": len(state.codes),
            }
        )

    async def not_found(request: StarletteRequest) -> Response:
        return JSONResponse(
            {"error": "not_found", "message": f"no owt route {request.url.path}"}, 404
        )

    return [
        Route(f"{RESERVED}/health", health),
        Route(f"{RESERVED}/status", status),
        Route(RESERVED + "/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE"]),
    ]


def _version() -> str:
    from owt import __version__

    return __version__


def create_app(settings: Settings | None = None) -> OwtApp:
    """The ASGI app for these settings (``uvicorn 'owt.app:create_app' --factory`` works)."""
    return OwtApp(settings or Settings())
