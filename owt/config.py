"""Settings: every server option, built alike by the CLI and by ``owt.serve(**options)``."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["MiB", "Settings", "SettingsError"]

MiB = 1024 * 1024


class SettingsError(ValueError):
    """An option value that cannot work; its message is one line for the terminal."""


@dataclass
class Settings:
    """Every option of ``owt serve``; ``owt serve --port 1`` is ``Settings(port=1)``."""

    address: str = "127.0.0.1"
    port: int = 9876
    verbose: int = 0
    timeout: float = 60.0
    max_body_bytes: int = 16 * MiB
    insecure: bool = False
    threads: int = 64
    # security
    auth: list[str] = field(default_factory=list)
    token: list[str] = field(default_factory=list)
    cors: list[str] = field(default_factory=list)
    locked: bool = False
    allow: list[str] = field(default_factory=list)
    allow_register: bool = False
    allow_install: bool = False
    max_concurrency: int = 0
    max_queue: int = 64
    # state and cache
    state_dir: Path | None = None
    cache_max_bytes: int = 256 * MiB
    max_codes: int = 1024
    max_adaptors: int = 256
    # endpoints
    mount: list[str] = field(default_factory=list)
    # environments
    env: list[str] = field(default_factory=list)
    isolate: bool = False
    no_install: bool = False
    worker_max_memory: int | None = None
    worker_max_calls: int | None = None
    executor: str = "thread"
    ray_address: str | None = None

    def __post_init__(self) -> None:
        self.auth = _split_commas(self.auth)
        self.token = _split_commas(self.token)
        self.cors = _split_commas(self.cors)
        if self.state_dir is not None:
            self.state_dir = Path(self.state_dir).expanduser()

    @classmethod
    def from_options(cls, **options: Any) -> Settings:
        """Settings from keyword options, ignoring ``None`` (an option not given)."""
        known = {f.name for f in fields(cls)}
        unknown = set(options) - known
        if unknown:
            raise SettingsError(f"unknown option(s): {', '.join(sorted(unknown))}")
        given: dict[str, Any] = {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()
        }
        return cls(**{k: v for k, v in given.items() if v is not None})

    @property
    def protected(self) -> bool:
        """True when calls need credentials."""
        return bool(self.auth or self.token)

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}"

    def check(self) -> None:
        """Refuse settings that cannot work or are unsafe; raises SettingsError."""
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"--port {self.port} is not a TCP port")
        if self.timeout <= 0:
            raise SettingsError("--timeout must be positive")
        if not is_loopback(self.address) and not self.protected and not self.insecure:
            raise SettingsError(
                f"refusing to listen on {self.address} without --auth or --token: anyone who "
                "can reach it could run code here (pass --insecure to do it anyway)"
            )
        if self.auth:
            from owt.auth import parse_users  # server-side only: keeps this module light

            try:
                parse_users(self.auth)
            except ValueError as exc:
                raise SettingsError(str(exc))
        if self.mount or self.allow:
            from owt.endpoints import check_settings  # server-side only, like auth above

            try:
                check_settings(self)
            except ValueError as exc:
                raise SettingsError(str(exc))
        if self.env:
            from owt.environments import parse_envs  # raises SettingsError itself

            parse_envs(self.env)
        if self.executor != "thread":
            from owt.executors import load_executor

            try:
                load_executor(self.executor)  # a missing extra says how to install it
            except (ImportError, ValueError) as exc:
                raise SettingsError(str(exc))


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def _split_commas(values: list[str] | str) -> list[str]:
    items = [values] if isinstance(values, str) else values
    return [part.strip() for item in items for part in item.split(",") if part.strip()]
