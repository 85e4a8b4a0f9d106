"""One endpoint: its code and call fields, and the mounted file it may be read from."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from owt.core.errors import CompileError
from owt.server.protocol import sha256_of

__all__ = ["RESERVED_NAMES", "Endpoint", "MountedFile", "check_name", "parse_mount"]

log = logging.getLogger(__name__)

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]*\Z")
#: Names that cannot be endpoints: owt's own routes and the ``/b64`` alias.
RESERVED_NAMES = frozenset({"_owt", "b64"})
#: A file changed this recently may change again within the same mtime tick: compare texts.
_RACY_NS = 2_000_000_000
#: Seconds between two looks (``stat``) at a mounted file.
CHECK_INTERVAL = 0.001


@dataclass
class Endpoint:
    """What runs at ``/NAME``: code and the call fields it was given."""

    name: str
    code: str
    sha256: str
    fn_name: str = "run"
    env: str = "main"
    kwargs: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    file: Path | None = None

    @property
    def kind(self) -> str:
        return "registered" if self.file is None else "mounted"

    def fields(self) -> dict[str, Any]:
        """The endpoint's own call fields, as ``call_from_fields`` reads them (a fresh dict,
        copied from the one worked out at the first call)."""
        own = self.__dict__.get("_fields")
        if own is None:
            own = {"fn_name": self.fn_name, "env": self.env, **self.options}
            if self.timeout is not None:
                own["timeout"] = self.timeout
            self.__dict__["_fields"] = own
        return dict(own)

    @property
    def filename(self) -> str:
        """The file's path as text (the name its code is compiled under)."""
        return "" if self.file is None else str(self.file)

    def describe(self, *, code: bool = False, file: bool = True) -> dict[str, Any]:
        """The endpoint as ``GET /_owt/endpoints/NAME`` shows it."""
        shown: dict[str, Any] = {
            "name": self.name,
            "path": f"/{self.name}",
            "kind": self.kind,
            "sha256": self.sha256,
            "fn_name": self.fn_name,
            "env": self.env,
            "kwargs": self.kwargs,
            "timeout": self.timeout,
            **self.options,
        }
        if self.file is not None and file:
            shown["file"] = str(self.file)
        if code:
            shown["code"] = self.code
        return shown

    def stored(self) -> str:
        return json.dumps(
            {
                "code": self.code,
                "fn_name": self.fn_name,
                "env": self.env,
                "kwargs": self.kwargs,
                "timeout": self.timeout,
                "options": self.options,
            }
        )

    @classmethod
    def from_stored(cls, name: str, text: str) -> Endpoint:
        spec = json.loads(text)
        return cls(
            name=name,
            code=spec["code"],
            sha256=sha256_of(spec["code"]),
            fn_name=spec.get("fn_name", "run"),
            env=spec.get("env", "main"),
            kwargs=spec.get("kwargs", {}),
            timeout=spec.get("timeout"),
            options=spec.get("options", {}),
        )


class MountedFile:
    """A mounted adaptor file, re-read when its ``stat`` (or, just after a write, text) changes.

    The ``stat`` is made at most once per :data:`CHECK_INTERVAL`: calls arriving closer
    together than that share one look at the file (a save shows within a millisecond).
    """

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        self._where = os.fspath(path)
        self._stamp: tuple[int, int, int, int] | None = None
        self._endpoint: Endpoint | None = None
        self._checked = -math.inf

    def current(self) -> Endpoint:
        """The file's endpoint as it is on disk now; CompileError when it cannot be read."""
        now = time.monotonic()
        if self._endpoint is not None and now - self._checked < CHECK_INTERVAL:
            return self._endpoint
        try:
            st = os.stat(self._where)
            # ctime too: it moves on every write, even one that keeps or resets the mtime
            stamp = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
            racy = time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < _RACY_NS
            if self._endpoint is not None and stamp == self._stamp and not racy:
                self._checked = now
                return self._endpoint
            text = self.path.read_text(encoding="utf-8-sig")  # an editor's BOM is dropped
        except (OSError, UnicodeDecodeError) as exc:
            self._stamp = self._endpoint = None
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise CompileError(f"the mounted file {self.path} cannot be read: {reason}")
        if self._endpoint is None or text != self._endpoint.code:
            if self._endpoint is not None:
                log.info("mount %s: %s changed, re-read", self.name, self.path)
            self._endpoint = Endpoint(self.name, text, sha256_of(text), file=self.path)
        self._stamp = stamp
        self._checked = now
        return self._endpoint


def parse_mount(spec: str) -> tuple[str, Path]:
    """``NAME=path/to/adaptor.py`` → (name, absolute path); ValueError when it is not that."""
    name, sep, path = spec.partition("=")
    name = name.strip()
    if not sep or not path.strip():
        raise ValueError(f"--mount {spec!r} is not NAME=path/to/adaptor.py")
    check_name(name, what="--mount")
    file = Path(path.strip()).expanduser().resolve()
    if not file.is_file():
        raise ValueError(f"--mount {name}={path}: no such file")
    return name, file


def check_name(name: str, what: str = "endpoint") -> None:
    if not NAME.match(name) or name in RESERVED_NAMES:
        raise ValueError(
            f"{what} name {name!r} must be one path segment of letters, digits and ._~- "
            f"(and not {' or '.join(sorted(RESERVED_NAMES))})"
        )
