"""The errors owt answers with, and the HTTP status of each.

Every failure of a call becomes one of these, and every one of these becomes a JSON reply
``{"error": KIND, "message": "...", ...extra}`` in exactly one place (:meth:`OwtError.reply`;
:func:`reply_for` turns any exception into one)::

    OwtError                      500  (base; never raised itself)
    ├── BadRequest                400  bad_request      field
    ├── MissingCode               400  missing_code
    ├── UnknownEnv                400  unknown_env      known
    ├── Unauthorized              401  unauthorized
    ├── Locked                    403  locked
    ├── ForbiddenOrigin           403  forbidden_origin check
    ├── Forbidden                 403  forbidden        (a path outside open(root_dir=); also a
    │                                                    PermissionError, as adaptors expect)
    ├── UnknownCode               404  unknown_code
    ├── UnknownEndpoint           404  unknown_endpoint
    ├── MethodNotAllowed          405  method_not_allowed  allowed (and an Allow header)
    ├── HeaderTimeout             408  header_timeout
    ├── TooLarge                  413  too_large
    ├── HeadersTooLarge           431  headers_too_large
    ├── CompileError              422  compile_error    line, column, traceback
    ├── NoFunction                422  no_function      fn_name
    ├── InstallFailed             424  install_failed   log_tail
    ├── AdaptorError              500  adaptor_error    type, traceback
    ├── Internal                  500  internal         (a fault of owt itself)
    ├── NotFound                  404  not_found        (an /_owt/ path owt does not serve)
    │   └── NoFile                404  not_found        (a file open(root_dir=) does not find;
    │                                                    also a FileNotFoundError)
    ├── WorkerDied                502  worker_died      exit_code
    ├── Busy                      503  busy
    └── Timeout                   504  timeout          timeout

This module is stdlib only: worker processes in bare virtualenvs build their error replies
with it too.
"""

from __future__ import annotations

from typing import Any, ClassVar

from owt.core.call import Reply
from owt.core.jsontext import dump_bytes

__all__ = [
    "KINDS",
    "AdaptorError",
    "BadRequest",
    "Busy",
    "CallerGone",
    "CompileError",
    "Forbidden",
    "ForbiddenOrigin",
    "HeaderTimeout",
    "HeadersTooLarge",
    "InstallFailed",
    "Internal",
    "Locked",
    "MethodNotAllowed",
    "MissingCode",
    "NoFile",
    "NoFunction",
    "NotFound",
    "OwtError",
    "Timeout",
    "TooLarge",
    "Unauthorized",
    "UnknownCode",
    "UnknownEndpoint",
    "UnknownEnv",
    "WorkerDied",
    "error_from_payload",
    "reply_for",
    "shutting_down",
]


class OwtError(Exception):
    """A failed call: a kind, an HTTP status, a message and a few extra JSON fields."""

    status: ClassVar[int] = 500
    kind: ClassVar[str] = "error"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        # Plain values only: a payload crosses from a worker, which sends nothing else.
        self.extra = {k: _plain(v) for k, v in extra.items() if v is not None}

    def payload(self) -> dict[str, Any]:
        return {"error": self.kind, "message": self.message, **self.extra}

    def body(self) -> bytes:
        return dump_bytes(self.payload(), default=str)

    def headers(self) -> list[tuple[str, str]]:
        return [("content-type", "application/json")]

    def reply(self) -> Reply:
        """This error as the reply a caller receives."""
        return Reply(self.status, self.headers(), self.body())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class BadRequest(OwtError):
    status = 400
    kind = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message, field=field, **extra)


class MissingCode(OwtError):
    status = 400
    kind = "missing_code"


class UnknownEnv(OwtError):
    status = 400
    kind = "unknown_env"


class Unauthorized(OwtError):
    status = 401
    kind = "unauthorized"

    def headers(self) -> list[tuple[str, str]]:
        return [*super().headers(), ("www-authenticate", 'Basic realm="owt"')]


class Locked(OwtError):
    status = 403
    kind = "locked"


class Forbidden(OwtError, PermissionError):
    """Refused by an adaptor's own guard (``open(root_dir=)``); its message names no server
    path. Also a ``PermissionError``, so code that catches that still does."""

    status = 403
    kind = "forbidden"


class ForbiddenOrigin(OwtError):
    """A request a browser made for a page of another origin, or under a foreign ``Host``."""

    status = 403
    kind = "forbidden_origin"

    def __init__(self, message: str, *, check: str, **extra: Any) -> None:
        super().__init__(message, check=check, **extra)


class HeaderTimeout(OwtError):
    status = 408
    kind = "header_timeout"


class HeadersTooLarge(OwtError):
    status = 431
    kind = "headers_too_large"


class UnknownCode(OwtError):
    status = 404
    kind = "unknown_code"


class UnknownEndpoint(OwtError):
    status = 404
    kind = "unknown_endpoint"


class TooLarge(OwtError):
    status = 413
    kind = "too_large"


class CompileError(OwtError):
    status = 422
    kind = "compile_error"


class NoFunction(OwtError):
    status = 422
    kind = "no_function"


class InstallFailed(OwtError):
    status = 424
    kind = "install_failed"


class AdaptorError(OwtError):
    status = 500
    kind = "adaptor_error"


class Internal(OwtError):
    """A fault of owt itself (never of the adaptor): answered, logged, and the server stays up."""

    status = 500
    kind = "internal"


class NotFound(OwtError):
    status = 404
    kind = "not_found"


class NoFile(NotFound, FileNotFoundError):
    """A file an adaptor's ``open(root_dir=)`` does not find; its message names no server
    path. Also a ``FileNotFoundError``, so code that catches that still does."""


class MethodNotAllowed(OwtError):
    """A method the path does not answer (calls take GET, HEAD and POST)."""

    status = 405
    kind = "method_not_allowed"

    def headers(self) -> list[tuple[str, str]]:
        allowed = self.extra.get("allowed") or []
        return [*super().headers(), ("allow", ", ".join(allowed))]


class WorkerDied(OwtError):
    status = 502
    kind = "worker_died"


class Busy(OwtError):
    status = 503
    kind = "busy"


def shutting_down() -> Busy:
    """What a call hears once the server stops taking calls (waiting, new or cut ones)."""
    return Busy("the server is shutting down; try again when it is back")


class Timeout(OwtError):
    status = 504
    kind = "timeout"


class CallerGone(OwtError):
    """Its client went away before the answer: nobody reads it. The access log and the
    metrics show such a call as 499 (as nginx does), apart from the server's own 5xx."""

    status = 499
    kind = "caller_gone"


def _plain(value: Any) -> Any:
    """``value`` as JSON's plain types (an HTTPStatus as its int, a str enum as its text)."""
    if value is None or type(value) in (str, int, float, bool):  # bool has no subclasses
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return repr(value)


_BY_KIND: dict[str, type[OwtError]] = {
    cls.kind: cls for cls in OwtError.__subclasses__() if cls.kind != "error"
}

#: Every kind of owt's own errors (an adaptor's JSON answer may hold any ``error`` at all).
KINDS = frozenset(_BY_KIND)


def reply_for(exc: BaseException) -> Reply:
    """Any exception as a reply: an OwtError as itself, anything else as ``internal``.

    >>> reply_for(ValueError("boom")).status
    500
    """
    if isinstance(exc, OwtError):
        return exc.reply()
    return Internal(f"internal error: {type(exc).__name__}: {exc}").reply()


def error_from_payload(payload: dict[str, Any]) -> OwtError:
    """Rebuild an error from its JSON payload (as a worker or a client received it)."""
    extra = {k: v for k, v in payload.items() if k not in ("error", "message")}
    cls = _BY_KIND.get(str(payload.get("error")), OwtError)
    err = OwtError.__new__(cls)
    OwtError.__init__(err, str(payload.get("message", "")), **extra)
    return err
