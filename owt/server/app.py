"""The ASGI application: every path runs a call; ``/_owt/...`` belongs to owt itself.

Calls take a lean path (no router, no per-request middleware objects): snapshot the request,
resolve it to a ``Call``, hand it to its environment's executor, send the ``Reply``. The
reserved routes are a small Starlette app that also owns the lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.applications import Starlette

from owt.config import Settings
from owt.core.body import STREAM_FROM, StreamedRequest
from owt.core.call import CALL_FIELDS, Call, Reply, Request
from owt.core.errors import (
    CallerGone,
    MissingCode,
    OwtError,
    Timeout,
    TooLarge,
    UnknownCode,
    UnknownEnv,
    reply_for,
    shutting_down,
)
from owt.core.logtext import field_text
from owt.executors.base import Executor, caller_gone
from owt.server.accesslog import REQUEST_ID, Observer
from owt.server.admin import RESERVED, admin_routes
from owt.server.auth import protect
from owt.server.body import BodySource, whole
from owt.server.cache import ResponseCache
from owt.server.codes import CodeStore
from owt.server.connection import client_gone
from owt.server.deadlines import Deadlines
from owt.server.endpoints import Endpoints
from owt.server.environments import create_environments, create_requirements
from owt.server.http import (
    not_a_call,
    read_request,
    reconnects_to_finished_stream,
    send_refusal,
    send_reply,
)
from owt.server.limits import ConcurrencyLimit
from owt.server.metrics import CallMetrics
from owt.server.progress import accepts_events, progress_reply
from owt.server.protocol import call_from_fields, decode_text, read_fields, sha256_field, sha256_of
from owt.server.relay import StreamCut
from owt.server.statedb import StateDB
from owt.server.web import no_code_reply

__all__ = ["OwtApp", "State", "create_app"]

log = logging.getLogger(__name__)

DECODED_MEMO = 256  # distinct code_b64 texts remembered decoded
READY_WAIT = 0.05  # seconds to see whether a call's environment is ready before showing progress


@dataclass
class State:
    """Everything a running server holds; lives on the app, built and closed by the lifespan."""

    settings: Settings
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
        # The graceful time is over: calls still running get 503, streams an error event.
        self.cut = StreamCut()
        db = StateDB(settings.state_dir) if settings.state_dir else None
        self.state = State(settings, CodeStore(settings.max_codes, db), db)
        self.state.endpoints = Endpoints(settings, db, self.state.codes)
        self.state.cache = ResponseCache(settings.cache_max_bytes, db)
        self.state.limit = ConcurrencyLimit(settings.max_concurrency, settings.max_queue)
        self.metrics = CallMetrics()
        self.observer = Observer(settings, self.metrics, self.state)  # ids, access log, metrics
        self.admin = Starlette(routes=admin_routes(self), lifespan=self._lifespan)
        # Credentials (--auth/--token) and CORS (--cors) in front of everything.
        self.entry = protect(self.route, settings, self.observer)

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
        self.state.limit.refuse_new()
        for executor in [*self.state.environments.values(), self.state.requirements]:
            if executor is not None:
                executor.refuse_new()
        asyncio.get_running_loop().call_later(grace, self._cut_calls)

    def _cut_calls(self) -> None:
        self.cut.event.set()
        for task in self.calls - self.cut.streaming:
            task.cancel()

    async def handle_call(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        refused = not_a_call(scope["method"])
        if refused is not None or self.closing:  # answered, logged and counted as calls are
            reply = (refused or shutting_down()).reply()
            await send_refusal(self.observer, scope, receive, send, reply)
            return
        task = asyncio.current_task()
        assert task is not None
        self.calls.add(task)
        try:
            await self._handle_call(scope, receive, send)
        except asyncio.CancelledError:
            if not self.cut.event.is_set():
                raise
            task.uncancel()  # cut by the shutdown mid-stream: the response is ended
        finally:
            self.calls.discard(task)

    async def _handle_call(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        if path == "/b64" or path.startswith("/b64/"):
            path = path[4:] or "/"
        timeout: float | None = self.settings.timeout
        if reconnects_to_finished_stream(scope):
            # An EventSource reconnecting after sse()'s last event: 204 stops it for good,
            # instead of running the adaptor again every few seconds.
            await send_refusal(self.observer, scope, receive, send, Reply(204))
            return
        record = self.observer.begin(scope, send)
        call: Call | None = None
        source: BodySource | None = None
        try:
            request = await read_request(
                scope, receive, self.settings.max_body_bytes, path, STREAM_FROM
            )
            if isinstance(request, StreamedRequest):
                source = request.source
                receive = source.receive  # the body's messages are the call's alone
            caller_gone.set(lambda: _disconnected(receive))  # this request's task's own context
            call = self.resolve(request)
            timeout = call.timeout or timeout
            if "requirements" in call.options and accepts_events(call):
                reply, showing = await self.run_showing_progress(call)
                if showing:
                    timeout = None  # the progress stream bounds the call's chunks itself
            else:
                reply = await self.run(call)
        except MissingCode as err:  # a browser at / gets the playground; /favicon.ico an icon
            reply = no_code_reply(request, err)
        except OwtError as err:
            reply = err.reply()
        except asyncio.CancelledError:
            if not self.cut.event.is_set():
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            reply = shutting_down().reply()
        except Exception as exc:  # a bug in owt itself: answer, log, stay up
            log.exception("internal error")
            reply = reply_for(exc)
        try:
            what, head_only = f"{scope['method']} {path}", scope["method"] == "HEAD"
            if not await send_reply(
                record, receive, reply, timeout, what, head_only=head_only, cut=self.cut
            ):
                record.complete = False  # ended early: an error midway, or the client left
            elif client_gone(scope):  # it left before its answer: sent to nobody
                record.complete = False
                record.status = CallerGone.status
                reply = CallerGone("the client left before its answer").reply()
        finally:
            if source is not None:
                source.close()
            self.observer.end(record, scope, call, reply)

    def resolve(self, request: Request) -> Call:
        """The Call a request asks for: its code, arguments and options."""
        endpoints = self.state.endpoints
        # /NAME of a mounted or registered endpoint, when the request brings no code itself.
        endpoint_call = endpoints.resolve(request)
        if endpoint_call is not None:
            endpoint_call.server, endpoint_call.request_id = self.server, REQUEST_ID.get()
            return endpoint_call
        fields = read_fields(request)
        endpoints.guard_fields(fields)  # --locked: callers choose no cache keys
        sha = None
        if fields.get("code_b64") not in (None, ""):
            code, sha = self.decode_code(fields["code_b64"])
        elif fields.get("code_sha256") not in (None, ""):
            sha = sha256_field(fields["code_sha256"])
            endpoints.guard(sha)  # --locked: only --allow'ed hashes
            known = self.state.codes.get(sha)
            if known is None:
                raise UnknownCode(
                    f"no code with sha256 {sha}; send it again as code_b64", code_sha256=sha
                )
            code = known
        elif not self.settings.locked and (pinned := self.state.cache.pinned_call(request)):
            return pinned  # no code, but this path's response is cached (never --locked's)
        else:
            raise MissingCode(self._missing_code(request) + _misspelled(fields))
        call = call_from_fields(
            fields,
            request,
            code,
            allow_eval=not self.settings.locked,
            default_timeout=self.settings.timeout,
            sha256=sha,
        )
        if self.settings.locked:  # only --allow'ed code, its allowed functions, its own keys
            endpoints.guard(call.sha256)
            endpoints.guard_function(call.fn_name)
            if call.options.get("use_cache"):
                # Never a bare path: a pinned path (/landing.html) stays the operator's; and
                # by the arguments: one caller's answer never goes to another's.
                call.options["cache_key_override"] = f"{call.sha256}:{request.path}"
                call.options["cache_kwargs"] = True
        self.state.codes.add(call.sha256, code)
        call.server, call.request_id = self.server, REQUEST_ID.get()
        return call

    def _missing_code(self, request: Request) -> str:
        message = "send code_b64 (base64 Python source) or code_sha256"
        names = self.state.endpoints.names()
        if request.path in ("", "/"):
            return message
        if not names:
            return f"{request.path} is not an endpoint (this server has none): {message}"
        listed = ", ".join(f"/{name}" for name in names)
        return f"{request.path} is not an endpoint (the endpoints: {listed}); or {message}"

    def decode_code(self, code_b64: Any) -> tuple[str, str]:
        """``code_b64`` → (code, sha256), remembered: a warm call sends the same text again."""
        known = self._decoded.get(code_b64) if isinstance(code_b64, str) else None
        if known is None:
            limit = self.settings.max_code_bytes
            if isinstance(code_b64, str) and len(code_b64) > limit // 3 * 4 + 4:
                raise TooLarge(
                    f"the code is over the limit of {limit} bytes (--max-code-bytes)",
                    field="code_b64",
                )
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
            raise UnknownEnv(
                f"no environment named {call.env!r} (this server has: {', '.join(known)}); "
                f"start owt with --env {call.env}=PATH/TO/bin/python to add it, or send "
                "requirements=[...] to have owt build one",
                known=known,
            )

    async def run(self, call: Call) -> Reply:
        if not call.options:  # no cache options: straight to the executor
            return await self.execute(call)
        return await self.state.cache.through(call, self.execute)

    async def run_showing_progress(self, call: Call) -> tuple[Reply, bool]:
        """Run a call whose environment may need building, for a caller that reads events:
        if the build is under way, answer at once with its progress, then the result (True),
        else as any call (False)."""
        executor = self.executor_for(call)
        preparing = asyncio.ensure_future(executor.prepare(call))
        preparing.add_done_callback(_retrieve)
        await asyncio.wait({preparing}, timeout=READY_WAIT)
        if preparing.done():
            preparing.result()  # raises the build's error, answered as usual
            return await self.run(call), False
        return progress_reply(call, executor, preparing, self.run, self.deadlines), True

    async def execute(self, call: Call) -> Reply:
        executor = self.executor_for(call)
        if isinstance(call.request, StreamedRequest) and not executor.streams_bodies:
            # (a Ray actor): the body crosses with the call, read whole first
            call.request = await whole(call.request)
        if "requirements" in call.options:  # only such a call may wait for a build
            # Building the call's environment is not the call: its timeout starts once ready.
            await executor.prepare(call)
        limit = self.state.limit
        if limit.max_concurrency:
            work = limit.run(lambda: self._submit_unless_closing(executor, call))
        else:
            work = executor.submit(call)
        try:
            return await self.deadlines.within(call.timeout, work)
        except TimeoutError:
            log.warning(
                "call %s at %s timed out after %gs",
                call.sha256[:12],
                field_text(call.request.path),
                call.timeout,
            )
            raise Timeout(
                f"the call ran past its timeout of {call.timeout}s: send a larger timeout, or "
                "start owt with a larger --timeout",
                timeout=call.timeout,
            )

    async def _submit_unless_closing(self, executor: Executor, call: Call) -> Reply:
        """A call that waited for --max-concurrency does not start once shutdown began."""
        if self.closing:
            raise shutting_down()
        return await executor.submit(call)


def _misspelled(fields: Any) -> str:
    """For a request without code: the fields it sent that look like a code field's name
    misspelled (``code``, ``code_64``), with the names meant."""
    meant = []
    for name in fields:
        if name not in CALL_FIELDS:
            close = difflib.get_close_matches(name, CALL_FIELDS, n=1, cutoff=0.6)
            if name == "code" or (close and close[0].startswith("code")):
                meant.append(
                    f"{name!r} (did you mean {'code_b64' if name == 'code' else close[0]}?)"
                )
    if not meant:
        return ""
    return f"; the request sent {', '.join(meant)}"


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # seen by whoever awaits it; keeps asyncio quiet when nobody does


async def _disconnected(receive: Any) -> None:
    """Returns once the client has gone (its request body is read by then)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def create_app(settings: Settings | None = None) -> OwtApp:
    """The ASGI app for these settings (``uvicorn 'owt.server.app:create_app' --factory`` works)."""
    return OwtApp(settings or Settings())
