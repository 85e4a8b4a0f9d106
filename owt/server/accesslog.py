"""The access log: one line per call, with the request id the caller also receives.

Each call gets a request id — the caller's own ``X-Request-Id`` when it sent a sane one (at
most 128 printable ASCII characters without spaces), else a fresh one — returned as the
``X-Request-Id`` response header and written in the call's access line::

    2026-11-30 16:01:02,345 INFO owt.access: 5f3a9c0000002a POST /hello 200 1.2ms env=main
        shape=whole code=1b4e28ba bytes=12

``shape`` is how the answer went out: ``whole`` (one body), ``stream`` (chunks as they were
made) or ``sse`` (server-sent events); ``code`` is the first 8 hex of the code's sha256
(``-`` when no code ran); ``incomplete`` marks a stream that did not end properly, with
``error=KIND`` when an error cut it. Query strings hold code and arguments, so they appear
only at ``-vv`` (debug); credentials never.
A 500 ``adaptor_error`` or ``internal`` also logs its traceback at warning, with the id.

The cost is one ``send`` wrapper and one formatted line per request: while owt's own handler
is the only one a line would reach (the server's set-up), the line goes straight to it;
otherwise (an app that added handlers or filters) it travels as a light log record
(:class:`AccessRecord`). :class:`BatchingHandler` writes lines in batches from a thread of
its own rather than one ``write()`` per call. ``-q`` turns the access log off,
``--log-format json`` writes every log line (access lines with their fields) as JSON.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import os
import sys
import time
from typing import Any

from owt.config import Settings
from owt.core.call import Call, Reply
from owt.core.context import current_request_id
from owt.core.errors import KINDS
from owt.core.logtext import field_text, hide_token, one_entry
from owt.executors.router import RequirementsRouter
from owt.server.logwrite import BatchingHandler

__all__ = [
    "ACCESS_FIELDS",
    "REQUEST_ID",
    "AccessRecord",
    "CallRecord",
    "JsonFormatter",
    "Observer",
    "RequestIdFilter",
    "TextFormatter",
    "configure_logging",
    "valid_request_id",
]

access_log = logging.getLogger("owt.access")
log = logging.getLogger(__name__)

#: The request id of the call this task serves, for every log line written during it.
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("owt_request_id", default="-")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_REQUEST_ID = 128
STARTED = time.time()
ACCESS_FIELDS = (
    "request_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "env",
    "shape",
    "code",
    "bytes",
    "complete",
    "error",
)
TEXT_LINE = "%s %s %s %d %.1fms env=%s shape=%s code=%s bytes=%d%s%s"


def valid_request_id(value: bytes) -> bool:
    """True for 1 to 128 printable ASCII characters without spaces."""
    return 0 < len(value) <= MAX_REQUEST_ID and all(0x21 <= b <= 0x7E for b in value)


class CallRecord:
    """What one call did, gathered as its reply is sent (the ``send`` wrapper)."""

    __slots__ = (
        "complete", "error", "nbytes", "request_id", "rid_header", "send", "started", "status",
    )  # fmt: skip

    def __init__(self, request_id: str, send: Any) -> None:
        self.request_id = request_id
        self.rid_header = (b"x-request-id", request_id.encode())
        self.send = send
        self.started = time.perf_counter()
        self.status = 0
        self.nbytes = 0
        self.complete = False
        self.error: str | None = None  # the kind of error that cut its stream midway

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            self.nbytes += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True
        elif message["type"] == "http.response.start":
            self.status = message["status"]
            message["headers"] = [*message.get("headers", ()), self.rid_header]
        await self.send(message)


class Observer:
    """Gives each call its request id; logs and counts it once its reply has been sent."""

    def __init__(self, settings: Settings, metrics: Any = None, state: Any = None) -> None:
        self.enabled = not settings.quiet
        self.metrics = metrics  # owt.server.metrics.CallMetrics, or None
        self.state = state  # owt.server.app.State: its environments, for env_label
        self._prefix = os.urandom(3).hex()
        self._count = itertools.count(1)

    def begin(self, scope: dict[str, Any], send: Any) -> CallRecord:
        """A record for this request; its ``__call__`` is the ``send`` to answer with."""
        request_id = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                if valid_request_id(value):
                    request_id = value.decode("ascii")
                break
        if request_id is None:
            request_id = f"{self._prefix}{next(self._count):08x}"
        REQUEST_ID.set(request_id)
        return CallRecord(request_id, send)

    def env_label(self, call: Call) -> str:
        """Where the call ran, as its access line and metrics name it: an environment of this
        server, ``requirements:KEY`` for a set in use (``requirements`` before), and ``-``
        for a name the server lacks (a label per name sent would grow without bound)."""
        if self.state is None:
            return call.env
        if "requirements" in call.options and isinstance(
            self.state.requirements, RequirementsRouter
        ):
            return self.state.requirements.label_of(call)
        return call.env if call.env in self.state.environments else "-"

    def end(
        self, record: CallRecord, scope: dict[str, Any], call: Call | None, reply: Reply
    ) -> None:
        seconds = time.perf_counter() - record.started
        env = self.env_label(call) if call is not None else "-"
        shape = _shape(reply)
        kind = record.error or (_error_kind(reply) if reply.status >= 400 else None)
        if self.metrics is not None:
            self.metrics.record(env, record.status, shape, seconds, record.nbytes, kind)
        if reply.status == 500 and reply.stream is None:
            _log_failure(record.request_id, reply)
        if not self.enabled or not access_log.isEnabledFor(logging.INFO):
            return
        path = scope.get("path", "")
        if access_log.isEnabledFor(logging.DEBUG) and scope.get("query_string"):
            path = f"{path}?{hide_token(scope['query_string'].decode('latin-1'))}"
        path = field_text(path)  # one field of one line, whatever the request held
        fields = (
            record.request_id,
            scope.get("method", "-"),
            path,
            record.status,
            seconds * 1000,
            env,
            shape,
            call.sha256[:8] if call is not None and call.sha256 else "-",
            record.nbytes,
            "" if record.complete else " incomplete",
            f" error={kind}" if kind else "",
        )
        handler = _direct_handler()
        if handler is not None:  # owt's own handler alone: the line, with no record
            line = handler.formatter.access_line(fields, time.time())  # type: ignore[union-attr]
            handler.write_line(line)
        else:
            access_log.handle(AccessRecord(*fields))


class AccessRecord(logging.LogRecord):
    """An access line's record, made without what ``Logger.info`` adds per call.

    ``Logger.info`` looks up its caller's frame, the process id, thread and process names;
    an access line needs none of them, and on a busy server they were most of its cost.
    The fields are the record's ``args`` (in :data:`ACCESS_FIELDS` order) and the line is
    formatted only by a handler that writes it.
    """

    def __init__(self, *args: Any) -> None:
        self.name = access_log.name
        self.msg = TEXT_LINE
        self.args = args
        self.levelno = logging.INFO
        self.levelname = "INFO"
        self.pathname = self.filename = self.module = self.funcName = ""
        self.lineno = 0
        self.exc_info = self.exc_text = self.stack_info = None
        self.created = time.time()
        self.msecs = int((self.created - int(self.created)) * 1000) + 0.0
        self.relativeCreated = (self.created - STARTED) * 1000
        self.thread = self.threadName = self.processName = self.process = None
        self.taskName = None
        self.request_id = args[0]


def _shape(reply: Reply) -> str:
    if reply.stream is None:
        return "whole"
    for name, value in reply.headers:
        if name.lower() == "content-type":
            return "sse" if value.startswith("text/event-stream") else "stream"
    return "stream"


def _error_kind(reply: Reply) -> str | None:
    """The kind of owt's JSON error a reply is (``adaptor_error``, ``timeout``...), else None:
    an adaptor's own answer (``({"error": ...}, 400)``) is no owt error, and its text must not
    become a metrics label (one series per value it ever held)."""
    if reply.stream is not None or not reply.body.startswith(b'{"error": "'):
        return None
    try:
        kind = json.loads(reply.body).get("error")
    except (ValueError, AttributeError):
        return None
    return kind if kind in KINDS else None


def _log_failure(request_id: str, reply: Reply) -> None:
    """A 500 adaptor_error or internal: its traceback at warning, with the request id."""
    try:
        payload = json.loads(reply.body)
    except ValueError:
        return
    if not isinstance(payload, dict) or payload.get("error") not in ("adaptor_error", "internal"):
        return
    trace = payload.get("traceback") or ""
    log.warning(
        "call failed: %s: %s%s",
        payload.get("error"),
        payload.get("message"),
        f"\n{trace.rstrip()}" if trace else "",
        extra={"request_id": request_id},
    )


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (the current call's, or ``-``) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            request_id = REQUEST_ID.get()
            if request_id == "-":  # a thread running a call's code (--in-process)
                request_id = current_request_id()
            record.request_id = request_id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; an access line carries its fields by name."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
        }
        if record.name == access_log.name and isinstance(record.args, tuple):
            fields: dict[str, Any] = dict(zip(ACCESS_FIELDS, record.args, strict=False))
            fields["duration_ms"] = round(float(fields["duration_ms"]), 3)
            fields["complete"] = not fields["complete"]
            fields["error"] = fields["error"].removeprefix(" error=") or None
            data.update(fields)
        else:
            data["message"] = record.getMessage()
            request_id = getattr(record, "request_id", "-")
            if request_id != "-":
                data["request_id"] = request_id
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def configure_logging(settings: Settings, level: int) -> logging.Handler:
    """One handler for every log line (owt's, uvicorn's, the access log), batched to stderr;
    ``level`` for all but the access log (``owt.access``), which is on at info unless ``-q``.
    """
    handler = BatchingHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    json_lines = settings.log_format == "json"
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter(LOG_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    access = logging.getLogger("owt.access")
    access.setLevel(logging.WARNING if settings.quiet else min(level, logging.INFO))
    global _direct
    _direct = None if json_lines else handler
    return handler


#: The handler :func:`configure_logging` installed for text lines, if any.
_direct: BatchingHandler | None = None


def _direct_handler() -> BatchingHandler | None:
    """owt's own handler, when access lines would reach it and nothing else: then a line
    skips the log record and the logging machinery (most of its cost on a busy server).
    Handlers or filters added anywhere on the way (by an embedding app) get records."""
    handler = _direct
    if (
        handler is None
        or access_log.handlers
        or access_log.filters
        or not access_log.propagate
        or logging.root.handlers != [handler]
        or logging.root.filters
        or type(handler.formatter) is not TextFormatter
        or handler.formatter._fmt != LOG_FORMAT  # the line access_line() makes
    ):
        return None
    return handler


class TextFormatter(logging.Formatter):
    """The plain line; one written during a call starts with ``[REQUEST_ID]``."""

    _second = -1
    _stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self._time(record.created)

    def _time(self, created: float) -> str:
        # The date and time change once a second; the access log writes many lines in one.
        second = int(created)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(created))
            self._second = second
        return f"{self._stamp},{int((created - second) * 1000):03d}"

    def format(self, record: logging.LogRecord) -> str:
        if type(record) is AccessRecord and self._fmt == LOG_FORMAT:  # the line, made directly
            return self.access_line(record.args, record.created)  # type: ignore[arg-type]
        return one_entry(super().format(record))  # what a caller wrote stays inside it

    def access_line(self, fields: tuple[Any, ...], created: float) -> str:
        """An access line from its fields (:data:`ACCESS_FIELDS`), as :data:`LOG_FORMAT`."""
        return f"{self._time(created)} INFO owt.access: {TEXT_LINE % fields}"

    def formatMessage(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", "-")
        if request_id != "-" and record.name != "owt.access":
            record.message = f"[{request_id}] {record.message}"
        return super().formatMessage(record)
