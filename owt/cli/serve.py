"""The ``owt`` command: ``owt serve`` (also ``owt --port 9876`` with no command).

Client commands (``call``, ``encode``, ``url``) are added from ``owt.cli.client``.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from owt.config import MiB, Option, Settings, SettingsError, options, parse_bytes

__all__ = ["cli", "main", "serve_command", "serve_main"]

#: Errors that lose what a command writes (its result, a generated file): said in one line.
_OUTPUT_LOST = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def _serve_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One click option per Settings field; values not given stay ``None``."""
    for opt in reversed(options()):
        fn = _click_option(opt)(fn)
    return fn


class _Size(click.ParamType):
    name = "size"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_bytes(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _click_option(opt: Option) -> Callable[..., Any]:
    default = opt.default
    if isinstance(default, int) and not isinstance(default, bool) and default >= MiB:
        default = f"{default} ({default // MiB} MiB)"
    shown = "" if opt.kind in ("bool", "count", "list") or default is None else f" [{default}]"
    help_text = f"{opt.help}{shown} (env {opt.envvar})"
    names = [opt.short, opt.flag] if opt.short else [opt.flag]
    kinds: dict[str, dict[str, Any]] = {
        "bool": {"is_flag": True, "default": None},
        "count": {"count": True},
        "int": {"type": int},
        "bytes": {"type": _Size()},
        "float": {"type": float},
        "str": {"type": click.Choice(opt.choices) if opt.choices else str},
        "path": {"type": click.Path(file_okay=False)},
        "list": {"multiple": True},
    }
    return click.option(*names, opt.name, help=help_text, metavar=opt.metavar, **kinds[opt.kind])


def _run_serve(**given: Any) -> None:
    from owt.server.serving import run_server

    try:
        settings = Settings.from_options(**given)
        settings.check()
    except SettingsError as exc:
        click.echo(f"owt: {exc}", err=True)
        sys.exit(2)
    try:
        run_server(settings)
    except SettingsError as exc:  # the port is taken, the address not this machine's...
        click.echo(f"owt: {exc}", err=True)
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="owt")
def cli() -> None:
    """owt — serve owt yer fancy on t'fly."""


@cli.command("serve")
@_serve_options
def serve_command(**given: Any) -> None:
    """Run the owt server. Every flag can also be set by its OWT_* variable."""
    _run_serve(**given)


@click.command("owt.server")
@_serve_options
def serve_main(**given: Any) -> None:
    """Run the owt server (python -m owt.server); flags as for owt serve."""
    _run_serve(**given)


def _add_client_commands() -> None:
    try:
        from owt.cli import client as cli_client
    except ImportError:
        return
    for command in cli_client.COMMANDS:
        cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """``owt``; with flags and no command it means ``owt serve``."""
    args = list(sys.argv[1:] if argv is None else argv)
    _add_client_commands()
    if not args or (args[0].startswith("-") and args[0] not in ("-h", "--help", "--version")):
        args.insert(0, "serve")
    try:
        try:
            cli.main(args=args, prog_name="owt")
        finally:
            sys.stdout.flush()
    except OSError as exc:
        if exc.errno not in _OUTPUT_LOST:
            raise
        # What is left in the buffer goes nowhere, rather than fail again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        hint = " (free some space there, or send the output elsewhere)" if full else ""
        click.echo(
            f"owt: could not write {exc.filename or 'the output'}: {exc.strerror}{hint}", err=True
        )
        sys.exit(1)
