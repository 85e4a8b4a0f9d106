"""Settings: every server option, declared once.

Each field of :class:`Settings` is one option, and every road to it is generated from that
declaration: the ``owt serve`` flag (``--max-body-bytes``), its environment variable
(``OWT_MAX_BODY_BYTES``), the keyword of ``owt.serve(max_body_bytes=...)`` and the help
text. A value given directly (flag or keyword) wins over the variable, which wins over the
default::

    >>> Settings.from_options({"OWT_TIMEOUT": "5"}).timeout
    5.0
    >>> Settings.from_options({"OWT_TIMEOUT": "5"}, timeout=9).timeout
    9
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = [
    "MiB",
    "Option",
    "Settings",
    "SettingsError",
    "is_loopback",
    "option",
    "options",
    "parse_bytes",
]

MiB = 1024 * 1024
ENV_PREFIX = "OWT_"


class SettingsError(ValueError):
    """An option value that cannot work; its message is one line for the terminal."""


def option(
    default: Any = None,
    help: str = "",
    *,
    kind: str = "",
    short: str | None = None,
    choices: tuple[str, ...] | None = None,
    metavar: str | None = None,
) -> Any:
    """A Settings field with what its flag needs: help, its kind of value, a short name."""
    meta = {"help": help, "kind": kind, "short": short, "choices": choices, "metavar": metavar}
    if isinstance(default, list):
        return field(default_factory=list, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Settings:
    """Every option of ``owt serve``; ``owt serve --port 1`` is ``Settings(port=1)``."""

    address: str = option("127.0.0.1", "Address to listen on.", kind="str")
    port: int = option(9876, "Port (0 picks a free one).", kind="int")
    verbose: int = option(0, "-v info, -vv debug (and query strings).", kind="count", short="-v")
    timeout: float = option(60.0, "Default seconds per call.", kind="float")
    max_body_bytes: int = option(16 * MiB, "Largest request body.", kind="bytes")
    insecure: bool = option(False, "Skip the credential checks (public address, --cors * or null).")
    threads: int = option(64, "Threads for calls with --in-process.", kind="int")
    # security
    auth: list[str] = option([], "user:sha256hex of the password (repeatable).", kind="list")
    token: list[str] = option([], "Bearer token (repeatable).", kind="list")
    cors: list[str] = option([], "Allowed CORS origin (repeatable; * for any).", kind="list")
    locked: bool = option(False, "Run only mounted/registered endpoints and --allow'ed code.")
    allow: list[str] = option([], "Code sha256 or file allowed when --locked.", kind="list")
    allow_register: bool = option(False, "Allow PUT /_owt/endpoints on a locked server.")
    allow_install: bool = option(False, "Let pipes install packages into their environment.")
    max_concurrency: int = option(0, "Calls at once (0: no limit).", kind="int")
    max_queue: int = option(64, "Calls waiting for --max-concurrency before 503.", kind="int")
    # state and cache
    state_dir: Path | None = option(
        None, "Folder for persistent state (SQLite, environments).", kind="path"
    )
    cache_max_bytes: int = option(256 * MiB, "Response cache bound in bytes.", kind="bytes")
    max_codes: int = option(1024, "Codes kept for code_sha256 calls.", kind="int")
    max_adaptors: int = option(256, "Compiled adaptors kept warm per place.", kind="int")
    # endpoints
    mount: list[str] = option([], "NAME=path/to/adaptor.py (repeatable).", kind="list")
    # environments
    env: list[str] = option([], "NAME=/path/to/python[:N] (repeatable).", kind="list")
    isolate: bool = option(False, "Accepted for compatibility (worker processes are the default).")
    no_install: bool = option(False, "Refuse calls that bring requirements.")
    worker_max_memory: int | None = option(None, "Bytes of address space per worker.", kind="bytes")
    worker_max_calls: int | None = option(None, "Recycle a worker after N calls.", kind="int")
    executor: str = option(
        "process",
        "Where environments run: worker processes, or Ray actors (thread: --in-process).",
        kind="str",
        choices=("process", "ray", "thread"),
    )
    ray_address: str | None = option(
        None, "Ray cluster: auto, HOST:PORT or ray://HOST:10001 [a local one].", kind="str"
    )
    lib: list[str] = option(
        [], "Folder of wrapper modules, in scope in adaptors by name (repeatable).", kind="list"
    )
    # browsers and connections (SPEC §9)
    allowed_host: list[str] = option(
        [], "Host name this server may be reached by besides loopback (repeatable).", kind="list"
    )
    max_header_bytes: int = option(32 * 1024, "Largest request head (431 past it).", kind="bytes")
    header_timeout: float = option(
        10.0, "Seconds to send a request's headers (408 past it).", kind="float"
    )
    keep_alive_timeout: float = option(
        5.0, "Seconds an idle keep-alive connection stays open.", kind="float"
    )
    allow_fn: list[str] = option(
        [], "Function besides run that a locked server may call (repeatable).", kind="list"
    )
    max_code_bytes: int = option(8 * MiB, "Largest adaptor source (413 past it).", kind="bytes")
    # logging
    quiet: bool = option(False, "No access log (one line per call otherwise).", short="-q")
    log_format: str = option(
        "text", "Log lines as text or JSON objects.", kind="str", choices=("text", "json")
    )
    build_timeout: float = option(
        1800.0, "Seconds a requirements environment may take to build.", kind="float"
    )
    envs_max_bytes: int = option(
        0, "Disk for built environments; least recently used removed (0: no bound).", kind="bytes"
    )
    # containment: where main runs, how runaway calls and idle workers go
    in_process: bool = option(
        False, "Run main on threads inside the server (fastest; a crash stops the server)."
    )
    worker_threads: int = option(16, "Calls at once per worker process or actor.", kind="int")
    drain_grace: float = option(
        10.0, "Seconds a worker with a runaway call may finish its others.", kind="float"
    )
    graceful_timeout: float = option(
        10.0, "Seconds running calls may finish on shutdown.", kind="float"
    )
    worker_idle_timeout: float = option(
        0.0, "Seconds before an idle worker retires (0: never).", kind="float"
    )

    def __post_init__(self) -> None:
        # A credential of a repeated flag is taken whole (a token may hold a comma); text
        # is a list written as an OWT_* variable is. Origins, hosts and names hold no comma.
        self.auth = _items(self.auth)
        self.token = _items(self.token, keep_empty=True)  # an empty one is refused, not dropped
        self.cors = _split_commas(self.cors)
        self.allowed_host = _split_commas(self.allowed_host)
        self.allow_fn = _split_commas(self.allow_fn)
        if self.state_dir is not None:
            self.state_dir = Path(self.state_dir).expanduser()

    @classmethod
    def from_options(cls, environ: Mapping[str, str] | None = None, **given: Any) -> Settings:
        """Settings from keyword options over ``OWT_*`` variables; ``None`` means not given.

        ``environ`` defaults to ``os.environ``; pass ``{}`` to ignore the environment.
        """
        environ = os.environ if environ is None else environ
        known = {o.name for o in options()}
        unknown = set(given) - known
        if unknown:
            raise SettingsError(f"unknown option(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for opt in options():
            value = given.get(opt.name)
            if isinstance(value, tuple):
                value = list(value)
            if value is None or value == [] or (opt.kind == "count" and value == 0):
                text = environ.get(opt.envvar)
                value = None if text is None or text == "" else opt.parse(text)
            if value is not None:
                values[opt.name] = value
        return cls(**values)

    @property
    def protected(self) -> bool:
        """True when calls need credentials."""
        return bool(self.auth or self.token)

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}"

    @property
    def workers(self) -> bool:
        """True when some environment runs in worker processes (or actors)."""
        return bool(not self.in_threads or self.env or self.executor == "ray")

    @property
    def in_threads(self) -> bool:
        """True when ``main`` runs on threads inside the server (``--in-process``; the older
        ``--executor thread`` means the same)."""
        return (self.in_process or self.executor == "thread") and self.executor != "ray"

    def check(self) -> None:
        """Refuse settings that cannot work or are unsafe; raises SettingsError."""
        self._check_values()
        self._check_parts()

    def _check_values(self) -> None:
        """Checks of the values alone."""
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"--port {self.port} is not a TCP port")
        for name in ("timeout", "header_timeout", "keep_alive_timeout", "build_timeout"):
            if not 0 < getattr(self, name) < math.inf:  # nan too
                raise SettingsError(f"--{name.replace('_', '-')} must be a positive number")
        for name in ("drain_grace", "graceful_timeout", "worker_idle_timeout"):
            if not 0 <= getattr(self, name) < math.inf:
                raise SettingsError(f"--{name.replace('_', '-')} must be a number >= 0")
        for token in self.token:
            if not (token.isascii() and token.isprintable()) or not token or " " in token:
                raise SettingsError(
                    f"--token {token!r}: a token is printable ASCII without spaces (it travels "
                    "in an HTTP header); an empty one would leave the server open"
                )
        if self.max_header_bytes < 1024:
            raise SettingsError("--max-header-bytes must be at least 1024")
        for fn in self.allow_fn:
            if not fn.isidentifier() or fn.startswith("_"):
                raise SettingsError(f"--allow-fn {fn!r}: a public Python name (no leading _)")
        if self.worker_threads < 1:
            raise SettingsError("--worker-threads must be at least 1")
        if self.executor not in EXECUTOR_NAMES:
            raise SettingsError(f"--executor {self.executor!r}: one of {', '.join(EXECUTOR_NAMES)}")
        if not is_loopback(self.address) and not self.protected and not self.insecure:
            raise SettingsError(
                f"refusing to listen on {self.address} without --auth or --token: anyone who "
                "can reach it could run code here (pass --insecure to do it anyway)"
            )
        for name in ("worker_max_memory", "worker_max_calls"):
            if getattr(self, name) is not None and not self.workers:
                flag = "--" + name.replace("_", "-")
                raise SettingsError(
                    f"{flag} limits worker processes, and none run here with --in-process: "
                    "drop --in-process (or add --env NAME=PYTHON) so calls run in workers"
                )
        for folder in self.lib:
            if not Path(folder).expanduser().is_dir():
                raise SettingsError(f"--lib {folder}: no such folder")

    def _check_parts(self) -> None:
        """Checks that ask the parts that will use the value (imported only when needed)."""
        with _as_settings_error():
            if self.auth:
                from owt.server.auth import parse_users

                parse_users(self.auth)
            if self.cors:
                from owt.server.browser import check_cors

                check_cors(self)
            if self.mount or self.allow:
                from owt.server.endpoints import check_settings

                check_settings(self)
            if self.state_dir is not None:
                from owt.server.statedb import check_state_file

                damage = check_state_file(self.state_dir)
                if damage is not None:
                    logging.getLogger("owt.server.statedb").warning(damage)
            if self.env:
                from owt.server.environments import parse_envs

                parse_envs(self.env)
            if self.executor == "ray":
                from owt.executors import load_executor

                load_executor(self.executor)  # a missing extra says how to install it


@contextlib.contextmanager
def _as_settings_error() -> Iterator[None]:
    """A part's ValueError (or missing extra) as the one-line SettingsError it means."""
    try:
        yield
    except SettingsError:
        raise
    except (ImportError, ValueError) as exc:
        raise SettingsError(str(exc))


EXECUTOR_NAMES = ("process", "ray", "thread")


@dataclass(frozen=True)
class Option:
    """One Settings field seen as an option: its flag, variable, kind and help."""

    name: str
    kind: str  # "bool", "int", "bytes", "float", "str", "path", "list", "count"
    default: Any
    help: str
    short: str | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def envvar(self) -> str:
        return ENV_PREFIX + self.name.upper()

    def parse(self, text: str) -> Any:
        """The value of this option written as text (an ``OWT_*`` variable)."""
        parsers: dict[str, Callable[[str], Any]] = {
            "bool": _parse_bool,
            "int": int,
            "bytes": parse_bytes,
            "count": int,
            "float": float,
            "str": str,
            "path": Path,
            "list": lambda t: _split_commas(t),
        }
        try:
            return parsers[self.kind](text.strip())
        except ValueError:
            kind = "size (bytes, or e.g. 300MB, 256MiB)" if self.kind == "bytes" else self.kind
            raise SettingsError(f"{self.envvar}={text!r} is not a valid {kind}")


_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(?:([kmgt])(i?))?(b?)", re.IGNORECASE)


def parse_bytes(text: str) -> int:
    """A size: bytes, or with a unit: ``300MiB`` or ``300M`` (2**20 each), ``300MB`` (10**6
    each), ``1.5G``; the case of the unit does not matter.

    >>> parse_bytes("300MB"), parse_bytes("16MiB"), parse_bytes("2g"), parse_bytes("1024")
    (300000000, 16777216, 2147483648, 1024)
    """
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a size (bytes, or e.g. 300MB, 256MiB, 2G)")
    number, prefix, binary, b = match.groups()
    if not prefix:
        return int(float(number))
    base = 1000 if b and not binary else 1024
    return int(float(number) * base ** (1 + "kmgt".index(prefix.lower())))


def options() -> list[Option]:
    """The options of ``owt serve``, one per Settings field, in declaration order."""
    return [_option_of(f) for f in fields(Settings)]


def _option_of(f: Field[Any]) -> Option:
    meta = f.metadata
    default = [] if f.default is MISSING else f.default
    kind = meta.get("kind") or "bool"
    return Option(
        f.name, kind, default, meta["help"], meta["short"], meta["choices"], meta["metavar"]
    )


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def _items(values: list[str] | str, *, keep_empty: bool = False) -> list[str]:
    """A list option's items: text split at commas (as in an ``OWT_*`` variable), a list's
    items whole (a repeated flag's values), each stripped."""
    if isinstance(values, str):
        return _split_commas(values)
    return [v.strip() for v in values if keep_empty or v.strip()]


def _split_commas(values: list[str] | str) -> list[str]:
    items = [values] if isinstance(values, str) else values
    return [part.strip() for item in items for part in item.split(",") if part.strip()]
