"""The errors owt answers with; the tree and its statuses are drawn in :mod:`owt.core.errors`.

>>> from owt.exceptions import Timeout
>>> Timeout("the call ran past its timeout of 2 s", timeout=2).status
504
"""

from owt.core.errors import (
    AdaptorError,
    BadRequest,
    Busy,
    CompileError,
    Forbidden,
    ForbiddenOrigin,
    HeadersTooLarge,
    HeaderTimeout,
    InstallFailed,
    Internal,
    Locked,
    MethodNotAllowed,
    MissingCode,
    NoFile,
    NoFunction,
    NotFound,
    OwtError,
    Timeout,
    TooLarge,
    Unauthorized,
    UnknownCode,
    UnknownEndpoint,
    UnknownEnv,
    WorkerDied,
    error_from_payload,
    reply_for,
)

__all__ = [
    "AdaptorError",
    "BadRequest",
    "Busy",
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
]
